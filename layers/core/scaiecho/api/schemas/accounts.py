"""API keys, the caller's voice profile, health."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scaiecho.adapters.api_keys import StoredKey
from scaiecho.api.schemas.common import ApiModel, StoredModel
from scaiecho.domain.auth import Principal
from scaiecho.domain.voice_profiles import ProfileStatus, VoiceProfile
from scaiecho.services.health import HealthReport


class Caller(ApiModel):
    tenant_id: str
    key_id: str
    scopes: list[str]
    user_id: str | None

    @classmethod
    def from_domain(cls, principal: Principal) -> Caller:
        return cls(tenant_id=principal.tenant_id, key_id=principal.key_id,
                   scopes=sorted(s.value for s in principal.scopes), user_id=principal.user_id)


class KeyPublic(ApiModel):
    """A key's metadata (never its secret)."""

    key_id: str
    tenant_id: str
    scopes: list[str]
    user_id: str | None
    label: str | None
    created_at: str
    revoked_at: str | None

    @classmethod
    def from_domain(cls, key: StoredKey) -> KeyPublic:
        return cls(key_id=key.key_id, tenant_id=key.tenant_id,
                   scopes=sorted(s.value for s in key.scopes), user_id=key.user_id, label=key.label,
                   created_at=key.created_at.isoformat(),
                   revoked_at=key.revoked_at.isoformat() if key.revoked_at else None)


class VoiceProfilePublic(ApiModel):
    """The public fields of a profile, nothing that identifies the embedding or the nodes;
    ``MISSING`` carries ``status`` alone."""

    status: Literal["ACTIVE", "REQUIRES_RECONSENT", "MISSING"]
    provider: str | None = None
    consentVersion: str | None = None
    createdAt: str | None = None
    sampleDurationSeconds: float | None = None

    @classmethod
    def from_domain(cls, profile: VoiceProfile | None, consent_version_in_force: str) -> VoiceProfilePublic:
        if profile is None:
            return cls(status=ProfileStatus.MISSING.value)
        return cls(status=profile.status(consent_version_in_force).value, provider=profile.provider,
                   consentVersion=profile.consent_version, createdAt=profile.created_at.isoformat(),
                   sampleDurationSeconds=round(profile.sample_duration_s, 3))


class HealthPart(StoredModel):
    status: Literal["ok", "degraded", "error"]
    error: str | None = Field(None, description="detailed report: why the part is down")


class HealthPublic(ApiModel):
    """``ok`` when every part is; without a key each part says only ok/degraded."""

    status: Literal["ok", "degraded"]
    parts: dict[str, HealthPart]

    @classmethod
    def from_domain(cls, report: HealthReport, *, detailed: bool) -> HealthPublic:
        """``detailed``: each part's report as probed (errors, node ids, models); otherwise only
        whether each part is up."""
        status = "ok" if report.ok else "degraded"
        if detailed:
            return cls(status=status, parts={n: HealthPart(**p) for n, p in report.parts.items()})
        return cls(status=status, parts={n: HealthPart(status="ok" if p["status"] == "ok" else "degraded")
                                         for n, p in report.parts.items()})
