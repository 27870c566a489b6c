"""Speakers: the public profile, what an enrollment answers, preflight, consent, warm sets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from scaiecho.api.schemas.common import ApiModel
from scaiecho.domain.consent_checks import TextCheck, VoiceCheck
from scaiecho.domain.preflight import PreflightReport, rounded_metrics
from scaiecho.domain.speakers import Consent, Sample, Speaker
from scaiecho.services.enrollment import EnrollmentResult, WarmView

CheckStatusName = Literal["passed", "failed", "skipped", "not_checked"]


class SamplePublic(ApiModel):
    sample_id: str
    duration_s: float
    speech_s: float
    grade: str
    created_at: str

    @classmethod
    def from_domain(cls, sample: Sample) -> SamplePublic:
        return cls(sample_id=sample.sample_id, duration_s=round(sample.duration_s, 2),
                   speech_s=round(sample.speech_s, 2), grade=sample.grade,
                   created_at=sample.created_at.isoformat())


class ConsentRef(ApiModel):
    consent_id: str | None
    consent_version: str | None


class SpeakerPublic(ApiModel):
    """A speaker as ``GET /speakers/{id}`` answers it."""

    id: str = Field(description="the same as speaker_id")
    speaker_id: str
    external_id: str | None
    display_name: str | None
    language_primary: str | None
    description: str | None
    enrollment_status: Literal["pending", "ready", "failed", "evicted"]
    enrolled_on: list[str] = Field(description="node ids holding this speaker's voiceprint")
    samples: list[SamplePublic]
    total_speech_s: float
    total_enroll_duration_s: float
    enrollment_quality: str | None
    enrollment_complete: bool
    consent: ConsentRef
    created_at: str
    updated_at: str
    note: str | None = Field(None, description="present when something needs attention")
    allow_duplicate_voice: bool | None = Field(None, description="present (true) when enrolled so")
    duplicate_voice_of: str | None = Field(None, description="present with allow_duplicate_voice")

    @classmethod
    def from_domain(cls, speaker: Speaker, threshold_s: float) -> SpeakerPublic:
        out = cls(
            id=speaker.speaker_id, speaker_id=speaker.speaker_id, external_id=speaker.external_id,
            display_name=speaker.display_name, language_primary=speaker.language_primary,
            description=speaker.description, enrollment_status=speaker.enrollment_status.value,
            enrolled_on=sorted(speaker.enrolled_on),
            samples=[SamplePublic.from_domain(s) for s in speaker.samples],
            total_speech_s=round(speaker.total_speech_s, 2),
            total_enroll_duration_s=round(speaker.total_enroll_duration_s, 2),
            enrollment_quality=speaker.enrollment_quality,
            enrollment_complete=speaker.enrollment_complete(threshold_s),
            consent=ConsentRef(consent_id=speaker.consent_id, consent_version=speaker.consent_version),
            created_at=speaker.created_at.isoformat(), updated_at=speaker.updated_at.isoformat(),
        )
        if speaker.note:
            out.note = speaker.note
        if speaker.allow_duplicate_voice:
            out.allow_duplicate_voice = True
            out.duplicate_voice_of = speaker.duplicate_voice_of
        return out


class PreflightMetrics(ApiModel):
    duration_s: float | None
    speech_s: float | None
    speech_ratio: float | None
    clipping_ratio: float | None
    loudness_dbfs: float | None
    snr_db: float | None
    sample_rate: int
    channels: int
    multiple_speakers_suspected: bool


class PreflightPublic(ApiModel):
    """The quality check: ``passed``, a grade, why not (``reasons``) and what to improve."""

    passed: bool
    grade: str
    reasons: list[str]
    warnings: list[str]
    metrics: PreflightMetrics

    @classmethod
    def from_domain(cls, report: PreflightReport) -> PreflightPublic:
        return cls(passed=report.passed, grade=report.grade, reasons=list(report.reasons),
                   warnings=list(report.warnings),
                   metrics=PreflightMetrics(**rounded_metrics(report.metrics)))


class VoiceCheckPublic(ApiModel):
    status: CheckStatusName
    score: float
    cosine: float
    threshold: float

    @classmethod
    def from_domain(cls, check: VoiceCheck) -> VoiceCheckPublic:
        return cls(status=check.status.value, score=round(check.score, 4),
                   cosine=round(check.cosine, 4), threshold=check.threshold)


class TextCheckPublic(ApiModel):
    status: CheckStatusName
    score: float | None
    heard: str | None = Field(None, description="what speech-to-text heard (consent record only)")
    threshold: float
    reason: str | None = Field(None, description="present when the check was skipped")

    @classmethod
    def from_domain(cls, check: TextCheck, *, with_heard: bool = True) -> TextCheckPublic:
        """``with_heard=False``: scores only (an enrollment's answer, which is replayed)."""
        out = cls(status=check.status.value,
                  score=None if check.coverage is None else round(check.coverage, 4),
                  threshold=check.threshold)
        if with_heard:
            out.heard = check.heard
        if check.reason:
            out.reason = check.reason
        return out


class NotChecked(ApiModel):
    status: Literal["not_checked"]
    reason: str


class ConsentChecks(ApiModel):
    voice: VoiceCheckPublic
    text: TextCheckPublic


class SpeakerEnrollment(SpeakerPublic):
    """What an enrollment, an added sample or a re-warm answers: the profile and the outcome."""

    preflight: PreflightPublic | None = Field(None, description="the reference's quality check")
    consent_checks: ConsentChecks | None = Field(None, description="new enrollments")
    sample: SamplePublic | None = Field(None, description="the sample added")
    enrollment_complete_threshold_s: float | None = None
    voice_check: VoiceCheckPublic | None = Field(None, description="the added sample vs the speaker")
    duplicate_sample: bool | None = Field(None, description="JSON enrollment: this audio was held")
    message: Literal["Complete", "Success"] | None = Field(None, description="JSON enrollment")
    warm_node_ids: list[str] | None = Field(None, description="POST /speakers/{id}/warm")
    candidate_node_ids: list[str] | None = None
    stale_node_ids: list[str] | None = None

    @classmethod
    def from_domain(cls, result: EnrollmentResult, threshold_s: float) -> SpeakerEnrollment:  # type: ignore[override]
        base = SpeakerPublic.from_domain(result.speaker, threshold_s)
        fields: dict[str, Any] = {name: getattr(base, name) for name in base.model_fields_set}
        if result.outcome is not None:  # the workflow's word over the stored row's
            fields["enrollment_status"] = result.outcome.status.value
            fields["enrolled_on"] = sorted(result.outcome.enrolled_on)
            fields.pop("note", None)
            if result.outcome.note:
                fields["note"] = result.outcome.note
        if result.preflight is not None:
            fields["preflight"] = PreflightPublic.from_domain(result.preflight)
        if result.consent_checks is not None:
            fields["consent_checks"] = ConsentChecks(
                voice=VoiceCheckPublic.from_domain(result.consent_checks.voice),
                text=TextCheckPublic.from_domain(result.consent_checks.text, with_heard=False))
        if result.sample is not None:
            fields["sample"] = SamplePublic.from_domain(result.sample)
        if result.completion_threshold_s is not None:
            fields["enrollment_complete_threshold_s"] = result.completion_threshold_s
        if result.voice_check is not None:
            fields["voice_check"] = VoiceCheckPublic.from_domain(result.voice_check)
        if result.duplicate_sample:
            fields["duplicate_sample"] = True
        if result.message is not None:
            fields["message"] = result.message
        if result.warm is not None:
            fields.update(WarmStatus.from_domain(result.warm).model_dump())
        return cls(**fields)


class WarmStatus(ApiModel):
    speaker_id: str
    enrollment_status: Literal["pending", "ready", "failed", "evicted"]
    warm_node_ids: list[str]
    candidate_node_ids: list[str] = Field(description="online nodes")
    stale_node_ids: list[str] = Field(description="holding a voiceprint of another model version")

    @classmethod
    def from_domain(cls, warm: WarmView) -> WarmStatus:
        return cls(speaker_id=warm.speaker_id, enrollment_status=warm.enrollment_status.value,
                   warm_node_ids=warm.warm_node_ids, candidate_node_ids=warm.candidate_node_ids,
                   stale_node_ids=warm.stale_node_ids)


class ConsentEvidence(ApiModel):
    """The immutable consent record, its check scores and a short-lived URL to the recording."""

    consent_id: str
    speaker_id: str
    full_name: str
    stated_purpose: str
    consent_text: str
    consent_version: str
    captured_at: str
    actor: str
    audio_sha256: str
    voice_check: VoiceCheckPublic | NotChecked
    text_check: TextCheckPublic | NotChecked
    checked_on_node: str | None
    check_model_version: str | None
    audio_url: str
    audio_url_expires_in_s: int

    @classmethod
    def from_domain(cls, consent: Consent, *, audio_url: str, expires_in_s: int) -> ConsentEvidence:
        not_checked = NotChecked(status="not_checked", reason="recorded before consent checks existed")
        return cls(
            consent_id=consent.consent_id, speaker_id=consent.speaker_id, full_name=consent.full_name,
            stated_purpose=consent.stated_purpose, consent_text=consent.consent_text,
            consent_version=consent.consent_version, captured_at=consent.captured_at.isoformat(),
            actor=consent.actor, audio_sha256=consent.audio_sha256,
            voice_check=VoiceCheckPublic.from_domain(consent.voice_check) if consent.voice_check
            else not_checked,
            text_check=TextCheckPublic.from_domain(consent.text_check) if consent.text_check
            else not_checked,
            checked_on_node=consent.checked_on_node, check_model_version=consent.check_model_version,
            audio_url=audio_url, audio_url_expires_in_s=expires_in_s,
        )



class SpeakerForm(ApiModel):
    """The text fields of a multipart enrollment (files: ``reference``, ``consent``)."""

    model_config = ConfigDict(extra="ignore")
    display_name: str | None = None
    language_primary: str | None = Field(None, description="BCP-47, e.g. en-US")
    description: str | None = None
    consent_user_full_name: str | None = None
    consent_stated_purpose: str | None = None
    consent_text: str | None = Field(None, description="what the consent recording says")
    external_id: str | None = Field(None, description="the client's own id: 1-64 of [A-Za-z0-9_]")
    allow_duplicate_voice: str | None = Field(None, description="true: enroll a voice already held")
