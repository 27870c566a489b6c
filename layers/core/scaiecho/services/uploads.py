"""An uploaded audio file: size and media-type checks, decoding, hashing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from scaiecho.audio import DecodedAudio, decode_audio
from scaiecho.audio.probe import probe_duration_s
from scaiecho.errors import AudioEmpty, AudioError, PayloadTooLarge, ScaiEchoError
from scaiecho.settings import get_settings

_EXT = {"wav": "wav", "mp3": "mp3", "flac": "flac", "ogg": "ogg", "m4a": "m4a"}


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
        return _EXT[self.audio.source_format]

    @property
    def stored_media_type(self) -> str:
        return {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
                "m4a": "audio/mp4"}[self.audio.source_format]


def check_audio(upload: Upload) -> CheckedAudio:
    """413 past the size limit, 415 for a non-audio type or codec, 422 for empty, malformed,
    undecodable or over-long audio (decoding stops at the enrollment duration limit)."""
    settings = get_settings()
    limit = settings.max_upload_bytes
    if len(upload.data) > limit:
        raise PayloadTooLarge(
            f"'{upload.field}' is larger than the limit of {limit} bytes",
            code="audio_too_large",
            details={"field": upload.field, "limit_bytes": limit},
        )
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


def require_job_duration(head: bytes, total: int) -> None:
    """422 ``audio_too_long`` when the header says the recording is over the job limit (an
    upload at submit, a fetched URL in the workflow: the same check)."""
    limit = get_settings().max_job_duration_s
    duration = probe_duration_s(head, total)
    if duration is not None and duration > limit:
        raise AudioError(f"the recording lasts {duration:.0f} s; the limit is {limit:.0f} s",
                         code="audio_too_long",
                         details={"duration_s": round(duration, 3), "limit_s": limit})
