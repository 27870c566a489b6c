"""The streaming protocol (WebSocket): client frames in, server frames out. Pure, no I/O.

Client → server::

    {"type": "open", "language_hint": "en"|null, "media_type": "audio/wav"|"audio/pcm",
     "diarize": false, "sample_rate": 16000}                 # sample_rate: audio/pcm only
    {"type": "audio", "data": "<base64>"}                     # or a binary frame (local gateway)
    {"type": "close"}

Server → client::

    {"type": "ready", "backend_used": "A"|"B"}
    {"type": "delta", "seq", "text", "start", "end", "final", "speaker_label"?, ...}
    {"type": "closed"}
    {"type": "error", "code", "message"}

Every violation is a :class:`StreamError` with a stable code; ``fatal`` errors end the session
(the server sends the error frame, deletes the session and closes the connection).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scaiecho.contracts.stream import (
    DEFAULT_SAMPLE_RATE,
    LANGUAGE_PATTERN,
    MAX_FRAME_BYTES,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    ClosedFrame,
    DeltaFrame,
    ErrorFrame,
    ReadyFrame,
)
from scaiecho.domain.json_documents import InvalidJson, loads_strict

# MAX_FRAME_BYTES: API Gateway's limit; the local gateway enforces the same, so a client that
# works locally works on AWS.
MEDIA_WAV = "audio/wav"
MEDIA_PCM = "audio/pcm"
MEDIA_TYPES = (MEDIA_WAV, MEDIA_PCM)
_LANGUAGE = re.compile(LANGUAGE_PATTERN)


class Backend(StrEnum):
    """A = the platform's own nodes (text + speaker labels); B = managed STT relay (text only)."""

    NODES = "A"
    MANAGED = "B"


class StreamError(Exception):
    """A protocol or session failure reported to the client as an ``error`` frame."""

    def __init__(self, code: str, message: str, *, fatal: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fatal = fatal
        self.extra = extra or {}  # machine-readable hints, e.g. retry_after_s

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.message, **self.extra)


@dataclass(frozen=True)
class OpenParams:
    language_hint: str | None
    media_type: str
    diarize: bool
    sample_rate: int  # audio/pcm: as declared; audio/wav: taken from the stream's header
    match_me: bool = False  # score each delta against the caller's own voice profile

    def serialize(self) -> dict[str, Any]:
        return {"language_hint": self.language_hint, "media_type": self.media_type,
                "diarize": self.diarize, "sample_rate": self.sample_rate, "match_me": self.match_me}


@dataclass(frozen=True)
class OpenFrame:
    params: OpenParams


@dataclass(frozen=True)
class AudioFrame:
    data: bytes


@dataclass(frozen=True)
class CloseFrame:
    pass


ClientFrame = OpenFrame | AudioFrame | CloseFrame


def parse_frame(body: str | bytes | None, *, binary: bool) -> ClientFrame:
    """One client frame. ``binary`` frames are raw audio; text frames are JSON objects."""
    if body is None or len(body) == 0:
        raise StreamError("empty_frame", "empty frame")
    if len(body) > MAX_FRAME_BYTES:
        raise StreamError(
            "frame_too_large",
            f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit; send smaller chunks",
            fatal=True,
        )
    if binary:
        return AudioFrame(body if isinstance(body, bytes) else body.encode())
    try:
        message = loads_strict(body)
    except InvalidJson:
        raise StreamError("invalid_json", "text frames must be JSON objects") from None
    if not isinstance(message, dict):
        raise StreamError("invalid_json", "text frames must be JSON objects")
    kind = message.get("type")
    if kind == "open":
        return OpenFrame(parse_open(message))
    if kind == "audio":
        return AudioFrame(_audio_data(message.get("data")))
    if kind == "close":
        return CloseFrame()
    raise StreamError(
        "unknown_type", f"unknown frame type {repr(kind)[:64]}; expected open, audio or close"
    )


def parse_open(message: dict[str, Any]) -> OpenParams:
    media_type = message.get("media_type")
    if media_type not in MEDIA_TYPES:
        raise StreamError(
            "unsupported_media_type",
            f"media_type {media_type!r} is not supported; use {' or '.join(MEDIA_TYPES)}",
            fatal=True,
        )
    language = message.get("language_hint")
    if language is not None and (not isinstance(language, str) or not _LANGUAGE.match(language)):
        raise StreamError("invalid_open", "language_hint must be a language code like 'en' or null",
                          fatal=True)
    diarize = message.get("diarize", False)
    if not isinstance(diarize, bool):
        raise StreamError("invalid_open", "diarize must be true or false", fatal=True)
    rate = message.get("sample_rate", DEFAULT_SAMPLE_RATE)
    if (
        isinstance(rate, bool) or not isinstance(rate, int)
        or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
    ):
        raise StreamError(
            "invalid_sample_rate",
            f"sample_rate must be an integer from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}",
            fatal=True,
        )
    match_me = message.get("match_me", False)
    if not isinstance(match_me, bool):
        raise StreamError("invalid_open", "match_me must be true or false", fatal=True)
    if match_me and not diarize:
        raise StreamError("match_me_needs_diarize", "match_me=true needs diarize=true", fatal=True)
    return OpenParams(language_hint=language, media_type=media_type, diarize=diarize, sample_rate=rate,
                      match_me=match_me)


def _audio_data(data: Any) -> bytes:
    if not isinstance(data, str) or not data:
        raise StreamError("invalid_audio_encoding", 'audio frames need "data": a base64 string')
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise StreamError("invalid_audio_encoding", "audio data is not valid base64") from None


# ---------------------------------------------------------------- server frames


# Server frames are built from the protocol's models (scaiecho.contracts.stream): what is sent is
# what docs/asyncapi.json describes.
def ready_frame(backend: Backend) -> dict[str, Any]:
    return ReadyFrame(backend_used=backend.value).wire()


def closed_frame() -> dict[str, Any]:
    return ClosedFrame().wire()


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return ErrorFrame(code=code, message=message, **extra).wire()


@dataclass(frozen=True)
class Delta:
    """Text of one stretch of audio, with session times in seconds since the first audio."""

    text: str
    start: float
    end: float
    final: bool = True
    speaker_label: str | None = None
    speaker_name: str | None = None  # an enrolled speaker's display name
    external_id: str | None = None  # that speaker's client-chosen id, when it has one
    match_score: float | None = None
    voice_match_score: float | None = None  # match_me: how likely this is the caller's own voice

    def frame(self, seq: int) -> dict[str, Any]:
        labelled = self.speaker_label is not None  # no speaker, nothing about one

        def score(value: float | None) -> float | None:
            return round(value, 4) if labelled and value is not None else None

        return DeltaFrame(
            seq=seq, text=self.text, start=round(self.start, 3), end=round(self.end, 3),
            final=self.final, speaker_label=self.speaker_label,
            speaker_name=self.speaker_name if labelled else None,
            external_id=self.external_id if labelled else None,
            match_score=score(self.match_score), voice_match_score=score(self.voice_match_score),
        ).wire()
