"""Speaker lifecycle after each node probe (statemachine/node_probe.asl.json, last step).

* A ``ready`` speaker every node of which is gone (offline or deregistered) becomes ``evicted``.
* Every online node gets the speakers it lacks (no voiceprint from it since it last came online,
  or one of another model): ``pending`` ones (no node was online at intake) are enrolled,
  ``ready`` ones re-warmed, ``evicted`` ones enrolled again (then ``ready``). The enrollment
  workflow does the work and settles the status; this pass only starts it.

Evictions come first: a re-warm started here and finished before the eviction would otherwise be
overwritten. ``failed`` speakers are left alone (retrying a sample no node could embed every five
minutes helps nobody; ``POST /speakers/{id}/warm`` retries on demand). One scan of the speakers
per probe run: fine at the scale of one deployment's enrolled speakers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scaiecho.adapters.nodes import Node, NodeStore
from scaiecho.adapters.speakers import SpeakerStore, WarmRegistry
from scaiecho.domain.speakers import EnrollmentStatus, Speaker, WarmEntry
from scaiecho.errors import ScaiEchoError
from scaiecho.observability import get_logger
from scaiecho.services.enrollment import start_enrollment
from scaiecho.services.enrollment_tasks import EVICTED_NOTE, holding_nodes

_ENROLLED_BY_PROBE = (EnrollmentStatus.PENDING, EnrollmentStatus.READY, EnrollmentStatus.EVICTED)


@dataclass
class SettleReport:
    evicted: int = 0
    enrollments_started: int = 0
    errors: list[str] = field(default_factory=list)

    def serialize(self) -> dict[str, Any]:
        return {"evicted": self.evicted, "enrollments_started": self.enrollments_started,
                "errors": self.errors[:20]}


def settle_speakers() -> SettleReport:
    nodes = NodeStore().list()
    online = {n.node_id: n for n in nodes if n.status == "online"}
    holding = holding_nodes(nodes)  # what finalize counts too: not known to be gone
    store, registry = SpeakerStore(), WarmRegistry()
    report = SettleReport()
    for speaker in store.scan_live():
        rows = registry.for_speaker(speaker.tenant_id, speaker.speaker_id)
        status = speaker.enrollment_status
        held = any(r.node_id in holding for r in rows)
        if (status is EnrollmentStatus.READY and not held
                and store.mark_evicted(speaker.tenant_id, speaker.speaker_id, note=EVICTED_NOTE)):
            report.evicted += 1
            status = EnrollmentStatus.EVICTED
        if status not in _ENROLLED_BY_PROBE:
            continue
        missing = _lacking(online, {r.node_id: r for r in rows})
        if missing:
            _start(speaker, missing, report)
    get_logger().info("speaker lifecycle settled", extra={
        "online_nodes": sorted(online), **report.serialize()})
    return report


def _lacking(online: dict[str, Node], held: dict[str, WarmEntry]) -> list[str]:
    """Online nodes without a current voiceprint of the speaker: none, one from before the node
    last came online (it restarted), or one of another model version."""
    return [node_id for node_id, node in sorted(online.items())
            if node_id not in held or not _current(held[node_id], node)]


def _current(row: WarmEntry, node: Node) -> bool:
    if node.online_since is not None and row.enrolled_at < node.online_since:
        return False
    return not (node.model_version and row.model_version and node.model_version != row.model_version)


def _start(speaker: Speaker, node_ids: list[str], report: SettleReport) -> None:
    try:
        start_enrollment(speaker, node_ids)
        report.enrollments_started += 1
    except ScaiEchoError as exc:  # one speaker's failure does not stop the others
        report.errors.append(f"{speaker.speaker_id}: {exc.code}")
