"""Personal voice profiles (pure): status, sample rules, the public shape.

A profile is one user's own voiceprint within a tenant: ``(tenant_id, user_id)`` is unique and a
re-upload replaces it in place. The sample that produced it is never kept; only the sealed
embedding and these facts are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from scaiecho.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

PROVIDER = "pyannote"
# The accepted sample formats (a subset of what the decoder reads).
SAMPLE_FORMATS = ("wav", "mp3", "m4a")


class ProfileStatus(StrEnum):
    ACTIVE = "ACTIVE"
    # Stamped with a consent version other than the one in force: not matched until re-uploaded.
    REQUIRES_RECONSENT = "REQUIRES_RECONSENT"
    MISSING = "MISSING"


@dataclass(frozen=True)
class VoiceProfile:
    tenant_id: str
    user_id: str
    profile_id: str  # opaque id the nodes know the embedding by; new for every upload
    provider: str
    consent_version: str
    created_at: datetime
    sample_duration_s: float
    dim: int
    model_id: str | None
    model_version: str | None
    sealed_embedding: bytes = field(repr=False)  # KMS ciphertext, context = tenant + user

    def status(self, consent_version_in_force: str) -> ProfileStatus:
        if self.consent_version != consent_version_in_force:
            return ProfileStatus.REQUIRES_RECONSENT
        return ProfileStatus.ACTIVE


def subject_id(user_id: str) -> str:
    """The KMS encryption-context subject of a user's profile (distinct from any speaker id)."""
    return f"voice-profile#{user_id}"


def check_sample_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise PayloadTooLarge(
            f"the voice sample is larger than the limit of {max_bytes} bytes",
            code="voice_sample_too_large",
            details={"limit_bytes": max_bytes},
        )


def check_sample_format(fmt: str | None) -> str:
    """``fmt`` is the sniffed (or declared) container; only WAV, MP3 and M4A are accepted."""
    if fmt not in SAMPLE_FORMATS:
        raise UnsupportedMediaType(
            f"a voice sample must be one of: {', '.join(SAMPLE_FORMATS)}",
            details={"accepted": list(SAMPLE_FORMATS), "got": fmt},
        )
    return fmt


def check_sample_duration(duration_s: float, *, min_s: float, max_s: float) -> None:
    if duration_s < min_s:
        raise BadRequest(
            f"the voice sample is {duration_s:.1f} s long; at least {min_s:g} s is needed",
            code="voice_sample_too_short",
            details={"duration_s": round(duration_s, 3), "min_s": min_s},
        )
    if duration_s > max_s:
        raise BadRequest(
            f"the voice sample is {duration_s:.1f} s long; at most {max_s:g} s is accepted",
            code="voice_sample_too_long",
            details={"duration_s": round(duration_s, 3), "max_s": max_s},
        )
