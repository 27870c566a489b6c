"""Speaker intake (enroll, add samples) and reads. Scope: scaiecho:enroll."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Header, Query, UploadFile
from fastapi.responses import JSONResponse

from scaiecho.api.deps import requires
from scaiecho.api.uploads import read_upload
from scaiecho.domain.auth import Principal, Scope
from scaiecho.services import consents, enrollment

router = APIRouter(prefix="/speakers", tags=["speakers"])
EnrollScope = requires(Scope.ENROLL)


@router.post("", status_code=201)
def create_speaker(
    principal: Principal = EnrollScope,
    display_name: str | None = Form(None),
    language_primary: str | None = Form(None),
    description: str | None = Form(None),
    consent_user_full_name: str | None = Form(None),
    consent_stated_purpose: str | None = Form(None),
    consent_text: str | None = Form(None),
    external_id: str | None = Form(None),
    allow_duplicate_voice: str | None = Form(None),
    reference: UploadFile | None = File(None),
    consent: UploadFile | None = File(None),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> JSONResponse:
    """Enroll a speaker: reference + consent recordings, consent metadata; fans out to the nodes."""
    fields = {
        "display_name": display_name,
        "language_primary": language_primary,
        "description": description,
        "consent_user_full_name": consent_user_full_name,
        "consent_stated_purpose": consent_stated_purpose,
        "consent_text": consent_text,
        "external_id": external_id,
        "allow_duplicate_voice": allow_duplicate_voice,
    }
    data = enrollment.enroll_speaker(
        principal, fields, read_upload("reference", reference), read_upload("consent", consent),
        idempotency_key=idempotency_key,
    )
    return JSONResponse({"data": data}, status_code=201)


@router.get("")
def list_speakers(
    principal: Principal = EnrollScope,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None),
) -> dict[str, Any]:
    return enrollment.list_speakers(principal, limit=limit, cursor=cursor)


@router.get("/{speaker_id}")
def get_speaker(speaker_id: str, principal: Principal = EnrollScope) -> dict[str, Any]:
    return {"data": enrollment.get_speaker(principal, speaker_id)}


@router.post("/{speaker_id}/samples", status_code=201)
def add_sample(
    speaker_id: str,
    principal: Principal = EnrollScope,
    reference: UploadFile | None = File(None),
) -> JSONResponse:
    data = enrollment.add_sample(principal, speaker_id, read_upload("reference", reference))
    return JSONResponse({"data": data}, status_code=201)


@router.get("/{speaker_id}/consent")
def get_consent(speaker_id: str, principal: Principal = EnrollScope) -> dict[str, Any]:
    """The immutable consent record, its check scores and a short-lived URL to the recording."""
    return {"data": consents.consent_evidence(principal, speaker_id)}
