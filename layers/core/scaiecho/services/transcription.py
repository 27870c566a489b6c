"""Transcription jobs: submit (upload, a URL in our bucket, or remote https:// URLs), poll, list,
batches, export, upload slots.

Submitting validates everything it can before anything is stored (options, scopes, backend,
speaker_ids, audio size/format/duration of uploads and bucket objects, the form of remote URLs),
then writes the input audio, the job row, and starts the Step Functions workflow whose execution
name is the job id (a retry can never run a job twice). Remote recordings are downloaded by the
workflow's fetch step, never here. Several ``audio_urls`` make a batch: one job per file under one
``batch_id``, the same options for every file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from scaiecho.adapters.jobs import BATCH_PREFIX, Job, JobFiles, JobStore, batch_job_id, input_key
from scaiecho.adapters.nodes import NodeStore
from scaiecho.adapters.speakers import SpeakerStore
from scaiecho.adapters.workflows import WorkflowRunner
from scaiecho.domain import executions
from scaiecho.domain.auth import Principal, Scope
from scaiecho.domain.exports import MEDIA_TYPES, check_format, render
from scaiecho.domain.jobs import (
    AudioSource,
    JobStatus,
    TranscribeOptions,
    audio_source,
    check_known_fields,
    parse_audio_urls,
    parse_options,
)
from scaiecho.domain.json_documents import InvalidJson, loads_strict
from scaiecho.domain.speakers import EnrollmentStatus, is_speaker_id, new_id
from scaiecho.errors import (
    Conflict,
    NotFound,
    ScaiEchoError,
    ServiceUnavailable,
    TooManyRequests,
    ValidationFailed,
)
from scaiecho.observability import get_logger
from scaiecho.services.idempotency import run_idempotent
from scaiecho.services.keys import require_scopes
from scaiecho.services.uploads import JobRecording, Upload, check_job_object, check_job_upload
from scaiecho.services.voice_profiles import require_user
from scaiecho.settings import get_settings

PROBE_HEAD_BYTES = 256 * 1024
UPLOAD_URL_EXPIRES_S = 900


@dataclass(frozen=True)
class JobAudio:
    """Where the job's input is (our bucket), and a fingerprint for idempotent retries."""

    key: str
    size: int
    fingerprint: str


@dataclass(frozen=True)
class UploadGrant:
    """A presigned S3 POST for one recording, and the ``audio_url`` to submit once uploaded."""

    url: str
    fields: dict[str, str]
    audio_url: str
    max_bytes: int
    expires_in_s: int


# ------------------------------------------------------------------ submit
def submit_json(principal: Principal, doc: Any, *, idempotency_key: str | None = None) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValidationFailed("the request body must be a JSON object", code="invalid_request")
    check_known_fields(doc)
    if "audio_urls" not in doc:
        raise ValidationFailed("audio_urls is required (or send the audio as multipart part 'audio')",
                               code="missing_field", details={"fields": ["audio_urls"]})
    urls = parse_audio_urls(doc["audio_urls"])
    settings = get_settings()
    sources = [audio_source(u, tenant_id=principal.tenant_id, bucket=settings.audio_bucket,
                            region=settings.region, allowlist=settings.audio_url_allowed)
               for u in urls]
    options = _validated_options(principal, doc)

    def work() -> dict[str, Any]:
        # Every file is checked before any job exists: a bad file refuses the whole request.
        audios = [_check_stored_audio(src.key) if src.key is not None else _remote_audio(src)
                  for src in sources]
        _require_job_slot(principal.tenant_id, len(sources))
        if len(sources) == 1:
            return _start(principal, options, audios[0], stored=True, source=sources[0])
        return _start_batch(principal, options, sources, audios)

    fingerprint = "|".join(f"url:{src.key}" if src.key is not None else f"remote:{src.url}"
                           for src in sources)
    return _idempotent(principal, options, fingerprint, idempotency_key, work)


def _remote_audio(source: AudioSource) -> JobAudio:
    """A remote recording: its key and size are known once the fetch step has stored it."""
    return JobAudio(key="", size=0, fingerprint=source.url)


def submit_upload(principal: Principal, fields: dict[str, Any], upload: Upload | None, *,
                  idempotency_key: str | None = None) -> dict[str, Any]:
    options = _validated_options(principal, fields)
    if upload is None:
        raise ValidationFailed("send the recording as multipart part 'audio' (or JSON audio_urls)",
                               code="missing_field", details={"fields": ["audio"]})
    recording = check_job_upload(upload)
    return _idempotent(principal, options, f"sha256:{upload.sha256}", idempotency_key,
                       lambda: _start_upload(principal, options, upload, recording))


def parse_form_config(raw: str | None) -> Any:
    """``diarization_config`` arrives as a JSON string in a multipart form."""
    if raw is None or raw == "":
        return None
    try:
        return loads_strict(raw)
    except InvalidJson as exc:
        raise ValidationFailed("diarization_config must be a JSON object (as a string in a form)",
                               code="invalid_diarization_config",
                               details={"field": "diarization_config"}) from exc


def _validated_options(principal: Principal, doc: dict[str, Any]) -> TranscribeOptions:
    options = parse_options(doc, supported_languages=get_settings().supported_languages)
    if options.diarize:
        require_scopes(principal, Scope.DIARIZE)
        _require_backend(options.diarization.backend)
        options = replace(options, speaker_ids=_require_speakers(principal.tenant_id,
                                                                 options.speaker_ids))
    if options.match_me:
        # The same gates as the voice-profile routes: 404 feature_not_available when voice
        # profiles are off for the tenant, 403 user_key_required for a key bound to no user.
        # Whether the user has a usable profile is decided when the job runs (it may be created,
        # replaced or deleted in between); then a missing one is a warning, not a failure.
        require_user(principal)
    return options


def _match_user(principal: Principal, options: TranscribeOptions) -> str | None:
    return principal.user_id if options.match_me else None


def _require_backend(backend: str) -> None:
    engines = {n.engine for n in NodeStore().list()}
    if backend not in engines:
        raise ValidationFailed(
            f"the diarization backend {backend!r} is not deployed here",
            code="backend_not_available",
            details={"backend": backend, "available": sorted(engines)},
        )


def _require_speakers(tenant_id: str, speaker_ids: tuple[str, ...]) -> tuple[str, ...]:
    """The speaker ids ``speaker_ids`` names (generated ids, or the clients' own external ids);
    422 ``invalid_speaker_ids`` for unknown or not-ready ones, 422 ``enrollment_incomplete`` for
    one with too little speech to be identified (unless the tenant opts in)."""
    store = SpeakerStore()
    settings = get_settings()
    min_speech_s = settings.identification_min_speech_s(tenant_id)
    resolved: list[str] = []
    unknown, not_ready, incomplete = [], [], []
    for sid in speaker_ids:
        speaker = store.get(tenant_id, sid) if is_speaker_id(sid) else store.by_external_id(tenant_id, sid)
        if speaker is None or speaker.tombstoned_at is not None:
            unknown.append(sid)
        elif speaker.enrollment_status != EnrollmentStatus.READY:
            not_ready.append(sid)
        elif not speaker.identifiable(min_speech_s):
            incomplete.append(sid)
        else:
            resolved.append(speaker.speaker_id)
    if unknown or not_ready:
        raise ValidationFailed(
            "speaker_ids must name ready speakers of your tenant",
            code="invalid_speaker_ids",
            details={"unknown": unknown, "not_ready": not_ready},
        )
    if incomplete:
        raise ValidationFailed(
            f"enrollment incomplete (under {settings.enrollment_complete_speech_s:g} s of speech): "
            f"{', '.join(incomplete)}; add samples first",
            code="enrollment_incomplete",
            details={"speaker_ids": incomplete,
                     "enrollment_complete_threshold_s": settings.enrollment_complete_speech_s},
        )
    return tuple(dict.fromkeys(resolved))


def _check_stored_audio(key: str) -> JobAudio:
    files = JobFiles()
    size = files.size(key)
    if size is None:
        raise ValidationFailed("audio_urls names no existing object", code="audio_url_not_found",
                               details={"key": key})
    head = files.head_bytes(key, min(size, PROBE_HEAD_BYTES)) if size else b""
    check_job_object(head, size, key=key)
    return JobAudio(key=key, size=size, fingerprint=key)


def _require_job_slot(tenant_id: str, count: int = 1) -> None:
    """Fair use: at most max_active_jobs_per_tenant jobs QUEUED or PROCESSING (429 otherwise);
    a batch needs a slot for each of its files."""
    settings = get_settings()
    limit = settings.max_active_jobs_per_tenant
    active = JobStore().active_count(tenant_id)
    if active + count > limit:
        raise TooManyRequests(
            f"your tenant may have {limit} transcription jobs queued or running; {active} are, and "
            f"this request adds {count}; retry later",
            code="too_many_jobs",
            details={"limit": limit, "active": active, "requested": count,
                     "retry_after_s": settings.fair_use_retry_after_s},
        )


def _start_upload(principal: Principal, options: TranscribeOptions, upload: Upload,
                  recording: JobRecording) -> dict[str, Any]:
    _require_job_slot(principal.tenant_id)
    job_id = new_id("job")
    key = input_key(principal.tenant_id, job_id, recording.format.extension)
    JobFiles().put_data(key, upload.data, upload.media_type or "application/octet-stream")
    audio = JobAudio(key=key, size=len(upload.data), fingerprint=upload.sha256)
    return _start(principal, options, audio, stored=False, job_id=job_id)


def _workflow_arn() -> str:
    arn = get_settings().transcribe_state_machine_arn
    if not arn:
        raise ServiceUnavailable("transcription is not configured (no workflow)", code="workflow_error")
    return arn


def _create(principal: Principal, options: TranscribeOptions, audio: JobAudio, job_id: str, *,
            source: AudioSource | None = None, batch_id: str | None = None,
            batch_index: int | None = None) -> Job:
    remote = source is not None and source.remote
    return JobStore().create(
        tenant_id=principal.tenant_id, job_id=job_id, request=options.serialize(),
        # a remote recording lands here (with its format's extension) once fetched
        audio_key=input_key(principal.tenant_id, job_id, "pending") if remote else audio.key,
        audio_bytes=audio.size, match_user_id=_match_user(principal, options),
        source_url=source.url if remote and source is not None else None,
        batch_id=batch_id, batch_index=batch_index,
    )


def _launch(principal: Principal, options: TranscribeOptions, job: Job, audio: JobAudio, *,
            stored: bool) -> None:
    """Start the job's workflow; on failure the job is recorded FAILED (never QUEUED forever)."""
    settings = get_settings()
    # Ids only: the execution history is readable by operators; the tasks read the audio key
    # (which may carry a client's file name) and a remote URL (which may carry a signed query
    # string) from the job row.
    payload = {
        "tenant_id": principal.tenant_id, "job_id": job.job_id, "bucket": settings.audio_bucket,
        "options": options.serialize(), "diarize": options.diarize,
        "fetch": job.source_url is not None,
        "diarization_timeout_s": settings.diarization_timeout_s,
    }
    store = JobStore()
    try:
        arn = WorkflowRunner().start(_workflow_arn(), payload, name=executions.job(job.job_id))
    except ScaiEchoError as exc:
        # No job is left QUEUED forever: it says why it never ran (the input expires with uploads/).
        store.fail(principal.tenant_id, job.job_id, code=exc.code, message=exc.message)
        raise
    store.set_execution(principal.tenant_id, job.job_id, arn)
    get_logger().info("transcription job queued", extra={
        "job_id": job.job_id, "diarize": options.diarize, "bytes": audio.size,
        "stored_by_client": stored, "remote": job.source_url is not None, "batch_id": job.batch_id})


def _start(principal: Principal, options: TranscribeOptions, audio: JobAudio, *, stored: bool,
           job_id: str | None = None, source: AudioSource | None = None) -> dict[str, Any]:
    _workflow_arn()
    job = _create(principal, options, audio, job_id or new_id("job"), source=source)
    _launch(principal, options, job, audio, stored=stored)
    return {"job_id": job.job_id, "status": job.status.value}


def _start_batch(principal: Principal, options: TranscribeOptions, sources: list[AudioSource],
                 audios: list[JobAudio]) -> dict[str, Any]:
    """One job per file under one batch id, every job with the same options."""
    _workflow_arn()
    batch_id = new_id(BATCH_PREFIX.rstrip("_"))
    jobs = [_create(principal, options, audio, batch_job_id(batch_id, i), source=src,
                    batch_id=batch_id, batch_index=i)
            for i, (src, audio) in enumerate(zip(sources, audios, strict=True))]
    store = JobStore()
    statuses = {j.job_id: j.status.value for j in jobs}
    for n, (job, audio) in enumerate(zip(jobs, audios, strict=True)):
        try:
            _launch(principal, options, job, audio, stored=True)
        except ScaiEchoError as exc:
            # The files not started yet never will be: they say why, as the failed one does.
            for later in jobs[n + 1:]:
                store.fail(principal.tenant_id, later.job_id, code=exc.code, message=exc.message)
            if n == 0:
                raise  # nothing runs: the request fails as a single job's would
            for later in jobs[n:]:
                statuses[later.job_id] = JobStatus.FAILED.value
            break
    return {
        "batch_id": batch_id,
        "status": JobStatus.QUEUED.value,
        "jobs": [{"job_id": j.job_id, "index": j.batch_index, "audio_url": sources[i].url,
                  "status": statuses[j.job_id]} for i, j in enumerate(jobs)],
    }


def _idempotent(principal: Principal, options: TranscribeOptions, audio_fingerprint: str,
                key: str | None, work: Any) -> dict[str, Any]:
    if key is None:  # an empty header is a malformed key, not "no key"
        result: dict[str, Any] = work()
        return result
    # Keys are per tenant; with match_me the job is also the caller's (another user's retry of the
    # same key must not receive a job scored against someone else's profile).
    doc: dict[str, Any] = {"options": options.serialize(), "audio": audio_fingerprint}
    if options.match_me:
        doc["match_user"] = principal.user_id
    fingerprint = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    return run_idempotent(scope=f"transcribe:{principal.tenant_id}", key=key, fingerprint=fingerprint,
                          work=work)


# ------------------------------------------------------------------ read
def _owned(principal: Principal, job_id: str) -> Job:
    job = JobStore().get(principal.tenant_id, job_id)
    if job is None:
        raise NotFound(f"no transcription job {job_id!r}", code="job_not_found")
    return job


def get_job(principal: Principal, job_id: str) -> tuple[Job, dict[str, Any] | None]:
    """The job, and its stored transcript once COMPLETED (None before)."""
    job = _owned(principal, job_id)
    if job.status == JobStatus.COMPLETED and job.result_key:
        return job, JobFiles().get_json(job.result_key)
    return job, None


def export_job(principal: Principal, job_id: str, fmt: str) -> tuple[str, str]:
    """(body, media type) of the transcript in ``fmt``; 409 until the job has completed."""
    check_format(fmt)
    job = _owned(principal, job_id)
    if job.status != JobStatus.COMPLETED or not job.result_key:
        raise Conflict(f"the job is {job.status.value}; exports exist once it is COMPLETED",
                       code="job_not_completed", details={"status": job.status.value})
    transcript = JobFiles().get_json(job.result_key)
    return render(transcript, fmt, file_id=job.job_id), MEDIA_TYPES[fmt]


_BATCH_ID = re.compile(r"^bat_[0-9a-f]{20}$")


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    status: JobStatus
    counts: dict[str, int]
    jobs: list[Job]


def get_batch(principal: Principal, batch_id: str, *, limit: int, cursor: str | None
              ) -> tuple[BatchView, str | None]:
    """A batch's jobs in file order (tenant-scoped: another tenant's batch is not found).

    ``status`` is PROCESSING while any job of the answer is QUEUED or PROCESSING (QUEUED while all
    are), else COMPLETED; ``counts`` says how many ended COMPLETED or FAILED. With ``cursor``
    pagination both describe the page answered (a batch holds at most 20 files, a page 200).
    """
    missing = NotFound(f"no transcription batch {batch_id!r}", code="batch_not_found")
    if not _BATCH_ID.match(batch_id):
        raise missing
    jobs, next_cursor = JobStore().page_batch(principal.tenant_id, batch_id, limit=limit, cursor=cursor)
    if not jobs and cursor is None:
        raise missing
    counts = {s.value: sum(1 for j in jobs if j.status == s) for s in JobStatus}
    if counts["QUEUED"] == len(jobs):
        status = JobStatus.QUEUED
    elif counts["QUEUED"] or counts["PROCESSING"]:
        status = JobStatus.PROCESSING
    else:
        status = JobStatus.COMPLETED
    return BatchView(batch_id, status, counts, jobs), next_cursor


def list_jobs(principal: Principal, *, limit: int, cursor: str | None) -> tuple[list[Job], str | None]:
    return JobStore().page(principal.tenant_id, limit=limit, cursor=cursor)


# ------------------------------------------------------------------ presigned uploads
def create_upload(principal: Principal, filename: str | None) -> UploadGrant:
    """A presigned S3 POST for a large recording; then submit ``audio_urls: [audio_url]``."""
    settings = get_settings()
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in (filename or "audio"))[:100] or "audio"
    key = f"uploads/{principal.tenant_id}/{new_id('upl')}/{name}"
    post = JobFiles().presigned_post(key, max_bytes=settings.max_job_audio_bytes,
                                     expires_s=UPLOAD_URL_EXPIRES_S)
    return UploadGrant(url=post["url"], fields=dict(post["fields"]),
                       audio_url=f"s3://{settings.audio_bucket}/{key}",
                       max_bytes=settings.max_job_audio_bytes, expires_in_s=UPLOAD_URL_EXPIRES_S)
