"""Transcription jobs: what a submit answers, a job with its transcript, batches, uploads."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, Field

from scaiecho.adapters.jobs import Job
from scaiecho.api.schemas.common import ApiModel, StoredModel
from scaiecho.domain.jobs import (
    BACKENDS,
    DEFAULT_BACKEND,
    MAX_AUDIO_URLS,
    MAX_SPEAKER_IDS,
    MAX_SPEAKERS,
    MIN_SPEAKERS,
    JobStatus,
)
from scaiecho.domain.transcripts import public_transcript
from scaiecho.services.transcription import BatchView, UploadGrant

JobStatusName = Literal["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]


class DiarizationConfigPublic(StoredModel):
    backend: str | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


class JobRequest(StoredModel):
    """The options the job was submitted with."""

    language: str | None = None
    diarize: bool | None = None
    diarization_config: DiarizationConfigPublic | None = None
    speaker_ids: list[str] | None = None
    match_me: bool | None = None


class JobError(ApiModel):
    code: str
    message: str


class JobAccepted(ApiModel):
    job_id: str
    status: JobStatusName


class BatchJobAccepted(ApiModel):
    job_id: str
    index: int | None
    audio_url: str | None
    status: JobStatusName


class BatchAccepted(ApiModel):
    batch_id: str
    status: JobStatusName
    jobs: list[BatchJobAccepted] = Field(description="one per file, in order")


class JobSummary(ApiModel):
    job_id: str
    status: JobStatusName
    request: JobRequest | None
    created_at: str
    updated_at: str
    audio_url: str | None = Field(None, description="a job of a remote URL")
    batch_id: str | None = Field(None, description="a job of a batch")
    batch_index: int | None = None
    progress: dict[str, str] | None = Field(None, description="QUEUED/PROCESSING: stage -> state")
    completed_at: str | None = None
    error: JobError | None = Field(None, description="FAILED: why")

    @classmethod
    def from_domain(cls, job: Job) -> Self:
        out = cls(job_id=job.job_id, status=job.status.value, request=job.request,
                  created_at=job.created_at.isoformat(), updated_at=job.updated_at.isoformat())
        if job.source_url is not None:
            out.audio_url = job.source_url
        if job.batch_id is not None:
            out.batch_id, out.batch_index = job.batch_id, job.batch_index
        if job.status in (JobStatus.QUEUED, JobStatus.PROCESSING):
            out.progress = job.progress
        if job.completed_at:
            out.completed_at = job.completed_at.isoformat()
        if job.status == JobStatus.FAILED:
            out.error = _job_error(job)
        return out


def _job_error(job: Job) -> JobError:
    return JobError(code=job.error_code or "job_failed", message=job.error_message or "")


class SpeakersSummary(StoredModel):
    count: int
    labels: list[str] = Field(description="SPEAKER_00… in order of first appearance")


class TurnPublic(StoredModel):
    start_time: float
    end_time: float
    speaker: str | None


class SegmentPublic(StoredModel):
    id: int
    start_time: str = Field(description='seconds with two decimals, as a string ("0.50")')
    end_time: str
    type: str = Field(description="speech | silence")
    text: str
    speaker: str | None = Field(None, description="diarized jobs only; null outside speech")
    speaker_id: str | None = Field(None, description="present when an enrolled speaker matched")
    speaker_name: str | None = None
    external_id: str | None = None
    match_score: float | None = None
    voiceMatchScore: float | None = Field(None, description="match_me: vs the caller's voice profile")


class JobPublic(JobSummary):
    """A job; once COMPLETED, its transcript (``duration``, ``language``, ``segments``…)."""

    model_config = ConfigDict(extra="allow")  # the stored transcript's own fields pass through
    warnings: list[str] = Field(default_factory=list)
    duration: float | None = None
    language: str | None = None
    speakers: SpeakersSummary | None = Field(None, description="diarized jobs only")
    turns: list[TurnPublic] | None = Field(None, description="diarized jobs only")
    segments: list[SegmentPublic] | None = None

    @classmethod
    def from_job(cls, job: Job, transcript: dict[str, Any] | None) -> JobPublic:
        """The job's summary with its stored transcript (segment times as two-decimal strings),
        or, before it completed, its warnings so far."""
        out = cls.from_domain(job)
        extra = public_transcript(transcript) if transcript is not None else {"warnings": job.warnings}
        return cls.model_validate({**out.model_dump(exclude_unset=True), **extra})


class BatchJob(ApiModel):
    job_id: str
    index: int | None
    status: JobStatusName
    audio_url: str | None = None
    error: JobError | None = None
    completed_at: str | None = None

    @classmethod
    def from_domain(cls, job: Job) -> BatchJob:
        out = cls(job_id=job.job_id, index=job.batch_index, status=job.status.value)
        if job.source_url is not None:
            out.audio_url = job.source_url
        if job.status == JobStatus.FAILED:
            out.error = _job_error(job)
        if job.completed_at:
            out.completed_at = job.completed_at.isoformat()
        return out


class BatchPublic(ApiModel):
    batch_id: str
    status: JobStatusName
    counts: dict[str, int] = Field(description="jobs of this page per status")
    request: JobRequest | None
    jobs: list[BatchJob]

    @classmethod
    def from_domain(cls, batch: BatchView) -> BatchPublic:
        return cls(batch_id=batch.batch_id, status=batch.status.value, counts=batch.counts,
                   request=batch.jobs[0].request if batch.jobs else None,
                   jobs=[BatchJob.from_domain(j) for j in batch.jobs])


class BatchPage(ApiModel):
    data: BatchPublic
    next_cursor: str | None


class PresignedPost(ApiModel):
    url: str
    fields: dict[str, str]
    method: Literal["POST"]


class UploadTicket(ApiModel):
    """A presigned S3 POST; submit ``audio_urls: [audio_url]`` once uploaded."""

    upload: PresignedPost
    audio_url: str
    max_bytes: int
    expires_in_s: int

    @classmethod
    def from_domain(cls, grant: UploadGrant) -> UploadTicket:
        return cls(upload=PresignedPost(url=grant.url, fields=grant.fields, method="POST"),
                   audio_url=grant.audio_url, max_bytes=grant.max_bytes,
                   expires_in_s=grant.expires_in_s)


class UploadTicketRequest(ApiModel):
    model_config = ConfigDict(extra="allow")
    filename: Any = Field(None, description="the recording's file name (only its safe characters kept)")


# ----------------------------------------------------------------------------------- requests
# POST /transcribe reads its body itself (JSON or multipart, one route); these models document
# both forms in the OpenAPI document, and say what domain/jobs.py validates.
class DiarizationConfigRequest(ApiModel):
    backend: Literal[BACKENDS] = DEFAULT_BACKEND  # type: ignore[valid-type]
    min_speakers: int | None = Field(None, ge=MIN_SPEAKERS, le=MAX_SPEAKERS)
    max_speakers: int | None = Field(None, ge=MIN_SPEAKERS, le=MAX_SPEAKERS,
                                     description="at least min_speakers")


class TranscribeJsonRequest(ApiModel):
    """Audio by URL: objects of this deployment's bucket (``s3://``) or remote ``https://``
    recordings the job workflow downloads. Several URLs make a batch (one job per file)."""

    audio_urls: list[str] = Field(min_length=1, max_length=MAX_AUDIO_URLS)
    language: str | None = Field(None, description="e.g. en or en-US; absent: detected")
    diarize: bool = False
    diarization_config: DiarizationConfigRequest | None = None
    speaker_ids: list[str] | None = Field(None, max_length=MAX_SPEAKER_IDS,
                                          description="restrict identification to these speakers")
    speakerIds: list[str] | None = Field(None, max_length=MAX_SPEAKER_IDS,
                                         description="the enrollment guide's spelling of speaker_ids")
    match_me: bool = Field(False, description="score speakers against the caller's voice profile")


class TranscribeForm(ApiModel):
    """One uploaded recording (``audio``); the options as form fields."""

    audio: bytes = Field(json_schema_extra={"format": "binary"})
    language: str | None = None
    diarize: Literal["true", "false"] | None = None
    diarization_config: str | None = Field(None, description="DiarizationConfigRequest as a JSON string")
    speaker_ids: str | None = Field(None, description="a JSON list, or ids separated by commas")
    match_me: Literal["true", "false"] | None = None


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` substituted in place (an operation's own request body)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.rsplit("/", 1)[1]]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


TRANSCRIBE_REQUEST_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _inline(TranscribeJsonRequest.model_json_schema())},
    "multipart/form-data": {"schema": _inline(TranscribeForm.model_json_schema())},
}}}
