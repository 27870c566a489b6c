"""Step Functions tasks of the node probe: probe one node's health and record it in the node
registry; then settle the speakers' lifecycle (statemachine/node_probe.asl.json)."""

from __future__ import annotations

from typing import Any

from scaiecho.adapters.nodes import NodeClient, NodeStore
from scaiecho.errors import NodeError
from scaiecho.handlers.events import NodeProbeTask, parse_event
from scaiecho.services import lifecycle


def handle(event: dict[str, Any]) -> dict[str, Any]:
    task = parse_event(event, NodeProbeTask)
    node_id, endpoint = task.node_id, task.endpoint_name
    store = NodeStore()
    try:
        health = NodeClient().health(endpoint)
    except NodeError as exc:
        store.record_probe(node_id, online=False, health=None, error=exc.message)
        return {"node_id": node_id, "status": "offline", "error": exc.message}
    store.record_probe(node_id, online=True, health=health, error=None)
    return {"node_id": node_id, "status": "online", "model_id": health.model_id}


def settle(event: dict[str, Any]) -> dict[str, Any]:
    """The probe's last step: evict speakers no online node holds, enroll/re-warm the rest on the
    online nodes that lack them (reads the node registry the probes just wrote, not ``event``)."""
    del event  # the per-node results only say what the registry now holds
    return lifecycle.settle_speakers().serialize()
