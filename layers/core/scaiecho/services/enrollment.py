"""Speaker enrollment use cases: intake, extra samples, warm inspection and re-warm, reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from scaiecho.adapters.blobs import BlobStore
from scaiecho.adapters.nodes import NodeStore
from scaiecho.adapters.speakers import SpeakerStore, WarmRegistry, external_id_conflict
from scaiecho.adapters.tables import utcnow
from scaiecho.adapters.workflows import WorkflowRunner
from scaiecho.domain import executions
from scaiecho.domain.auth import Principal
from scaiecho.domain.consent_checks import CheckStatus, TextCheck, VoiceCheck
from scaiecho.domain.preflight import PreflightReport, assess, require_pass
from scaiecho.domain.speakers import (
    CONSENT_VERSION,
    Consent,
    EnrollmentStatus,
    Sample,
    Speaker,
    SpeakerDraft,
    new_id,
    quality_grade,
    validate_draft,
    validate_external_id,
)
from scaiecho.errors import (
    AudioError,
    Conflict,
    NotFound,
    ScaiEchoError,
    ServiceUnavailable,
    ValidationFailed,
)
from scaiecho.observability import get_logger
from scaiecho.services.consent_checks import (
    ConsentVerdict,
    check_sample_voice,
    find_duplicate,
    verify_consent,
)
from scaiecho.services.enrollment_tasks import record_voiceprint
from scaiecho.services.idempotency import run_idempotent
from scaiecho.services.intake_slots import bounded_intake
from scaiecho.services.uploads import CheckedAudio, Upload, check_audio
from scaiecho.settings import get_settings

STILL_RUNNING_NOTE = "enrollment is still running on the nodes; poll GET /speakers/{id}"


@dataclass(frozen=True)
class EnrollmentOutcome:
    status: EnrollmentStatus
    enrolled_on: list[str]
    note: str | None


@dataclass(frozen=True)
class WarmView:
    """Which nodes hold the speaker's voiceprint for the model they run now (warm), which hold
    one of another model version (stale), and which are online (candidates)."""

    speaker_id: str
    enrollment_status: EnrollmentStatus
    warm_node_ids: list[str]
    candidate_node_ids: list[str]
    stale_node_ids: list[str]


@dataclass(frozen=True)
class ConsentScores:
    """The consent checks of a new enrollment, scores only: what ASR heard stays in the consent
    record (GET /speakers/{id}/consent), so the idempotency table, which replays this answer,
    holds nothing the speaker said (``text.heard`` is always None here)."""

    voice: VoiceCheck
    text: TextCheck


@dataclass(frozen=True)
class EnrollmentResult:
    """What an enrollment, an added sample, a re-warm (or a JSON retry of held audio) answers:
    the speaker as stored and, when the workflow ran, its outcome (which overrides the stored
    status, node list and note)."""

    speaker: Speaker
    outcome: EnrollmentOutcome | None = None
    preflight: PreflightReport | None = None
    consent_checks: ConsentScores | None = None
    sample: Sample | None = None
    completion_threshold_s: float | None = None  # set with ``sample``
    voice_check: VoiceCheck | None = None
    warm: WarmView | None = None
    duplicate_sample: bool = False  # JSON enrollment: this audio was already held
    message: str | None = None  # JSON enrollment: "Complete" | "Success"


# ------------------------------------------------------------------------------ intake
def enroll_speaker(
    principal: Principal,
    fields: dict[str, str | None],
    reference: Upload,
    consent: Upload,
    *,
    idempotency_key: str | None = None,
) -> EnrollmentResult:
    """Validate, preflight, store (consent + blobs + rows, all or nothing), fan out, answer."""
    if idempotency_key is None:  # an empty header is a malformed key, not "no key"
        return _enroll(principal, fields, reference, consent)
    fingerprint = hashlib.sha256(
        json.dumps({"fields": fields, "reference": reference.sha256, "consent": consent.sha256},
                   sort_keys=True).encode()
    ).hexdigest()
    record = run_idempotent(
        scope=f"enroll:{principal.tenant_id}",
        key=idempotency_key,
        fingerprint=fingerprint,
        work=lambda: _replay_record(_enroll(principal, fields, reference, consent)),
    )
    return _replay(principal, record)


# What the idempotency table keeps of an enrollment: ids and the outcome, nothing personal (names,
# descriptions, what ASR heard), so a replay is rebuilt from the live speaker and an erasure leaves
# no trace there. Checks and preflight are kept as the answer rounds them: a replay answers the
# same bytes as the first request.
def _replay_record(result: EnrollmentResult) -> dict[str, Any]:
    record: dict[str, Any] = {"speaker_id": result.speaker.speaker_id}
    if result.outcome is not None:
        record["enrollment_status"] = result.outcome.status.value
        record["enrolled_on"] = sorted(result.outcome.enrolled_on)
        if result.outcome.note:
            record["note"] = result.outcome.note
    if result.preflight is not None:
        record["preflight"] = result.preflight.serialize()
    if result.consent_checks is not None:
        record["consent_checks"] = {"voice": result.consent_checks.voice.serialize(),
                                    "text": result.consent_checks.text.serialize()}
        record["consent_checks"]["text"].pop("heard", None)
    return record


def _replay(principal: Principal, record: dict[str, Any]) -> EnrollmentResult:
    speaker_id = str(record["speaker_id"])
    speaker = SpeakerStore().get(principal.tenant_id, speaker_id)
    if speaker is None or speaker.tombstoned_at is not None:
        raise NotFound(f"no speaker {speaker_id!r}: it was erased after this request",
                       code="speaker_not_found")
    outcome = EnrollmentOutcome(EnrollmentStatus(record["enrollment_status"]),
                                list(record.get("enrolled_on") or []), record.get("note"))
    checks = record.get("consent_checks")
    preflight = record.get("preflight")
    return EnrollmentResult(
        speaker=speaker, outcome=outcome,
        preflight=PreflightReport.from_record(preflight) if preflight is not None else None,
        consent_checks=ConsentScores(VoiceCheck.from_record(checks["voice"]),
                                     TextCheck.from_record(checks["text"])) if checks else None,
    )


@bounded_intake
def _enroll(
    principal: Principal, fields: dict[str, str | None], reference: Upload, consent: Upload
) -> EnrollmentResult:
    draft = validate_draft(**fields)
    ref = check_audio(reference)
    report = assess(ref.audio)
    require_pass(report)
    consent_audio = _check_consent_audio(consent)

    store = SpeakerStore()
    if draft.external_id:
        holder = store.external_id_holder(principal.tenant_id, draft.external_id)
        if holder is not None:
            raise external_id_conflict(draft.external_id, holder)
    # Before anything is stored: whose voice is the consent, what did it say, is it a new voice.
    verdict = _require_valid_consent(principal.tenant_id, draft, ref, consent_audio)
    duplicate_of = _duplicate_voice(principal.tenant_id, draft, verdict)

    speaker_id = new_id("spk")
    consent_id = new_id("cns")
    prefix = f"tenant/{principal.tenant_id}/speakers/{speaker_id}/"
    sample = _sample(prefix, ref, report)
    consent_key = f"{prefix}consent/{consent_id}.{consent_audio.extension}"
    now = utcnow()
    speaker = Speaker(
        tenant_id=principal.tenant_id, speaker_id=speaker_id, external_id=draft.external_id,
        display_name=draft.display_name, language_primary=draft.language_primary,
        description=draft.description, enrollment_status=EnrollmentStatus.PENDING,
        samples=[sample], total_speech_s=sample.speech_s, enrollment_quality=report.grade,
        consent_id=consent_id, consent_version=CONSENT_VERSION, enrolled_on=[], note=None,
        created_at=now, updated_at=now, allow_duplicate_voice=draft.allow_duplicate_voice,
        duplicate_voice_of=duplicate_of,
    )
    record = Consent(
        tenant_id=principal.tenant_id, consent_id=consent_id, speaker_id=speaker_id,
        full_name=draft.consent_full_name, stated_purpose=draft.consent_purpose,
        consent_text=draft.consent_text, consent_version=CONSENT_VERSION, audio_key=consent_key,
        audio_sha256=consent.sha256, captured_at=now, actor=principal.key_id,
        voice_check=verdict.voice, text_check=verdict.text, checked_on_node=verdict.node_id,
        check_model_version=verdict.model_version,
    )

    # If the blobs cannot be committed after the rows are, the rows are undone: a committed
    # consent record never points at a recording the lifecycle rule will expire.
    with BlobStore().staging(undo=lambda: store.delete_unconfirmed(speaker, consent_id)) as stage:
        stage(sample.key, reference.data, ref.stored_media_type, sample.sha256)
        stage(consent_key, consent.data, consent_audio.stored_media_type, record.audio_sha256)
        store.create(speaker, record)

    outcome = _run_enrollment(speaker, node_ids=_fan_out_after_consent(speaker, verdict))
    stored = store.get(principal.tenant_id, speaker_id) or speaker
    return EnrollmentResult(
        speaker=stored, outcome=_settled(outcome, speaker_id), preflight=report,
        consent_checks=ConsentScores(verdict.voice, replace(verdict.text, heard=None)),
    )


def _fan_out_after_consent(speaker: Speaker, verdict: ConsentVerdict) -> list[str] | None:
    """The consent check embedded the reference on ``verdict.node_id``: with one sample, that is
    the speaker's voiceprint there, and on every online node running the same model and version
    (the same weights give the same embedding), so it is recorded on those now. The fan-out
    embeds only on online nodes with another model (none: [], it just settles the status; None:
    all nodes, as before, when the speaker was erased meanwhile)."""
    others = [n for n in NodeStore().list() if n.status == "online" and n.node_id != verdict.node_id]
    same_model = [verdict.node_id] + [
        n.node_id for n in others if verdict.model_version
        and (n.model_id, n.model_version) == (verdict.model_id, verdict.model_version)]
    for node_id in same_model:
        if not record_voiceprint(
            tenant_id=speaker.tenant_id, speaker_id=speaker.speaker_id, node_id=node_id,
            vector=verdict.reference, model_id=verdict.model_id, model_version=verdict.model_version,
            sample_ids=[s.sample_id for s in speaker.samples],
        ):
            return None
    return [n.node_id for n in others if n.node_id not in same_model]


def _require_valid_consent(
    tenant_id: str, draft: SpeakerDraft, ref: CheckedAudio, consent: CheckedAudio
) -> ConsentVerdict:
    """422 ``consent_voice_mismatch`` / ``consent_text_mismatch`` (nothing stored) unless the
    consent recording is the reference's voice saying enough of ``consent_text``."""
    policy = get_settings().consent_policy_for(tenant_id)
    verdict = verify_consent(
        tenant_id=tenant_id, policy=policy, reference=ref, consent=consent,
        consent_text=draft.consent_text, full_name=draft.consent_full_name,
        language=draft.language_primary,
    )
    if verdict.voice.status is CheckStatus.FAILED:
        raise ValidationFailed(
            "the consent recording is not the voice of the reference recording",
            code="consent_voice_mismatch", details={"voice_check": verdict.voice.serialize()},
        )
    if verdict.text.status is CheckStatus.FAILED:
        raise ValidationFailed(
            f"the consent recording does not say enough of consent_text "
            f"({verdict.text.coverage or 0:.0%} of its words heard, "
            f"{verdict.text.threshold:.0%} needed)",
            code="consent_text_mismatch",
            details={"heard": verdict.text.heard, "text_check": verdict.text.serialize()},
        )
    return verdict


def _duplicate_voice(tenant_id: str, draft: SpeakerDraft, verdict: ConsentVerdict) -> str | None:
    """409 ``voice_already_enrolled`` when the voice is a ready speaker's of this tenant, unless
    the request allows it; returns that speaker's id (recorded on the new speaker) or None."""
    match = find_duplicate(tenant_id, verdict, get_settings().consent_policy_for(tenant_id))
    if match is None:
        return None
    if not draft.allow_duplicate_voice:
        raise Conflict(
            f"this voice is already enrolled as speaker {match.speaker_id}; send "
            "allow_duplicate_voice=true to enroll it again",
            code="voice_already_enrolled",
            details={"speaker_id": match.speaker_id, "match_score": round(match.score, 4)},
        )
    return match.speaker_id


def _check_consent_audio(consent: Upload) -> CheckedAudio:
    checked = check_audio(consent)
    consent_report = assess(checked.audio)
    if consent_report.metrics.get("speech_s", 0.0) < 0.5:
        raise AudioError(
            "the consent recording contains no speech",
            code="consent_audio_no_speech",
            details={"field": "consent", "preflight": consent_report.serialize()},
        )
    return checked


def _sample(prefix: str, checked: CheckedAudio, report: PreflightReport) -> Sample:
    sample_id = new_id("smp")
    return Sample(
        sample_id=sample_id,
        key=f"{prefix}reference/{sample_id}.{checked.extension}",
        sha256=checked.upload.sha256,
        media_type=checked.stored_media_type,
        duration_s=checked.audio.duration_s,
        speech_s=float(report.metrics.get("speech_s", 0.0)),
        grade=report.grade,
        bytes=len(checked.upload.data),
        created_at=utcnow(),
    )


# ------------------------------------------------------------------------------ samples
@bounded_intake
def add_sample(principal: Principal, speaker_id: str, reference: Upload) -> EnrollmentResult:
    store = SpeakerStore()
    speaker = _get_live(principal, speaker_id)
    ref = check_audio(reference)
    report = assess(ref.audio)
    require_pass(report)
    settings = get_settings()
    voice = check_sample_voice(speaker, ref, settings.consent_policy_for(principal.tenant_id),
                               settings.audio_bucket)
    if voice.status is CheckStatus.FAILED:
        raise ValidationFailed("the sample is not this speaker's voice", code="sample_voice_mismatch",
                               details={"voice_check": voice.serialize()})
    sample = _sample(f"tenant/{principal.tenant_id}/speakers/{speaker_id}/", ref, report)
    with BlobStore().staging(undo=lambda: store.remove_sample(speaker, sample)) as stage:
        stage(sample.key, reference.data, ref.stored_media_type, sample.sha256)
        quality = quality_grade([s.grade for s in speaker.samples] + [sample.grade])
        updated = store.add_sample(speaker, sample, quality)
    outcome = _run_enrollment(updated, node_ids=None)
    updated = store.get(principal.tenant_id, speaker_id) or updated
    return EnrollmentResult(
        speaker=updated, outcome=_settled(outcome, speaker_id), preflight=report, sample=sample,
        completion_threshold_s=get_settings().enrollment_complete_speech_s, voice_check=voice,
    )


# ------------------------------------------------------------------------------ reads
def list_speakers(
    principal: Principal, *, limit: int, cursor: str | None, external_id: str | None = None
) -> tuple[list[Speaker], str | None]:
    """A page of the tenant's speakers and the next page's cursor; with ``external_id``, the one
    holding it (or none)."""
    if external_id is not None:
        speaker = find_by_external_id(principal, validate_external_id(external_id))
        return ([speaker] if speaker else []), None
    return SpeakerStore().page(principal.tenant_id, limit=limit, cursor=cursor)


def find_by_external_id(principal: Principal, external_id: str) -> Speaker | None:
    speaker = SpeakerStore().by_external_id(principal.tenant_id, external_id)
    return speaker if speaker is not None and speaker.tombstoned_at is None else None


def speaker_id_for_external_id(principal: Principal, external_id: str) -> str:
    """The id of the tenant's live speaker holding ``external_id`` (404 ``speaker_not_found``)."""
    speaker = find_by_external_id(principal, validate_external_id(external_id))
    if speaker is None:
        raise NotFound(f"no speaker with external_id {external_id!r}", code="speaker_not_found",
                       details={"external_id": external_id})
    return speaker.speaker_id


def get_live_speaker(principal: Principal, speaker_id: str) -> Speaker:
    """The tenant's speaker, unless erased (404 ``speaker_not_found``)."""
    return _get_live(principal, speaker_id)


def _get_live(principal: Principal, speaker_id: str) -> Speaker:
    speaker = SpeakerStore().get(principal.tenant_id, speaker_id)
    if speaker is None or speaker.tombstoned_at is not None:
        raise NotFound(f"no speaker {speaker_id!r}", code="speaker_not_found")
    return speaker


# ------------------------------------------------------------------------------ warm
def warm_status(principal: Principal, speaker_id: str) -> WarmView:
    speaker = _get_live(principal, speaker_id)
    nodes = {n.node_id: n for n in NodeStore().list()}
    rows = WarmRegistry().for_speaker(principal.tenant_id, speaker_id)
    warm: list[str] = []
    stale: list[str] = []
    for row in rows:
        node = nodes.get(row.node_id)
        current = node is not None and node.status == "online" and (
            not node.model_version or not row.model_version or node.model_version == row.model_version
        )
        (warm if current else stale).append(row.node_id)
    candidates = sorted(n.node_id for n in nodes.values() if n.status == "online")
    return WarmView(speaker_id=speaker.speaker_id, enrollment_status=speaker.enrollment_status,
                    warm_node_ids=sorted(warm), candidate_node_ids=candidates,
                    stale_node_ids=sorted(stale))


def rewarm(principal: Principal, speaker_id: str, node_ids: list[str]) -> EnrollmentResult:
    speaker = _get_live(principal, speaker_id)
    if node_ids:
        known = {n.node_id for n in NodeStore().list()}
        unknown = sorted(set(node_ids) - known)
        if unknown:
            raise ValidationFailed(
                f"unknown node id(s): {', '.join(unknown)}", code="unknown_node",
                details={"unknown": unknown, "known": sorted(known)},
            )
    outcome = _run_enrollment(speaker, node_ids=node_ids or None)
    updated = SpeakerStore().get(principal.tenant_id, speaker_id) or speaker
    return EnrollmentResult(speaker=updated, outcome=_settled(outcome, speaker_id),
                            warm=warm_status(principal, speaker_id))


# ------------------------------------------------------------------------------ fan-out
def _run_enrollment(speaker: Speaker, node_ids: list[str] | None) -> EnrollmentOutcome:
    settings = get_settings()
    if not settings.enroll_state_machine_arn:
        raise ServiceUnavailable("the enrollment workflow is not configured", code="workflow_missing")
    try:
        run = WorkflowRunner().run(settings.enroll_state_machine_arn, _payload(speaker, node_ids),
                                   name=executions.enrollment(speaker.speaker_id))
    except ScaiEchoError as exc:
        get_logger().warning(
            "enrollment workflow failed to start", extra={"code": exc.code, "error": exc.message[:300]}
        )
        return EnrollmentOutcome(EnrollmentStatus.PENDING, list(speaker.enrolled_on),
                                 "the enrollment workflow could not start; retry POST /speakers/{id}/warm")
    if run.status == "SUCCEEDED" and run.output:
        return EnrollmentOutcome(
            EnrollmentStatus(run.output["status"]), list(run.output.get("enrolled_on", [])),
            run.output.get("note"),
        )
    if run.status == "RUNNING":
        return EnrollmentOutcome(speaker.enrollment_status, list(speaker.enrolled_on), STILL_RUNNING_NOTE)
    get_logger().warning("enrollment workflow failed", extra={
        "status": run.status, "speaker_id": speaker.speaker_id, "execution_arn": run.execution_arn,
        "console_url": run.console_url})
    return EnrollmentOutcome(speaker.enrollment_status, list(speaker.enrolled_on),
                             f"the enrollment workflow ended {run.status}; retry POST /speakers/{{id}}/warm")


def start_enrollment(speaker: Speaker, node_ids: list[str] | None) -> str:
    """Start the enrollment workflow without waiting for it (the node probe's lifecycle pass):
    its finalize step settles the speaker's status. Returns the execution ARN."""
    settings = get_settings()
    if not settings.enroll_state_machine_arn:
        raise ServiceUnavailable("the enrollment workflow is not configured", code="workflow_missing")
    return WorkflowRunner().start(settings.enroll_state_machine_arn, _payload(speaker, node_ids),
                                  name=executions.enrollment(speaker.speaker_id))


def _payload(speaker: Speaker, node_ids: list[str] | None) -> dict[str, Any]:
    return {
        "tenant_id": speaker.tenant_id,
        "speaker_id": speaker.speaker_id,
        "bucket": get_settings().audio_bucket,
        "node_ids": node_ids,
        "samples": [
            {"sample_id": s.sample_id, "key": s.key, "speech_s": s.speech_s} for s in speaker.samples
        ],
    }


def _settled(outcome: EnrollmentOutcome, speaker_id: str) -> EnrollmentOutcome:
    """The outcome as answered: its note names the speaker."""
    note = outcome.note.replace("{id}", speaker_id) if outcome.note else None
    return replace(outcome, note=note or None)
