"""Speaker intake (enroll, add samples) and reads. Scope: scaiecho:enroll."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from scaiecho.api.deps import requires
from scaiecho.api.schemas.common import AUTH_ERRORS, Envelope, Page, error_responses, json_answer
from scaiecho.api.schemas.speakers import ConsentEvidence, SpeakerEnrollment, SpeakerForm, SpeakerPublic
from scaiecho.api.uploads import read_upload
from scaiecho.domain.auth import Principal, Scope
from scaiecho.domain.json_documents import InvalidJson, loads_strict
from scaiecho.errors import ValidationFailed
from scaiecho.services import consents, enrollment, json_enrollment
from scaiecho.settings import get_settings

router = APIRouter(prefix="/speakers", tags=["speakers"])
EnrollScope = requires(Scope.ENROLL)

# POST /speakers also takes a JSON body (base64 audio): documented here, read by _json_document.
_JSON_ENROLLMENT_DOC: dict[str, Any] = {
    "requestBody": {"content": {"application/json": {"schema": {
        "type": "object",
        "required": ["content"],
        "properties": {
            "content": {"type": "string", "description": "the reference recording, base64"},
            "encoding": {"type": "string",
                         "enum": ["LINEAR16", "WAV", "FLAC", "MP3", "OGG", "OGG_OPUS", "M4A"],
                         "description": "absent: recognised from the bytes"},
            "sampleRate": {"type": "integer", "description": "Hz; required for LINEAR16"},
            "languageCode": {"type": "string", "default": "en-US"},
            "speakerId": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,64}$",
                          "description": "the client's speaker id (external_id); sent again with "
                                         "new audio, it adds a sample to that speaker"},
            "display_name": {"type": "string"},
            "description": {"type": "string"},
            "consent_user_full_name": {"type": "string"},
            "consent_stated_purpose": {"type": "string"},
            "consent_text": {"type": "string"},
            "consent_content": {"type": "string", "description": "the consent recording, base64"},
            "consent_encoding": {"type": "string"},
            "consent_sample_rate": {"type": "integer"},
            "allow_duplicate_voice": {"type": "boolean"},
        },
    }}}},
}


async def _json_document(request: Request) -> Any:
    """The body when it is JSON (None for a multipart form). The body-limits middleware has
    already bounded its size and checked that it is strict JSON."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        return None
    try:
        return loads_strict(await request.body())
    except InvalidJson as exc:
        raise ValidationFailed(f"the request body is not valid JSON: {exc}", code="invalid_json") from None


_INTAKE_ERRORS = error_responses(400, *AUTH_ERRORS, 404, 409, 413, 415, 503)


@router.post("", status_code=201, openapi_extra=_JSON_ENROLLMENT_DOC,
             response_model=Envelope[SpeakerEnrollment],
             responses={200: {"model": Envelope[SpeakerEnrollment],
                              "description": "JSON body: a sample added to the speaker holding speakerId"},
                        **_INTAKE_ERRORS})
def create_speaker(
    form: Annotated[SpeakerForm, Form()],
    principal: Principal = EnrollScope,
    json_document: Any = Depends(_json_document),
    reference: UploadFile | None = File(None),
    consent: UploadFile | None = File(None),
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> JSONResponse:
    """Enroll a speaker: reference + consent recordings, consent metadata; fans out to the nodes.

    A JSON body (base64 audio) enrolls a new speaker (201), or, when its ``speakerId`` is already
    held, adds its audio as a sample of that speaker (200); both answer ``enrollment_complete``.
    """
    if json_document is not None:
        answer = json_enrollment.enroll_from_json(principal, json_document,
                                                  idempotency_key=idempotency_key)
        return json_answer(_enrollment(answer.result), 201 if answer.created else 200)
    result = enrollment.enroll_speaker(
        principal, form.model_dump(), read_upload("reference", reference), read_upload("consent", consent),
        idempotency_key=idempotency_key,
    )
    return json_answer(_enrollment(result), 201)


def _enrollment(result: enrollment.EnrollmentResult) -> Envelope[SpeakerEnrollment]:
    threshold = get_settings().enrollment_complete_speech_s
    return Envelope[SpeakerEnrollment](data=SpeakerEnrollment.from_domain(result, threshold))


def _speaker(speaker_id: str, principal: Principal) -> Envelope[SpeakerPublic]:
    speaker = enrollment.get_live_speaker(principal, speaker_id)
    return Envelope(data=SpeakerPublic.from_domain(speaker, get_settings().enrollment_complete_speech_s))


@router.get("", response_model_exclude_unset=True, responses=error_responses(*AUTH_ERRORS))
def list_speakers(
    principal: Principal = EnrollScope,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None),
    external_id: str | None = Query(None, description="only the speaker holding this id"),
) -> Page[SpeakerPublic]:
    speakers, next_cursor = enrollment.list_speakers(principal, limit=limit, cursor=cursor,
                                                     external_id=external_id)
    threshold = get_settings().enrollment_complete_speech_s
    return Page(data=[SpeakerPublic.from_domain(s, threshold) for s in speakers], next_cursor=next_cursor)


# The client's own id in a path: under by-external-id/, so it never shadows a generated speaker id.
@router.get("/by-external-id/{external_id}", response_model_exclude_unset=True,
            responses=error_responses(*AUTH_ERRORS, 404))
def get_speaker_by_external_id(external_id: str,
                               principal: Principal = EnrollScope) -> Envelope[SpeakerPublic]:
    return _speaker(enrollment.speaker_id_for_external_id(principal, external_id), principal)


@router.post("/by-external-id/{external_id}/samples", status_code=201, response_model_exclude_unset=True,
             responses=_INTAKE_ERRORS)
def add_sample_by_external_id(
    external_id: str,
    principal: Principal = EnrollScope,
    reference: UploadFile | None = File(None),
) -> Envelope[SpeakerEnrollment]:
    speaker_id = enrollment.speaker_id_for_external_id(principal, external_id)
    return _enrollment(enrollment.add_sample(principal, speaker_id, read_upload("reference", reference)))


@router.get("/{speaker_id}", response_model_exclude_unset=True, responses=error_responses(*AUTH_ERRORS, 404))
def get_speaker(speaker_id: str, principal: Principal = EnrollScope) -> Envelope[SpeakerPublic]:
    return _speaker(speaker_id, principal)


@router.post("/{speaker_id}/samples", status_code=201, response_model_exclude_unset=True,
             responses=_INTAKE_ERRORS)
def add_sample(
    speaker_id: str,
    principal: Principal = EnrollScope,
    reference: UploadFile | None = File(None),
) -> Envelope[SpeakerEnrollment]:
    return _enrollment(enrollment.add_sample(principal, speaker_id, read_upload("reference", reference)))


@router.get("/{speaker_id}/consent", responses=error_responses(*AUTH_ERRORS, 404))
def get_consent(speaker_id: str, principal: Principal = EnrollScope) -> Envelope[ConsentEvidence]:
    """The immutable consent record, its check scores and a short-lived URL to the recording."""
    evidence = consents.consent_evidence(principal, speaker_id)
    return Envelope(data=ConsentEvidence.from_domain(evidence.consent, audio_url=evidence.audio_url,
                                                     expires_in_s=evidence.audio_url_expires_in_s))
