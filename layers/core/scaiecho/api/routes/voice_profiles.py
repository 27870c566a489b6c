"""The caller's own voice profile. Needs an API key bound to a user (403 ``user_key_required``);
no scope beyond that, since a user manages only their own profile. Behind the voice-profile
feature flag (404 ``feature_not_available`` when off for the tenant)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from scaiecho.api.deps import CurrentPrincipal
from scaiecho.api.uploads import read_upload
from scaiecho.domain.speakers import parse_flag
from scaiecho.services import voice_profiles
from scaiecho.settings import get_settings

router = APIRouter(prefix="/users/me/voice-profile", tags=["voice profiles"])


@router.post("", status_code=201)
def put_voice_profile(principal: CurrentPrincipal, file: UploadFile | None = File(None),
                      allow_duplicate_voice: str | None = Form(None)) -> dict[str, Any]:
    """Create or replace (in place) the caller's profile from one WAV/MP3/M4A sample.

    The sample is used for this request only: never stored, never logged.
    """
    voice_profiles.require_user(principal)  # flag and user first: no upload is read otherwise
    # Read one byte past the voice limit so an oversized sample is a 413, never a silent cut.
    sample = read_upload("file", file, limit_bytes=get_settings().voice_sample_max_bytes)
    allowed = parse_flag("allow_duplicate_voice", allow_duplicate_voice)
    return {"data": voice_profiles.upsert_profile(principal, sample, allow_duplicate_voice=allowed)}


@router.get("/status")
def voice_profile_status(principal: CurrentPrincipal) -> dict[str, Any]:
    """``ACTIVE``, ``REQUIRES_RECONSENT`` (consent version changed) or ``MISSING``."""
    return {"data": voice_profiles.profile_status(principal)}


@router.delete("", status_code=204)
def delete_voice_profile(principal: CurrentPrincipal) -> Response:
    """Remove the profile (idempotent); node caches are evicted on a best-effort basis."""
    voice_profiles.delete_profile(principal)
    return Response(status_code=204)
