"""Step Functions tasks of the enrollment fan-out (statemachine/enroll.asl.json)."""

from __future__ import annotations

from typing import Any

from scaiecho.services import enrollment_tasks


def find_candidates(event: dict[str, Any]) -> dict[str, Any]:
    return enrollment_tasks.find_candidates(event.get("node_ids"))


def enroll_on_node(event: dict[str, Any]) -> dict[str, Any]:
    return enrollment_tasks.enroll_on_node(
        tenant_id=event["tenant_id"],
        speaker_id=event["speaker_id"],
        node=event["node"],
        bucket=event["bucket"],
        samples=event["samples"],
    )


def finalize(event: dict[str, Any]) -> dict[str, Any]:
    return enrollment_tasks.finalize(
        tenant_id=event["tenant_id"],
        speaker_id=event["speaker_id"],
        candidates=event.get("candidates") or [],
        unavailable=event.get("unavailable") or [],
        results=event.get("results") or [],
        execution_arn=event.get("execution_arn"),
        started_at=event.get("started_at"),
    )
