"""The streaming WebSocket protocol as typed messages: what a client sends, what the server sends.

The server builds every frame it sends from these models (:mod:`scaiecho.domain.streaming`),
the parser accepts exactly the client messages they describe (a property test holds the two
together), and ``docs/asyncapi.json`` is generated from them
(``python -m scaiecho.contracts.stream > docs/asyncapi.json``; a test fails when it drifts).
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

MAX_FRAME_BYTES = 32 * 1024  # API Gateway WebSocket frames are at most 32 KB
MIN_SAMPLE_RATE, DEFAULT_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 16_000, 48_000
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        """The JSON object on the socket (optional fields left out when unset)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# ---------------------------------------------------------------- client → server
class _ClientMessage(_Frame):
    # what the server's parser accepts: JSON types as they are, unknown fields ignored
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class OpenMessage(_ClientMessage):
    """First frame: how the audio will come and what to do with it."""

    type: Literal["open"]
    media_type: Literal["audio/wav", "audio/pcm"] = Field(
        description="audio/pcm: 16-bit little-endian mono at sample_rate; audio/wav: a WAV stream "
        "(its header gives the rate)")
    language_hint: Annotated[str, Field(pattern=LANGUAGE_PATTERN)] | None = Field(
        None, description="a language code like 'en'; null lets the recogniser choose")
    diarize: bool = Field(False, description="label deltas with speakers (needs scaiecho:diarize)")
    sample_rate: int = Field(DEFAULT_SAMPLE_RATE, ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE,
                             description="audio/pcm only")
    match_me: bool = Field(False, description="score each delta against the caller's voice "
                           "profile (voiceMatchScore); needs diarize and a user-bound key")

    @model_validator(mode="after")
    def _match_me_needs_diarize(self) -> OpenMessage:
        if self.match_me and not self.diarize:
            raise ValueError("match_me=true needs diarize=true")
        return self


class AudioMessage(_ClientMessage):
    """Audio, base64 in a text frame (a binary frame of raw audio also works where the
    transport allows it)."""

    type: Literal["audio"]
    data: Annotated[str, Field(min_length=1, description="base64 of the audio bytes")]

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("audio data is not valid base64") from None
        return value


class CloseMessage(_ClientMessage):
    """No more audio: the rest is recognised, then ``closed`` comes and the socket closes."""

    type: Literal["close"]


ClientMessage = Annotated[OpenMessage | AudioMessage | CloseMessage, Field(discriminator="type")]


# ---------------------------------------------------------------- server → client
class ReadyFrame(_Frame):
    """The session is open; ``backend_used``: A = the platform's nodes (text + speakers),
    B = managed speech-to-text (text only)."""

    type: Literal["ready"] = "ready"
    backend_used: Literal["A", "B"]


class DeltaFrame(_Frame):
    """Text of one utterance, times in seconds since the session's first audio."""

    type: Literal["delta"] = "delta"
    seq: int = Field(ge=0, description="0, 1, 2… in the order sent")
    text: str
    start: float
    end: float
    final: bool = True
    speaker_label: str | None = Field(
        None, description="an enrolled speaker's id, or a per-session spk_N; absent without diarize")
    speaker_name: str | None = Field(None, description="the enrolled speaker's display name")
    external_id: str | None = Field(None, description="the enrolled speaker's client-chosen id")
    match_score: float | None = Field(None, ge=0, le=1, description="identification confidence")
    voice_match_score: float | None = Field(
        None, alias="voiceMatchScore", ge=0, le=1,
        description="match_me: how likely this is the caller's own voice")


class ClosedFrame(_Frame):
    type: Literal["closed"] = "closed"


class ErrorFrame(_Frame):
    """A problem with a frame or the session. After a fatal one (see docs/streaming.md) the
    server closes the connection. Some carry hints: retry_after_s, capacity, lag_s."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["error"] = "error"
    code: str
    message: str
    retry_after_s: float | None = None
    capacity: int | None = None
    lag_s: float | None = None


ServerFrame = Annotated[ReadyFrame | DeltaFrame | ClosedFrame | ErrorFrame, Field(discriminator="type")]

SERVER_FRAMES: TypeAdapter[Any] = TypeAdapter(ServerFrame)
CLIENT_MESSAGES: TypeAdapter[Any] = TypeAdapter(ClientMessage)


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0 description of the socket, schemas generated from the models above."""
    messages: dict[str, type[_Frame]] = {
        "open": OpenMessage, "audio": AudioMessage, "close": CloseMessage,
        "ready": ReadyFrame, "delta": DeltaFrame, "closed": ClosedFrame, "error": ErrorFrame,
    }
    client_side, server_side = ("open", "audio", "close"), ("ready", "delta", "closed", "error")
    schemas = {
        model.__name__: model.model_json_schema(
            by_alias=True, mode="validation" if name in client_side else "serialization")
        for name, model in messages.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ScaiEcho streaming transcription",
            "version": "1",
            "description": "Live transcript deltas labelled with the enrolled speaker who said them. "
            "Authenticate on the handshake (Authorization: Bearer <key>, X-API-Key, or ?api_key=). "
            f"Frames are at most {MAX_FRAME_BYTES} bytes. Generated from scaiecho.contracts.stream.",
        },
        "servers": {
            "local": {"host": "127.0.0.1:8000", "protocol": "ws",
                      "pathname": "/v1/modules/scaiecho/stream"},
            "aws": {"host": "{api_id}.execute-api.{region}.amazonaws.com", "protocol": "wss",
                    "pathname": "/{stage}",
                    "variables": {"api_id": {}, "region": {}, "stage": {}}},
        },
        "channels": {
            "stream": {
                "address": "/",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            },
        },
        "operations": {
            "sendClientFrames": {
                "action": "send", "channel": {"$ref": "#/channels/stream"},
                "messages": [{"$ref": f"#/channels/stream/messages/{n}"} for n in client_side],
            },
            "receiveServerFrames": {
                "action": "receive", "channel": {"$ref": "#/channels/stream"},
                "messages": [{"$ref": f"#/channels/stream/messages/{n}"} for n in server_side],
            },
        },
        "components": {
            "messages": {
                name: {"name": name, "contentType": "application/json",
                       "payload": {"$ref": f"#/components/schemas/{model.__name__}"}}
                for name, model in messages.items()
            },
            "schemas": schemas,
        },
    }


if __name__ == "__main__":
    json.dump(asyncapi_document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
