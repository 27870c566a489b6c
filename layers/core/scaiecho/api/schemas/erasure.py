"""Erasure reports (GDPR Art. 17) and their audit events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scaiecho.api.schemas.common import ApiModel


class NodeEviction(ApiModel):
    node_id: str
    status: Literal["evicted", "deregistered", "failed", "pending"]
    error: str | None = None


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
