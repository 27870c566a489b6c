"""The caller's own voice profile. Needs an API key bound to a user (403 ``user_key_required``);
no scope beyond that, since a user manages only their own profile. Behind the voice-profile
feature flag (404 ``feature_not_available`` when off for the tenant)."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Response, UploadFile

from scaiecho.api.deps import CurrentPrincipal
from scaiecho.api.schemas.accounts import VoiceProfilePublic
from scaiecho.api.schemas.common import AUTH_ERRORS, Envelope, error_responses
from scaiecho.api.uploads import read_upload
from scaiecho.domain.speakers import parse_flag
from scaiecho.services import voice_profiles
from scaiecho.settings import get_settings

router = APIRouter(prefix="/users/me/voice-profile", tags=["voice profiles"])


@router.post("", status_code=201, response_model_exclude_unset=True,
             responses=error_responses(*AUTH_ERRORS, 404, 409, 413, 415, 502, 503))
def put_voice_profile(principal: CurrentPrincipal, file: UploadFile | None = File(None),
                      allow_duplicate_voice: str | None = Form(None)) -> Envelope[VoiceProfilePublic]:
    """Create or replace (in place) the caller's profile from one WAV/MP3/M4A sample.

    The sample is used for this request only: never stored, never logged.
    """
    voice_profiles.require_user(principal)  # flag and user first: no upload is read otherwise
    # Read one byte past the voice limit so an oversized sample is a 413, never a silent cut.
    sample = read_upload("file", file, limit_bytes=get_settings().voice_sample_max_bytes)
    allowed = parse_flag("allow_duplicate_voice", allow_duplicate_voice)
    profile = voice_profiles.upsert_profile(principal, sample, allow_duplicate_voice=allowed)
    return Envelope(data=VoiceProfilePublic.from_domain(profile, get_settings().voice_consent_version))


@router.get("/status", response_model_exclude_unset=True, responses=error_responses(*AUTH_ERRORS, 404))
def voice_profile_status(principal: CurrentPrincipal) -> Envelope[VoiceProfilePublic]:
    """``ACTIVE``, ``REQUIRES_RECONSENT`` (consent version changed) or ``MISSING``."""
    profile = voice_profiles.current_profile(principal)
    return Envelope(data=VoiceProfilePublic.from_domain(profile, get_settings().voice_consent_version))


@router.delete("", status_code=204, responses=error_responses(*AUTH_ERRORS, 404))
def delete_voice_profile(principal: CurrentPrincipal) -> Response:
    """Remove the profile (idempotent); node caches are evicted on a best-effort basis."""
    voice_profiles.delete_profile(principal)
    return Response(status_code=204)
