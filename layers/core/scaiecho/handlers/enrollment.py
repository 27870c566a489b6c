"""Step Functions tasks of the enrollment fan-out (statemachine/enroll.asl.json)."""

from __future__ import annotations

from typing import Any

from scaiecho.handlers.events import EnrollOnNodeTask, FinalizeTask, FindCandidatesTask, parse_event
from scaiecho.services import enrollment_tasks


def find_candidates(event: dict[str, Any]) -> dict[str, Any]:
    return enrollment_tasks.find_candidates(parse_event(event, FindCandidatesTask).node_ids)


def enroll_on_node(event: dict[str, Any]) -> dict[str, Any]:
    task = parse_event(event, EnrollOnNodeTask)
    return enrollment_tasks.enroll_on_node(
        tenant_id=task.tenant_id, speaker_id=task.speaker_id, node=task.node, bucket=task.bucket,
        samples=task.samples,
    )


def finalize(event: dict[str, Any]) -> dict[str, Any]:
    task = parse_event(event, FinalizeTask)
    return enrollment_tasks.finalize(
        tenant_id=task.tenant_id, speaker_id=task.speaker_id, candidates=task.candidates,
        unavailable=task.unavailable, results=task.results, execution_arn=task.execution_arn,
        started_at=task.started_at,
    )
