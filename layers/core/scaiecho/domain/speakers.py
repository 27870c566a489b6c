"""Speakers, samples and consent (pure)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from scaiecho.domain.consent_checks import TextCheck, VoiceCheck
from scaiecho.errors import ValidationFailed

CONSENT_VERSION = "2026-01"  # bump when the consent wording changes; stamped on every record
ENROLLMENT_COMPLETE_SPEECH_S = 12.0

# A client's own speaker id (seeds: "alphabetic, numeric and underscore characters"), bounded so
# it fits a key and a URL path. One that looks like a generated speaker id is refused, so an id in
# ``speaker_ids`` (either kind) always means one speaker.
EXTERNAL_ID_MAX = 64
_EXTERNAL_ID = re.compile(rf"[A-Za-z0-9_]{{1,{EXTERNAL_ID_MAX}}}")
_GENERATED_SPEAKER_ID = re.compile(r"spk_[0-9a-f]{20}")


class EnrollmentStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    EVICTED = "evicted"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def is_speaker_id(value: str) -> bool:
    """Shaped like an id this platform generated (``spk_`` + 20 hex digits)."""
    return _GENERATED_SPEAKER_ID.fullmatch(value) is not None


def validate_external_id(value: str, field: str = "external_id") -> str:
    """422 ``invalid_external_id`` unless ``value`` is 1-64 letters, digits or underscores and
    not shaped like a generated speaker id."""
    if _EXTERNAL_ID.fullmatch(value) is None:
        raise ValidationFailed(
            f"{field} must be 1-{EXTERNAL_ID_MAX} letters, digits or underscores",
            code="invalid_external_id", details={"field": field, "max_length": EXTERNAL_ID_MAX},
        )
    if is_speaker_id(value):
        raise ValidationFailed(
            f"{field} must not look like a generated speaker id (spk_ + 20 hex digits)",
            code="invalid_external_id", details={"field": field},
        )
    return value


@dataclass(frozen=True)
class Sample:
    sample_id: str
    key: str
    sha256: str
    media_type: str
    duration_s: float
    speech_s: float
    grade: str
    bytes: int
    created_at: datetime


@dataclass(frozen=True)
class Speaker:
    tenant_id: str
    speaker_id: str
    external_id: str | None
    display_name: str | None
    language_primary: str | None
    description: str | None
    enrollment_status: EnrollmentStatus
    samples: list[Sample]
    total_speech_s: float
    enrollment_quality: str | None
    consent_id: str | None
    consent_version: str | None
    enrolled_on: list[str]
    note: str | None
    created_at: datetime
    updated_at: datetime
    tombstoned_at: datetime | None = None
    version: int | None = None
    allow_duplicate_voice: bool = False
    duplicate_voice_of: str | None = None

    def enrollment_complete(self, threshold_s: float = ENROLLMENT_COMPLETE_SPEECH_S) -> bool:
        return self.total_speech_s >= threshold_s

    def identifiable(self, min_speech_s: float) -> bool:
        """An identification candidate: ready, not erased, enough speech enrolled (the tenant's
        ``Settings.identification_min_speech_s``: 0 once it opts into incomplete enrollments)."""
        return (self.enrollment_status is EnrollmentStatus.READY and self.tombstoned_at is None
                and self.total_speech_s >= min_speech_s)

    @property
    def total_enroll_duration_s(self) -> float:
        """Every sample's length, speech or not (``total_speech_s`` counts speech only)."""
        return sum(s.duration_s for s in self.samples)


@dataclass(frozen=True)
class Consent:
    tenant_id: str
    consent_id: str
    speaker_id: str
    full_name: str
    stated_purpose: str
    consent_text: str
    consent_version: str
    audio_key: str
    audio_sha256: str
    captured_at: datetime
    actor: str
    voice_check: VoiceCheck | None = None  # None: recorded before consent checks existed
    text_check: TextCheck | None = None
    checked_on_node: str | None = None
    check_model_version: str | None = None

    def serialize(self) -> dict[str, Any]:
        """The evidence record (no audio key: the recording is reached by a presigned URL)."""
        not_checked = {"status": "not_checked", "reason": "recorded before consent checks existed"}
        return {
            "consent_id": self.consent_id,
            "speaker_id": self.speaker_id,
            "full_name": self.full_name,
            "stated_purpose": self.stated_purpose,
            "consent_text": self.consent_text,
            "consent_version": self.consent_version,
            "captured_at": self.captured_at.isoformat(),
            "actor": self.actor,
            "audio_sha256": self.audio_sha256,
            "voice_check": self.voice_check.serialize() if self.voice_check else not_checked,
            "text_check": self.text_check.serialize() if self.text_check else not_checked,
            "checked_on_node": self.checked_on_node,
            "check_model_version": self.check_model_version,
        }


@dataclass(frozen=True)
class WarmEntry:
    """One node's voiceprint of a speaker (the warm registry). ``sealed_embedding`` is
    KMS-sealed: only :class:`~scaiecho.adapters.voiceprints.VoiceprintCipher` opens it."""

    tenant_id: str
    speaker_id: str
    node_id: str
    sealed_embedding: bytes
    dim: int
    model_id: str | None
    model_version: str | None
    enrolled_at: datetime


@dataclass(frozen=True)
class SpeakerDraft:
    """Validated intake fields."""

    display_name: str
    language_primary: str
    description: str
    consent_full_name: str
    consent_purpose: str
    consent_text: str
    external_id: str | None = None
    allow_duplicate_voice: bool = False


_LIMITS = {
    "display_name": 200,
    "language_primary": 35,
    "description": 2000,
    "consent_user_full_name": 200,
    "consent_stated_purpose": 1000,
    "consent_text": 10000,
}


def validate_draft(
    *,
    display_name: str | None,
    language_primary: str | None,
    description: str | None,
    consent_user_full_name: str | None,
    consent_stated_purpose: str | None,
    consent_text: str | None,
    external_id: str | None,
    allow_duplicate_voice: str | None = None,
) -> SpeakerDraft:
    values = {
        "display_name": display_name,
        "language_primary": language_primary,
        "description": description,
        "consent_user_full_name": consent_user_full_name,
        "consent_stated_purpose": consent_stated_purpose,
        "consent_text": consent_text,
        "external_id": external_id,
    }
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    required = [k for k in _LIMITS if k != "description" and not cleaned.get(k)]
    if required:
        raise ValidationFailed(
            f"required field(s) missing or empty: {', '.join(required)}",
            code="missing_field",
            details={"fields": required},
        )
    too_long = [k for k, limit in _LIMITS.items() if cleaned.get(k) and len(str(cleaned[k])) > limit]
    if too_long:
        raise ValidationFailed(
            f"field(s) too long: {', '.join(too_long)}",
            code="field_too_long",
            details={k: _LIMITS[k] for k in too_long},
        )
    external = cleaned.get("external_id") or None
    if external is not None:
        validate_external_id(str(external))
    lang = str(cleaned["language_primary"])
    if not all(c.isalnum() or c == "-" for c in lang):
        raise ValidationFailed(
            "language_primary must be a BCP-47 tag such as 'en' or 'en-US'", code="invalid_language"
        )
    return SpeakerDraft(
        display_name=str(cleaned["display_name"]),
        language_primary=lang,
        description=str(cleaned.get("description") or ""),
        consent_full_name=str(cleaned["consent_user_full_name"]),
        consent_purpose=str(cleaned["consent_stated_purpose"]),
        consent_text=str(cleaned["consent_text"]),
        external_id=external,
        allow_duplicate_voice=parse_flag("allow_duplicate_voice", allow_duplicate_voice),
    )


def parse_flag(name: str, value: str | None) -> bool:
    """A multipart boolean: true/false (1/0, yes/no); absent or empty = false."""
    text = (value or "").strip().lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    raise ValidationFailed(f"{name} must be true or false", code="invalid_field",
                           details={"field": name})


def quality_grade(grades: list[str]) -> str | None:
    """The enrollment's quality: the best sample grade (more samples only help)."""
    order = ["poor", "average", "good", "high"]
    known = [g for g in grades if g in order]
    return max(known, key=order.index) if known else None
