"""The erasure audit in DynamoDB: an immutable header plus append-only events.

Nothing here ever updates or deletes an item (and the template grants no UpdateItem/DeleteItem on
the table): the header is claimed once with ``attribute_not_exists``; every outcome is a new event
item, also written with ``attribute_not_exists``. Step events use a deterministic sort key
(``<audit_id>#step#<name>``) so a step is recorded once however often it is re-run; node
evictions and failures use a time-ordered key (``<audit_id>#evt#<ts>#<nonce>``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from scaiecho.adapters.storage import storage_call
from scaiecho.adapters.tables import ErasureAuditRow, ErasureEventRow, utcnow
from scaiecho.errors import StorageError


def audit_id_for(tenant_id: str, speaker_id: str) -> str:
    """Deterministic: every erasure of one speaker (retries, races) lands on the same audit."""
    digest = hashlib.sha256(f"{tenant_id}#{speaker_id}".encode()).hexdigest()
    return f"era_{digest[:24]}"


@dataclass(frozen=True)
class AuditHeader:
    tenant_id: str
    audit_id: str
    speaker_id: str
    actor: str
    reason: str
    blob_prefix: str
    node_ids: list[str]
    requested_at: datetime


@dataclass(frozen=True)
class AuditEvent:
    key: str
    kind: str
    at: datetime
    actor: str | None = None
    node_id: str | None = None
    status: str | None = None
    error: str | None = None
    count: int | None = None
    bytes: int | None = None
    keys: list[str] = field(default_factory=list)


def _header(row: ErasureAuditRow) -> AuditHeader:
    return AuditHeader(
        tenant_id=row.tenant_id, audit_id=row.audit_id, speaker_id=row.speaker_id,
        actor=row.actor, reason=row.reason, blob_prefix=row.blob_prefix,
        node_ids=sorted(row.node_ids or []), requested_at=row.requested_at,
    )


def _event(row: ErasureEventRow) -> AuditEvent:
    return AuditEvent(
        key=row.audit_key.split("#", 1)[1], kind=row.kind, at=row.at, actor=row.actor,
        node_id=row.node_id, status=row.status, error=row.error,
        count=int(row.deleted_count) if row.deleted_count is not None else None,
        bytes=int(row.bytes) if row.bytes is not None else None, keys=[str(k) for k in row.keys or []],
    )


def _conditional_failure(exc: PutError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


class ErasureAuditStore:
    @storage_call("could not write the erasure audit")
    def claim(self, header: AuditHeader) -> tuple[AuditHeader, bool]:
        """Write the header once. Returns (the stored header, True when this call created it)."""
        row = ErasureAuditRow(
            header.tenant_id, header.audit_id, audit_id=header.audit_id,
            speaker_id=header.speaker_id, actor=header.actor, reason=header.reason,
            blob_prefix=header.blob_prefix, node_ids=set(header.node_ids) or None,
            requested_at=header.requested_at,
        )
        try:
            row.save(condition=ErasureAuditRow.audit_key.does_not_exist())
            return header, True
        except PutError as exc:
            if not _conditional_failure(exc):
                raise
        existing = self.get(header.tenant_id, header.audit_id)
        if existing is None:  # cannot happen: the condition failed because it exists
            raise StorageError("the erasure audit vanished")
        return existing, False

    @storage_call("could not read the erasure audit")
    def get(self, tenant_id: str, audit_id: str) -> AuditHeader | None:
        """Tenant-scoped: another tenant's audit is simply not found."""
        if not audit_id.startswith("era_") or "#" in audit_id:
            return None
        try:
            return _header(ErasureAuditRow.get(tenant_id, audit_id, consistent_read=True))
        except DoesNotExist:
            return None

    @storage_call("could not scan the erasure audits")
    def headers(self) -> Iterator[AuditHeader]:
        """Every tenant's erasure headers (the daily sweep: a paginated scan; only headers carry
        ``blob_prefix``, so the events are filtered out by DynamoDB)."""
        for row in ErasureAuditRow.scan(filter_condition=ErasureAuditRow.blob_prefix.exists()):
            yield _header(row)

    @storage_call("could not read the erasure audit events")
    def events(self, tenant_id: str, audit_id: str) -> list[AuditEvent]:
        rows = ErasureEventRow.query(
            tenant_id, range_key_condition=ErasureEventRow.audit_key.startswith(f"{audit_id}#"),
            consistent_read=True,
        )
        events = [_event(r) for r in rows]
        return sorted(events, key=lambda e: (e.at, e.key))

    def record_step(self, tenant_id: str, audit_id: str, step: str, **details: Any) -> bool:
        """Record a step's outcome once (a re-run of the step leaves the first record)."""
        return self._put(tenant_id, audit_id, f"step#{step}", kind=step, details=details)

    def append(self, tenant_id: str, audit_id: str, kind: str, **details: Any) -> None:
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        self._put(tenant_id, audit_id, f"evt#{stamp}#{secrets.token_hex(4)}", kind=kind,
                  details=details)

    @storage_call("could not append to the erasure audit")
    def _put(self, tenant_id: str, audit_id: str, suffix: str, *, kind: str,
             details: dict[str, Any]) -> bool:
        if "count" in details:  # "count" would shadow pynamodb's Model.count
            details["deleted_count"] = details.pop("count")
        row = ErasureEventRow(tenant_id, f"{audit_id}#{suffix}", audit_id=audit_id, kind=kind,
                              at=utcnow(), **details)
        try:
            row.save(condition=ErasureEventRow.audit_key.does_not_exist())
            return True
        except PutError as exc:
            if _conditional_failure(exc):
                return False
            raise
