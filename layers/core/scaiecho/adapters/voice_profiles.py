"""Voice profile storage (DynamoDB via pynamodb): one row per (tenant, user), domain objects out."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from scaiecho.adapters.storage import storage_call
from scaiecho.adapters.tables import VoiceProfileRow
from scaiecho.domain.voice_profiles import VoiceProfile


def _to_domain(row: VoiceProfileRow) -> VoiceProfile:
    return VoiceProfile(
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        profile_id=row.profile_id,
        provider=row.provider,
        consent_version=row.consent_version,
        created_at=row.created_at,
        sample_duration_s=float(row.sample_duration_s),
        dim=int(row.dim),
        model_id=row.model_id,
        model_version=row.model_version,
        sealed_embedding=bytes(row.sealed_embedding),
    )


class VoiceProfileStore:
    @storage_call("could not read the voice profile")
    def get(self, tenant_id: str, user_id: str) -> VoiceProfile | None:
        try:
            return _to_domain(VoiceProfileRow.get(tenant_id, user_id, consistent_read=True))
        except DoesNotExist:
            return None

    @storage_call("could not store the voice profile")
    def put(self, profile: VoiceProfile) -> None:
        """Create or replace in place: the key is (tenant, user), so a re-upload overwrites."""
        row = VoiceProfileRow(
            profile.tenant_id,
            profile.user_id,
            profile_id=profile.profile_id,
            provider=profile.provider,
            sealed_embedding=profile.sealed_embedding,
            dim=profile.dim,
            model_id=profile.model_id,
            model_version=profile.model_version,
            consent_version=profile.consent_version,
            sample_duration_s=profile.sample_duration_s,
            created_at=profile.created_at,
        )
        row.save()

    @storage_call("could not read the tenant's voice profiles")
    def others(self, tenant_id: str, user_id: str) -> list[VoiceProfile]:
        """Every other user's profile in the tenant (the duplicate-voice check)."""
        return [_to_domain(r) for r in VoiceProfileRow.query(tenant_id) if r.user_id != user_id]

    @storage_call("could not delete the voice profile")
    def delete(self, tenant_id: str, user_id: str) -> None:
        """Idempotent: deleting a missing row is not an error."""
        VoiceProfileRow(tenant_id, user_id).delete()
