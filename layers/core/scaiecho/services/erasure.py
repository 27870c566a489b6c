"""Erasure (GDPR Art. 17): every trace of a speaker's voice deleted, provably and safely re-runnable.

One erasure per speaker: its audit id is derived from (tenant, speaker), and the audit header is
claimed with a conditional put, so repeats and races all land on the same audit. The steps below
are each idempotent and recorded as append-only audit events; any run (the first DELETE, a
repeated DELETE, the background retry workflow) re-applies whatever is not done yet:

1. tombstone the speaker (reads answer 404, enrollment can no longer write to it);
2. delete every S3 object version and delete marker under the speaker's prefix;
3. delete the consent records and release the external-id claim;
4. delete every warm-registry row (no workflow can name the speaker again);
5. evict the speaker from every node that has not confirmed yet;
6. scrub the tombstone of every personal/biometric attribute (last: step 3 needs external_id);
7. when all of that is recorded, append the final ``complete`` event.

Nodes that fail are retried by the erasure-retry workflow (statemachine/erasure_retry.asl.json).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from scaiecho.adapters.blobs import BlobStore, speaker_prefix
from scaiecho.adapters.erasure import AuditEvent, AuditHeader, ErasureAuditStore, audit_id_for
from scaiecho.adapters.nodes import NodeClient, NodeStore
from scaiecho.adapters.speakers import SpeakerStore, WarmRegistry
from scaiecho.adapters.tables import utcnow
from scaiecho.adapters.workflows import WorkflowRunner, execution_link
from scaiecho.domain import executions
from scaiecho.domain.auth import Principal
from scaiecho.errors import NodeError, NotFound, StorageError, UpstreamError
from scaiecho.observability import get_logger, record_outcome
from scaiecho.settings import get_settings

ACTOR_RETENTION = "retention"
REASON_REQUEST = "data_subject_request"
REASON_RETENTION = "retention_expired"

# Steps recorded once each (deterministic event keys), in the order they run.
STEPS = ("tombstoned", "blobs_deleted", "consents_deleted", "warm_deleted", "scrubbed")
COMPLETE = "complete"
NODE_EVICTION = "node_eviction"
STEP_FAILED = "step_failed"
RETRY_SCHEDULED = "retry_scheduled"
RETRIES_EXHAUSTED = "retries_exhausted"
RESOLVED_NODE = ("evicted", "deregistered")

_NODE_WORKERS = 8


@dataclass(frozen=True)
class NodeOutcome:
    node_id: str
    status: str  # evicted | deregistered | failed | pending
    error: str | None = None


@dataclass(frozen=True)
class ErasureReport:
    header: AuditHeader
    events: list[AuditEvent]
    repeated: bool | None = None  # a DELETE's answer: this erasure had run before

    @property
    def completed_at(self) -> datetime | None:
        return next((e.at for e in self.events if e.kind == COMPLETE), None)

    @property
    def blob_bytes_deleted(self) -> int:
        return sum(e.bytes or 0 for e in self.events if e.kind == "blobs_deleted")

    @property
    def blob_versions_deleted(self) -> int:
        return sum(e.count or 0 for e in self.events if e.kind == "blobs_deleted")

    @property
    def recorded(self) -> set[str]:
        return {e.kind for e in self.events if e.key.startswith("step#")}

    @property
    def nodes(self) -> list[NodeOutcome]:
        out = []
        for node_id in self.header.node_ids:
            tries = [e for e in self.events if e.kind == NODE_EVICTION and e.node_id == node_id]
            done = next((e for e in tries if e.status in RESOLVED_NODE), None)
            if done is not None:
                out.append(NodeOutcome(node_id, done.status or "evicted"))
            elif tries:
                out.append(NodeOutcome(node_id, "failed", tries[-1].error))
            else:
                out.append(NodeOutcome(node_id, "pending"))
        return out

    @property
    def all_done(self) -> bool:
        return set(STEPS) <= self.recorded and all(n.status in RESOLVED_NODE for n in self.nodes)

    @property
    def status(self) -> str:
        if COMPLETE in self.recorded:
            return "complete"
        # Exhausted until a later run schedules the retry workflow again (a repeated DELETE).
        latest = [e.kind for e in self.events if e.kind in (RETRIES_EXHAUSTED, RETRY_SCHEDULED)]
        return "retries_exhausted" if latest[-1:] == [RETRIES_EXHAUSTED] else "pending_retry"

    @property
    def error_summary(self) -> list[str]:
        if COMPLETE in self.recorded:
            return []
        errors = []
        for step in STEPS:
            failures = [e for e in self.events if e.kind == STEP_FAILED and e.status == step]
            if step not in self.recorded and failures:
                errors.append(f"{step}: {failures[-1].error}")
        errors += [f"node {n.node_id}: {n.error}" for n in self.nodes if n.status == "failed"]
        return errors


# ------------------------------------------------------------------------------ use cases
def erase_speaker(principal: Principal, speaker_id: str) -> ErasureReport:
    """DELETE /speakers/{id}: erase now; a repeat answers the same audit with ``repeated``."""
    return erase(principal.tenant_id, speaker_id, actor=f"key:{principal.key_id}",
                 reason=REASON_REQUEST)


def erase(tenant_id: str, speaker_id: str, *, actor: str, reason: str) -> ErasureReport:
    speaker = SpeakerStore().get(tenant_id, speaker_id)
    if speaker is None:
        raise NotFound(f"speaker {speaker_id!r} not found", code="speaker_not_found")
    audits = ErasureAuditStore()
    header, created = audits.claim(AuditHeader(
        tenant_id=tenant_id, audit_id=audit_id_for(tenant_id, speaker_id), speaker_id=speaker_id,
        actor=actor, reason=reason, blob_prefix=speaker_prefix(tenant_id, speaker_id),
        node_ids=[n.node_id for n in NodeStore().list()], requested_at=utcnow(),
    ))
    report = _apply(header, run=actor if created else f"{actor} (repeat)")
    if report.status != "complete":
        # At least once: a second workflow beside a running one only repeats idempotent passes.
        _schedule_retry(header)
        report = _report(header)
    get_logger().info("erasure run", extra={"audit_id": header.audit_id, "status": report.status,
                                            "repeated": not created})
    record_outcome("Erasure", report.status, (utcnow() - header.requested_at).total_seconds())
    return replace(report, repeated=not created)


def get_erasure(principal: Principal, audit_id: str) -> ErasureReport:
    header = ErasureAuditStore().get(principal.tenant_id, audit_id)
    if header is None:
        raise NotFound(f"erasure {audit_id!r} not found", code="erasure_not_found")
    return _report(header)


def retry_erasure(tenant_id: str, audit_id: str, *, attempt: int, max_attempts: int) -> dict[str, Any]:
    """One pass of the background retry: re-apply what is not done; give up after max_attempts."""
    audits = ErasureAuditStore()
    header = audits.get(tenant_id, audit_id)
    if header is None:
        return {"done": True, "status": "unknown_audit"}
    report = _apply(header, run=f"retry {attempt}")
    done = report.status != "pending_retry"
    if not done and attempt >= max_attempts:
        audits.append(tenant_id, audit_id, RETRIES_EXHAUSTED, actor=f"retry {attempt}",
                      error="; ".join(report.error_summary)[:1000] or None)
        report = _report(header)
        done = True
    return {"done": done, "status": report.status, "error_summary": report.error_summary}


def resume_unfinished() -> dict[str, Any]:
    """Daily: every erasure not yet complete (its retries ran out, or its workflow never started)
    gets one more pass now and, if still unfinished, a fresh retry workflow."""
    resumed: list[dict[str, str]] = []
    for header in ErasureAuditStore().headers():
        if _report(header).status == COMPLETE:
            continue
        report = _apply(header, run="sweep")
        if report.status != COMPLETE:
            _schedule_retry(header)
        resumed.append({"tenant_id": header.tenant_id, "audit_id": header.audit_id,
                        "status": report.status})
    get_logger().info("unfinished erasures resumed", extra={"count": len(resumed)})
    return {"resumed": resumed}


# ------------------------------------------------------------------------------ the steps
def _report(header: AuditHeader) -> ErasureReport:
    return ErasureReport(header, ErasureAuditStore().events(header.tenant_id, header.audit_id))


def _apply(header: AuditHeader, *, run: str) -> ErasureReport:
    tenant, speaker_id, audit_id = header.tenant_id, header.speaker_id, header.audit_id
    audits = ErasureAuditStore()
    speakers = SpeakerStore()

    # 1. Tombstone first: from here on the speaker is not found and cannot be enrolled further.
    #    Failing here fails the run (502); the claimed audit makes the next run resume.
    speakers.mark_erasing(tenant, speaker_id, audit_id)
    audits.record_step(tenant, audit_id, "tombstoned", actor=run)
    external_id = (speakers.get(tenant, speaker_id) or _NoSpeaker).external_id

    def blobs() -> None:
        deleted = BlobStore().delete_prefix(header.blob_prefix)
        details: dict[str, Any] = {"actor": run, "count": deleted.versions, "bytes": deleted.bytes,
                                   "keys": deleted.keys or None}
        if not audits.record_step(tenant, audit_id, "blobs_deleted", **details) and deleted.versions:
            audits.append(tenant, audit_id, "blobs_deleted", **details)  # written meanwhile

    def consents() -> None:
        count = speakers.delete_consents(tenant, speaker_id)
        if external_id:
            speakers.release_external_id(tenant, external_id, speaker_id)
        audits.record_step(tenant, audit_id, "consents_deleted", actor=run, count=count)

    def warm() -> None:
        count = WarmRegistry().delete_for_speaker(tenant, speaker_id)
        if not audits.record_step(tenant, audit_id, "warm_deleted", actor=run, count=count) and count:
            audits.append(tenant, audit_id, "warm_deleted", actor=run, count=count)

    data_ok = all(_step(audits, header, name, fn, run) for name, fn in
                  (("blobs_deleted", blobs), ("consents_deleted", consents), ("warm_deleted", warm)))
    _evict(audits, header, run)
    if data_ok:
        _step(audits, header, "scrubbed", lambda: _scrub(speakers, audits, header, run), run)

    report = _report(header)
    if report.all_done and COMPLETE not in report.recorded:
        audits.record_step(tenant, audit_id, COMPLETE, actor=run)
        report = _report(header)
    return report


class _NoSpeaker:
    external_id: str | None = None


def _scrub(speakers: SpeakerStore, audits: ErasureAuditStore, header: AuditHeader, run: str) -> None:
    speakers.scrub(header.tenant_id, header.speaker_id, header.audit_id)
    audits.record_step(header.tenant_id, header.audit_id, "scrubbed", actor=run)


def _step(audits: ErasureAuditStore, header: AuditHeader, name: str, fn: Any, run: str) -> bool:
    try:
        fn()
        return True
    except StorageError as exc:
        get_logger().warning("erasure step failed", extra={"audit_id": header.audit_id,
                                                           "step": name, "error": exc.message})
        audits.append(header.tenant_id, header.audit_id, STEP_FAILED, actor=run, status=name,
                      error=exc.message[:500])
        return False


def _evict(audits: ErasureAuditStore, header: AuditHeader, run: str) -> None:
    done = {n.node_id for n in _report(header).nodes if n.status in RESOLVED_NODE}
    todo = [node_id for node_id in header.node_ids if node_id not in done]
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=min(_NODE_WORKERS, len(todo))) as pool:
        outcomes = list(pool.map(lambda node_id: _evict_one(node_id, header.speaker_id), todo))
    for outcome in outcomes:
        audits.append(header.tenant_id, header.audit_id, NODE_EVICTION, actor=run,
                      node_id=outcome.node_id, status=outcome.status, error=outcome.error)


def _evict_one(node_id: str, speaker_id: str) -> NodeOutcome:
    try:
        node = NodeStore().get(node_id)
        if node is None:  # deregistered since the erasure began: nothing left to evict from
            return NodeOutcome(node_id, "deregistered")
        NodeClient().evict(node.endpoint_name, [speaker_id])
    except (NodeError, StorageError) as exc:
        return NodeOutcome(node_id, "failed", exc.message[:500])
    return NodeOutcome(node_id, "evicted")


def _schedule_retry(header: AuditHeader) -> None:
    settings = get_settings()
    arn = settings.erasure_retry_state_machine_arn
    if not arn:
        get_logger().warning("no erasure retry workflow configured; a repeated DELETE resumes",
                             extra={"audit_id": header.audit_id})
        return
    payload = {"tenant_id": header.tenant_id, "audit_id": header.audit_id, "attempt": 1,
               "wait_seconds": settings.erasure_retry_wait_s,
               "max_attempts": settings.erasure_retry_max_attempts}
    audits = ErasureAuditStore()
    try:
        execution = WorkflowRunner().start(arn, payload, name=executions.erasure(header.audit_id))
    except UpstreamError as exc:
        audits.append(header.tenant_id, header.audit_id, STEP_FAILED, status=RETRY_SCHEDULED,
                      error=exc.message[:500])
        return
    audits.append(header.tenant_id, header.audit_id, RETRY_SCHEDULED,
                  status=execution.rsplit(":", 1)[-1])
    get_logger().warning("erasure waits on a node; background retry scheduled", extra={
        "audit_id": header.audit_id, "execution_arn": execution, "console_url": execution_link(execution)})
