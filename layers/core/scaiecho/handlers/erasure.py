"""Non-HTTP entry points of erasure: the retry workflow's task and the daily retention sweep."""

from __future__ import annotations

from typing import Any

from scaiecho.errors import ValidationFailed
from scaiecho.services import erasure, retention


def retry_evictions(event: dict[str, Any]) -> dict[str, Any]:
    """Task of statemachine/erasure_retry.asl.json: one pass, then the loop's next input."""
    tenant_id, audit_id = event.get("tenant_id"), event.get("audit_id")
    if not tenant_id or not audit_id:
        raise ValidationFailed("tenant_id and audit_id are required")
    attempt = int(event.get("attempt", 1))
    max_attempts = int(event.get("max_attempts", 1))
    result = erasure.retry_erasure(tenant_id, audit_id, attempt=attempt, max_attempts=max_attempts)
    return {
        "tenant_id": tenant_id,
        "audit_id": audit_id,
        "attempt": attempt + 1,
        "max_attempts": max_attempts,
        "wait_seconds": int(event.get("wait_seconds", 60)),
        **result,
    }


def retention_sweep(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge Scheduler (daily): erase expired speakers, then resume unfinished erasures
    (the event carries nothing either needs)."""
    return {**retention.sweep_expired(), "unfinished_erasures": erasure.resume_unfinished()}
