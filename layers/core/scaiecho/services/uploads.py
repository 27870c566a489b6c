"""Every recording this API receives is checked here: one size check, the format sniffed once,
the duration probed once (jobs) or measured by decoding (enrollment), one table of formats
(:data:`scaiecho.audio.decode.FORMATS`), the same limits and codes on every route."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from scaiecho.audio.decode import (
    FORMATS,
    AudioFormat,
    DecodedAudio,
    check_decodable,
    check_header,
    decode_audio,
    sniff_format,
)
from scaiecho.audio.probe import probe_duration_s
from scaiecho.errors import AudioEmpty, AudioError, PayloadTooLarge, ScaiEchoError
from scaiecho.settings import get_settings


@dataclass(frozen=True)
class Upload:
    field: str
    data: bytes
    filename: str | None
    media_type: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class CheckedAudio:
    upload: Upload
    audio: DecodedAudio

    @property
    def extension(self) -> str:
        return FORMATS[self.audio.source_format].extension

    @property
    def stored_media_type(self) -> str:
        return FORMATS[self.audio.source_format].media_type


@dataclass(frozen=True)
class JobRecording:
    """A job's recording as submit checked it: its format and (when its header says) duration."""

    format: AudioFormat
    duration_s: float | None


def require_size(size: int, limit: int, *, field: str | None = None) -> None:
    """413 ``audio_too_large`` past ``limit`` bytes: the one size check of every recording. An
    upload names its form field; an object in the bucket says its size."""
    if size <= limit:
        return
    if field is not None:
        raise PayloadTooLarge(f"'{field}' is larger than the limit of {limit} bytes",
                              code="audio_too_large", details={"field": field, "limit_bytes": limit})
    raise PayloadTooLarge(f"the recording is larger than the limit of {limit} bytes",
                          code="audio_too_large", details={"bytes": size, "limit_bytes": limit})


def check_audio(upload: Upload) -> CheckedAudio:
    """413 past the size limit, 415 for a non-audio type or codec, 422 for empty, malformed,
    undecodable or over-long audio (decoding stops at the enrollment duration limit)."""
    settings = get_settings()
    require_size(len(upload.data), settings.max_upload_bytes, field=upload.field)
    if not upload.data:
        raise AudioEmpty(f"'{upload.field}' is empty", details={"field": upload.field})
    try:
        audio = decode_audio(upload.data, media_type=upload.media_type,
                             max_duration_s=settings.max_enroll_audio_s)
    except ScaiEchoError as exc:
        if exc.details is None:  # say which part was bad
            exc.details = {"field": upload.field}
        elif isinstance(exc.details, dict):
            exc.details.setdefault("field", upload.field)
        raise
    return CheckedAudio(upload, audio)


def check_job_upload(upload: Upload) -> JobRecording:
    """A recording uploaded with a job: size, format (sniffed once), header, its first second
    decoded, duration (probed once) within the job limit. Nothing is stored yet."""
    require_size(len(upload.data), get_settings().max_job_audio_bytes)
    if not upload.data:
        raise AudioEmpty(f"'{upload.field}' is empty", details={"field": upload.field})
    fmt = sniff_format(upload.data, upload.media_type)
    check_header(upload.data, fmt)
    # The first second is decoded here: a malformed file is refused now, not by a failed job.
    check_decodable(upload.data, fmt)
    return JobRecording(FORMATS[fmt], require_job_duration(upload.data, len(upload.data), fmt))


def check_job_object(head: bytes, size: int, *, key: str) -> JobRecording:
    """An object already in the bucket (``audio_urls``), from its size and first bytes: size,
    format (sniffed once), header, duration (probed once) within the job limit."""
    require_size(size, get_settings().max_job_audio_bytes)
    if size == 0:
        raise AudioEmpty("the audio object is empty", details={"key": key})
    fmt = sniff_format(head)
    check_header(head, fmt)  # a WAV's impossible header or rate: refused before anything is stored
    return JobRecording(FORMATS[fmt], require_job_duration(head, size, fmt))


def require_job_duration(head: bytes, total: int, fmt: str) -> float | None:
    """422 ``audio_too_long`` when the header says the recording is over the job limit (an
    upload at submit, a fetched URL in the workflow: the same check). Returns the duration."""
    limit = get_settings().max_job_duration_s
    duration = probe_duration_s(head, total, fmt=fmt)
    if duration is not None and duration > limit:
        raise AudioError(f"the recording lasts {duration:.0f} s; the limit is {limit:.0f} s",
                         code="audio_too_long",
                         details={"duration_s": round(duration, 3), "limit_s": limit})
    return duration
