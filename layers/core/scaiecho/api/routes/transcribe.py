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
    upload = None
    if isinstance(audio, UploadFile):
        # Read at most one byte past the limit: enough to refuse it (413).
        data = await audio.read(limit + 1)
        upload = Upload(field="audio", data=data, filename=audio.filename, media_type=audio.content_type)
    return fields, upload


@router.post("", status_code=202)
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
    return JSONResponse({"data": data}, status_code=202)


@router.post("/uploads", status_code=201)
def create_upload(
    principal: Principal = TranscribeScope,
    body: dict[str, Any] | None = Body(None),
) -> JSONResponse:
    """A presigned S3 upload for recordings too large for one API request."""
    filename = (body or {}).get("filename")
    data = transcription.create_upload(principal, filename if isinstance(filename, str) else None)
    return JSONResponse({"data": data}, status_code=201)


@router.get("")
def list_jobs(
    principal: Principal = TranscribeScope,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None),
) -> dict[str, Any]:
    return transcription.list_jobs(principal, limit=limit, cursor=cursor)


@router.get("/batches/{batch_id}")
def get_batch(
    batch_id: str,
    principal: Principal = TranscribeScope,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None),
) -> dict[str, Any]:
    """A batch's jobs in file order: each ``job_id``, ``index``, ``status`` (and ``error`` when
    FAILED); ``status`` and ``counts`` of the batch. Poll each job for its transcript."""
    return transcription.get_batch(principal, batch_id, limit=limit, cursor=cursor)


@router.get("/{job_id}", response_model=None)
def get_job(
    job_id: str,
    principal: Principal = TranscribeScope,
    fmt: str | None = Query(None, alias="format", description="json | rttm | srt | vtt"),
) -> dict[str, Any] | Response:
    """The job's status, and its transcript once COMPLETED; ``?format=`` exports it.

    Segment ``start_time``/``end_time`` are strings with two decimals (``"0.50"``), as in the
    transcription-job API document; ``duration`` and ``turns`` times are numbers. A job of a batch
    carries ``batch_id`` and ``batch_index``; a job of a remote URL its ``audio_url``.
    """
    if fmt is None:
        return {"data": transcription.get_job(principal, job_id)}
    body, media_type = transcription.export_job(principal, job_id, fmt)
    ext = fmt
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{job_id}.{ext}"'})
