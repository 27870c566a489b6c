"""The node's ``invocations`` contract (SageMaker runtime style): JSON in, JSON out.

One dispatcher serves the local node process and the SageMaker handler alike.

Request::

    {"action": "embed" | "diarize" | "transcribe" | "health" | "evict",
     "audio": {"b64": "<base64 bytes>", "media_type": "audio/wav"?}
              | {"s3": {"bucket": "...", "key": "...", "version_id": "..."?}},
     "candidates": [{"speaker_id": "...", "embedding": [...]}],      # diarize
     "min_speakers": 1, "max_speakers": 4, "num_speakers": null,     # diarize
     "speaker_ids": ["..."],                                          # evict
     "language": "en" | null, "word_timestamps": true,                 # transcribe
     "window": "short" | "full" | null,                               # transcribe
     "priority": "realtime" | "interactive" | "batch"}                # default interactive

``priority`` orders work on the node's models (scheduling.py): live stream utterances
(``realtime``) before request-path work (``interactive``: enrollment, consent checks) before
transcription jobs (``batch``), which step aside between pieces while more urgent work waits.

``transcribe`` answers ``{"duration_s", "language", "model", "segments": [{"start", "end",
"text", "words": [{"start", "end", "word", "probability"}]}], "elapsed_s", "warnings"}``; a
language the configured Whisper model cannot do is a 422 ``unsupported_language``.

Response: ``{"data": {...}}`` with status 200, or ``{"error": {"code", "message"[, "details"]}}``
with a 4xx status for a bad request and 5xx for a node failure.

Every one of these shapes is a model in :mod:`scaiecho.contracts.node`, which the core's
``NodeClient`` uses too: requests are parsed once (``parse_request``), replies are the engine
results' reply models (``contract()``), and the error body is written by ``error_reply`` only.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from scaiecho.audio.decode import DecodedAudio, decode_audio
from scaiecho.contracts.node import (
    Audio,
    DiarizeRequest,
    EmbedRequest,
    EvictRequest,
    HealthRequest,
    InlineAudio,
    NodeRequest,
    NodeResult,
    TranscribeRequest,
    data_reply,
    error_reply,
    parse_request,
)
from scaiecho.errors import BadRequest, PayloadTooLarge, ScaiEchoError, StorageError
from scaiecho.settings import get_settings
from scaiecho_node.engine import CandidateInput
from scaiecho_node.scheduling import Priority, serving

logger = logging.getLogger(__name__)


class Replies(Protocol):
    """What an engine action returns: a result that knows its reply model."""

    def contract(self) -> Any: ...


class SupportsEngine(Protocol):
    def embed(self, audio: DecodedAudio) -> Replies: ...
    def diarize(self, audio: DecodedAudio, candidates: Any = ..., *, min_speakers: int | None = ...,
                max_speakers: int | None = ..., num_speakers: int | None = ...) -> Replies: ...
    def transcribe(self, audio: DecodedAudio, language: str | None = ..., *,
                   word_timestamps: bool = ..., short_window: bool | None = ...) -> Replies: ...
    def health(self) -> Replies: ...
    def evict(self, speaker_ids: Any) -> Replies: ...


@dataclass
class S3AudioReader:
    """Reads audio objects from S3; the boto3 client is created on first use, never at import.

    boto3 honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_S3``), so the same code reads
    from the local moto stack.
    """

    client_factory: Callable[[], Any] | None = None
    # SCAIECHO_NODE_MAX_AUDIO_MB (200 MB: a 2 h 16-bit mono WAV is ~230 MB; compress long audio).
    max_bytes: int = field(default_factory=lambda: get_settings().node_max_audio_bytes)
    _client: Any = field(default=None, init=False, repr=False)

    @property
    def client(self) -> Any:
        if self._client is None:
            if self.client_factory is not None:
                self._client = self.client_factory()
            else:
                import boto3

                self._client = boto3.client("s3")
        return self._client

    def read(self, bucket: str, key: str, version_id: str | None = None) -> tuple[bytes, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            obj = self.client.get_object(**kwargs)
            size = int(obj.get("ContentLength") or 0)
            if size > self.max_bytes:
                raise PayloadTooLarge(f"s3://{bucket}/{key} is {size} bytes; limit {self.max_bytes}")
            return obj["Body"].read(), obj.get("ContentType")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "NoSuchBucket", "404", "NoSuchVersion"):
                raise BadRequest(
                    f"audio s3://{bucket}/{key} does not exist", code="audio_not_found"
                ) from exc
            raise StorageError(f"could not read s3://{bucket}/{key}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc


@dataclass
class Dispatcher:
    """Parses a request with the contract, calls one engine action, replies with its result."""

    engine: SupportsEngine
    s3: S3AudioReader = field(default_factory=S3AudioReader)

    def handle_bytes(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            return error_reply(BadRequest("the request body is not valid JSON", code="invalid_json"))
        return self.handle(payload)

    def handle(self, payload: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request; never raises."""
        try:
            request = parse_request(payload)
            with serving(Priority[request.priority.upper()]):
                return 200, data_reply(self._run(request))
        except ScaiEchoError as exc:
            return error_reply(exc)
        except Exception as exc:
            logger.exception("node invocation failed")
            return error_reply(
                ScaiEchoError(f"the node failed: {type(exc).__name__}: {exc}", code="node_failure")
            )

    def _run(self, request: NodeRequest) -> NodeResult:
        result: Replies
        match request:
            case HealthRequest():
                result = self.engine.health()
            case EvictRequest(speaker_ids=speaker_ids):
                result = self.engine.evict(speaker_ids)
            case EmbedRequest(audio=audio):
                result = self.engine.embed(self._audio(audio, _embed_limit_s()))
            case TranscribeRequest(audio=audio, language=language, word_timestamps=words,
                                   window=window):
                result = self.engine.transcribe(
                    self._audio(audio, _job_limit_s()), language, word_timestamps=words,
                    short_window=None if window is None else window == "short")
            case DiarizeRequest():
                result = self.engine.diarize(
                    self._audio(request.audio, _job_limit_s()),
                    [CandidateInput(c.speaker_id, c.embedding) for c in request.candidates],
                    min_speakers=request.min_speakers, max_speakers=request.max_speakers,
                    num_speakers=request.num_speakers,
                )
        reply: NodeResult = result.contract()
        return reply

    def _audio(self, audio: Audio, max_duration_s: float) -> DecodedAudio:
        media_type = audio.media_type
        if isinstance(audio, InlineAudio):
            if len(audio.b64) > get_settings().node_max_audio_bytes * 4 // 3 + 4:
                raise PayloadTooLarge("inline audio is too large; pass it by S3 reference")
            try:
                data = base64.b64decode(audio.b64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadRequest("audio.b64 is not valid base64", code="invalid_audio_encoding") from exc
        else:
            ref = audio.s3
            data, content_type = self.s3.read(ref.bucket, ref.key, ref.version_id)
            media_type = media_type or content_type
        return decode_audio(data, media_type=media_type, max_duration_s=max_duration_s)


# Decoding stops at the longest audio any caller may send for the action, so a request cannot
# make a node decode (and hold in RAM) more than that, whatever its header claims.
def _embed_limit_s() -> float:
    settings = get_settings()
    return max(settings.max_enroll_audio_s, settings.voice_sample_max_s)


def _job_limit_s() -> float:
    return get_settings().max_job_duration_s
