"""Erasure reports (GDPR Art. 17) and their audit events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scaiecho.adapters.erasure import AuditEvent
from scaiecho.api.schemas.common import ApiModel
from scaiecho.services.erasure import ErasureReport, NodeOutcome


class NodeEviction(ApiModel):
    node_id: str
    status: Literal["evicted", "deregistered", "failed", "pending"]
    error: str | None = None

    @classmethod
    def from_domain(cls, node: NodeOutcome) -> NodeEviction:
        out = cls(node_id=node.node_id, status=node.status)
        if node.error:
            out.error = node.error
        return out


class AuditEventPublic(ApiModel):
    kind: str
    at: str
    actor: str | None = None
    node_id: str | None = None
    status: str | None = None
    error: str | None = None
    count: int | None = None
    bytes: int | None = None
    keys: list[str] | None = None

    @classmethod
    def from_domain(cls, event: AuditEvent) -> AuditEventPublic:
        out = cls(kind=event.kind, at=event.at.isoformat())
        for name in ("actor", "node_id", "status", "error", "count", "bytes"):
            value = getattr(event, name)
            if value is not None:
                setattr(out, name, value)
        if event.keys:
            out.keys = list(event.keys)
        return out


class ErasureReportPublic(ApiModel):
    audit_id: str
    speaker_id: str
    actor: str
    reason: str
    requested_at: str
    completed_at: str | None
    blob_bytes_deleted: int
    blob_versions_deleted: int
    nodes: list[NodeEviction]
    error_summary: list[str]
    status: Literal["complete", "pending_retry", "retries_exhausted"]
    repeated: bool | None = Field(None, description="DELETE: true when this erasure had run before")
    events: list[AuditEventPublic] | None = Field(None, description="GET /erasures/{id}")

    @classmethod
    def from_domain(cls, report: ErasureReport, *, with_events: bool = False) -> ErasureReportPublic:
        """``with_events``: the audit's events (GET /erasures/{id}); a DELETE's report carries
        ``repeated`` instead."""
        completed = report.completed_at
        out = cls(
            audit_id=report.header.audit_id, speaker_id=report.header.speaker_id,
            actor=report.header.actor, reason=report.header.reason,
            requested_at=report.header.requested_at.isoformat(),
            completed_at=completed.isoformat() if completed else None,
            blob_bytes_deleted=report.blob_bytes_deleted,
            blob_versions_deleted=report.blob_versions_deleted,
            nodes=[NodeEviction.from_domain(n) for n in report.nodes],
            error_summary=report.error_summary, status=report.status,
        )
        if report.repeated is not None:
            out.repeated = report.repeated
        if with_events:
            out.events = [AuditEventPublic.from_domain(e) for e in report.events]
        return out
