"""Step Functions task: probe one node's health and record it in the node registry."""

from __future__ import annotations

from typing import Any

from scaiecho.adapters.nodes import NodeClient, NodeStore
from scaiecho.errors import NodeError, ValidationFailed


def handle(event: dict[str, Any]) -> dict[str, Any]:
    node_id = event.get("node_id")
    endpoint = event.get("endpoint_name")
    if not node_id or not endpoint:
        raise ValidationFailed("node_id and endpoint_name are required")
    store = NodeStore()
    try:
        health = NodeClient().health(endpoint)
    except NodeError as exc:
        store.record_probe(node_id, online=False, health=None, error=exc.message)
        return {"node_id": node_id, "status": "offline", "error": exc.message}
    store.record_probe(node_id, online=True, health=health, error=None)
    return {"node_id": node_id, "status": "online", "model_id": health.get("model_id")}
