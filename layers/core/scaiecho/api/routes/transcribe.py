"""Transcription jobs. Scope scaiecho:transcribe (plus scaiecho:diarize when diarize=true).

``POST /transcribe`` takes JSON (``audio_urls``: objects of this deployment's bucket, or remote
``https://`` recordings that the job workflow downloads; several URLs make a batch, one job per
file) or multipart (file part ``audio``, the other fields as form fields, ``diarization_config`` as
a JSON string). In the transcript, segment ``start_time``/``end_time`` are strings with two
decimals (``"0.50"``), as the transcription-job API document writes them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from scaiecho.api.deps import requires
from scaiecho.api.limits import MAX_FORM_FIELDS, MAX_FORM_FILES
from scaiecho.api.schemas.common import AUTH_ERRORS, Envelope, Page, error_responses, json_answer
from scaiecho.api.schemas.transcribe import (
    TRANSCRIBE_REQUEST_DOC,
    BatchAccepted,
    BatchPage,
    BatchPublic,
    JobAccepted,
    JobPublic,
    JobSummary,
    UploadTicket,
    UploadTicketRequest,
)
from scaiecho.api.uploads import read_upload
from scaiecho.domain.auth import Principal, Scope
from scaiecho.domain.json_documents import InvalidJson, loads_strict
from scaiecho.errors import ValidationFailed
from scaiecho.services import transcription
from scaiecho.services.uploads import Upload
from scaiecho.settings import get_settings

router = APIRouter(prefix="/transcribe", tags=["transcribe"])
TranscribeScope = requires(Scope.TRANSCRIBE)
_FORM_FIELDS = ("language", "diarize", "diarization_config", "speaker_ids", "match_me")


async def _form_request(request: Request) -> tuple[dict[str, Any], Upload | None]:
    limit = get_settings().max_job_audio_bytes
    form = await request.form(max_part_size=1024 * 1024, max_files=MAX_FORM_FILES,
                              max_fields=MAX_FORM_FIELDS)
    unknown = sorted(k for k in form if k not in (*_FORM_FIELDS, "audio"))
    if unknown:
        raise ValidationFailed(f"unknown form field(s): {', '.join(unknown)}", code="unknown_field",
                               details={"unknown": unknown, "accepted": [*_FORM_FIELDS, "audio"]})
    fields: dict[str, Any] = {}
    for name in ("language", "diarize", "match_me"):
        value = form.get(name)
        if isinstance(value, str):
            fields[name] = value
    config = form.get("diarization_config")
    if isinstance(config, str):
        fields["diarization_config"] = transcription.parse_form_config(config)
    ids = [v for v in form.getlist("speaker_ids") if isinstance(v, str)]
    if len(ids) == 1 and ids[0].strip().startswith("["):
        try:
            fields["speaker_ids"] = loads_strict(ids[0])
        except InvalidJson as exc:
            raise ValidationFailed("speaker_ids must be a list of speaker ids",
                                   code="invalid_speaker_ids") from exc
    elif ids:
        fields["speaker_ids"] = [i.strip() for v in ids for i in v.split(",") if i.strip()]
    audio = form.get("audio")
    upload = read_upload("audio", audio, limit_bytes=limit) if isinstance(audio, UploadFile) else None
    return fields, upload


@router.post("", status_code=202, response_model=Envelope[JobAccepted | BatchAccepted],
             openapi_extra=TRANSCRIBE_REQUEST_DOC,
             responses=error_responses(400, *AUTH_ERRORS, 404, 409, 413, 415, 503))
async def submit(
    request: Request,
    principal: Principal = TranscribeScope,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> JSONResponse:
    """Queue a transcription job: 202 with ``job_id`` and ``status``.

    Several ``audio_urls`` (at most 20) make a batch: 202 with ``batch_id`` and ``jobs`` (one per
    file, in order, each with its ``job_id``); every file gets the same options. A remote
    ``https://`` URL is downloaded by the job workflow (never by this API); a failed download fails
    that job with a specific ``error.code`` (``audio_url_unreachable``, ``audio_url_too_large``,
    ``audio_url_forbidden_address``, ``audio_url_timeout``, ``audio_url_not_audio``,
    ``audio_url_too_many_redirects``, ``audio_url_not_allowed``). ``Idempotency-Key`` retries
    answer the same job or batch.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields, upload = await _form_request(request)
        data = await run_in_threadpool(transcription.submit_upload, principal, fields, upload,
                                       idempotency_key=idempotency_key)
    else:
        try:
            doc = loads_strict(await request.body() or b"null")
        except InvalidJson as exc:
            raise ValidationFailed(f"the request body is not valid JSON: {exc}", code="invalid_json") from exc
        data = await run_in_threadpool(transcription.submit_json, principal, doc,
                                       idempotency_key=idempotency_key)
    accepted = BatchAccepted.model_validate(data) if "batch_id" in data else JobAccepted.model_validate(data)
    return json_answer(Envelope[JobAccepted | BatchAccepted](data=accepted), 202)


@router.post("/uploads", status_code=201, responses=error_responses(*AUTH_ERRORS))
def create_upload(
    principal: Principal = TranscribeScope,
    body: UploadTicketRequest | None = Body(None),
) -> Envelope[UploadTicket]:
    """A presigned S3 upload for recordings too large for one API request."""
    filename = body.filename if body is not None else None
    grant = transcription.create_upload(principal, filename if isinstance(filename, str) else None)
    return Envelope(data=UploadTicket.from_domain(grant))


@router.get("", response_model_exclude_unset=True, responses=error_responses(*AUTH_ERRORS))
def list_jobs(
    principal: Principal = TranscribeScope,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None),
) -> Page[JobSummary]:
    jobs, next_cursor = transcription.list_jobs(principal, limit=limit, cursor=cursor)
    return Page(data=[JobSummary.from_domain(j) for j in jobs], next_cursor=next_cursor)


@router.get("/batches/{batch_id}", response_model_exclude_unset=True,
            responses=error_responses(*AUTH_ERRORS, 404))
def get_batch(
    batch_id: str,
    principal: Principal = TranscribeScope,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None),
) -> BatchPage:
    """A batch's jobs in file order: each ``job_id``, ``index``, ``status`` (and ``error`` when
    FAILED); ``status`` and ``counts`` of the batch. Poll each job for its transcript."""
    batch, next_cursor = transcription.get_batch(principal, batch_id, limit=limit, cursor=cursor)
    return BatchPage(data=BatchPublic.from_domain(batch), next_cursor=next_cursor)


_EXPORT_MEDIA = ("application/json", "text/plain", "application/x-subrip", "text/vtt")


@router.get("/{job_id}", response_model=Envelope[JobPublic], response_model_exclude_unset=True,
            responses={200: {"content": {m: {"schema": {"type": "string"}} for m in _EXPORT_MEDIA[1:]},
                             "description": "the job; with ?format= the transcript file"},
                       **error_responses(*AUTH_ERRORS, 404, 409)})
def get_job(
    job_id: str,
    principal: Principal = TranscribeScope,
    fmt: str | None = Query(None, alias="format", description="json | rttm | srt | vtt"),
) -> Any:
    """The job's status, and its transcript once COMPLETED; ``?format=`` exports it.

    Segment ``start_time``/``end_time`` are strings with two decimals (``"0.50"``), as in the
    transcription-job API document; ``duration`` and ``turns`` times are numbers. A job of a batch
    carries ``batch_id`` and ``batch_index``; a job of a remote URL its ``audio_url``.
    """
    if fmt is None:
        job, transcript = transcription.get_job(principal, job_id)
        return Envelope(data=JobPublic.from_job(job, transcript))
    body, media_type = transcription.export_job(principal, job_id, fmt)
    ext = fmt
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{job_id}.{ext}"'})
