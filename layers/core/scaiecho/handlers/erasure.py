"""Non-HTTP entry points of erasure: the retry workflow's task and the daily retention sweep."""

from __future__ import annotations

from typing import Any

from scaiecho.handlers.events import ErasureRetryTask, parse_event
from scaiecho.services import erasure, retention


def retry_evictions(event: dict[str, Any]) -> dict[str, Any]:
    """Task of statemachine/erasure_retry.asl.json: one pass, then the loop's next input."""
    task = parse_event(event, ErasureRetryTask)
    result = erasure.retry_erasure(task.tenant_id, task.audit_id, attempt=task.attempt,
                                   max_attempts=task.max_attempts)
    return {
        "tenant_id": task.tenant_id,
        "audit_id": task.audit_id,
        "attempt": task.attempt + 1,
        "max_attempts": task.max_attempts,
        "wait_seconds": task.wait_seconds,
        **result,
    }


def retention_sweep(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge Scheduler (daily): erase expired speakers, then resume unfinished erasures
    (the event carries nothing either needs)."""
    return {**retention.sweep_expired(), "unfinished_erasures": erasure.resume_unfinished()}
