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
     "priority": "realtime" | "interactive" | "batch"}                # default interactive

``priority`` orders work on the node's models (scheduling.py): live stream utterances
(``realtime``) before request-path work (``interactive``: enrollment, consent checks) before
transcription jobs (``batch``), which step aside between pieces while more urgent work waits.

``transcribe`` answers ``{"duration_s", "language", "model", "segments": [{"start", "end",
"text", "words": [{"start", "end", "word", "probability"}]}], "elapsed_s", "warnings"}``; a
language the configured Whisper model cannot do is a 422 ``unsupported_language``.

Response: ``{"data": {...}}`` with status 200, or ``{"error": {"code", "message"[, "details"]}}``
with a 4xx status for a bad request and 5xx for a node failure.
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
from scaiecho.errors import (
    BadRequest,
    PayloadTooLarge,
    ScaiEchoError,
    StorageError,
    ValidationFailed,
)
from scaiecho.settings import get_settings
from scaiecho_node.engine import MAX_SPEAKERS, CandidateInput
from scaiecho_node.scheduling import Priority, serving

logger = logging.getLogger(__name__)

ACTIONS = ("embed", "diarize", "transcribe", "health", "evict")


class SupportsEngine(Protocol):
    def embed(self, audio: DecodedAudio) -> Any: ...
    def diarize(self, audio: DecodedAudio, candidates: Any = ..., *, min_speakers: int | None = ...,
                max_speakers: int | None = ..., num_speakers: int | None = ...) -> Any: ...
    def transcribe(self, audio: DecodedAudio, language: str | None = ..., *,
                   word_timestamps: bool = ...) -> Any: ...
    def health(self) -> Any: ...
    def evict(self, speaker_ids: Any) -> Any: ...


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
    """Validates a request, calls one engine action, shapes the response."""

    engine: SupportsEngine
    s3: S3AudioReader = field(default_factory=S3AudioReader)

    def handle_bytes(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            return error_response(BadRequest("the request body is not valid JSON", code="invalid_json"))
        return self.handle(payload)

    def handle(self, payload: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request; never raises."""
        try:
            return 200, {"data": self._dispatch(payload)}
        except ScaiEchoError as exc:
            return error_response(exc)
        except Exception as exc:
            logger.exception("node invocation failed")
            return error_response(
                ScaiEchoError(f"the node failed: {type(exc).__name__}: {exc}", code="node_failure")
            )

    def _dispatch(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise BadRequest("the request body must be a JSON object", code="invalid_request")
        action = payload.get("action")
        if action not in ACTIONS:
            raise BadRequest(
                f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}",
                code="unknown_action",
            )
        try:
            priority = Priority.parse(payload.get("priority"))
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="invalid_priority") from None
        with serving(priority):
            return self._run(action, payload)

    def _run(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "health":
            result = self.engine.health()
        elif action == "evict":
            result = self.engine.evict(_speaker_ids(payload))
        elif action == "embed":
            result = self.engine.embed(self._audio(payload, _embed_limit_s()))
        elif action == "transcribe":
            language = payload.get("language")
            if language is not None and not isinstance(language, str):
                raise ValidationFailed('language must be a string such as "en", or null',
                                       code="invalid_language")
            words = payload.get("word_timestamps", True)
            if not isinstance(words, bool):
                raise ValidationFailed("word_timestamps must be true or false", code="invalid_request")
            result = self.engine.transcribe(self._audio(payload, _job_limit_s()), language,
                                            word_timestamps=words)
        else:
            candidates = _candidates(payload)
            bounds = {k: _optional_int(payload, k) for k in ("min_speakers", "max_speakers", "num_speakers")}
            result = self.engine.diarize(self._audio(payload, _job_limit_s()), candidates, **bounds)
        data: dict[str, Any] = result.serialize()
        return data

    def _audio(self, payload: dict[str, Any], max_duration_s: float) -> DecodedAudio:
        audio = payload.get("audio")
        if not isinstance(audio, dict):
            raise BadRequest(
                'this action needs "audio": {"b64": ...} or {"s3": {"bucket", "key"}}',
                code="missing_audio",
            )
        media_type = audio.get("media_type")
        if "b64" in audio:
            raw = audio["b64"]
            if not isinstance(raw, str):
                raise BadRequest("audio.b64 must be a base64 string", code="invalid_audio_encoding")
            if len(raw) > get_settings().node_max_audio_bytes * 4 // 3 + 4:
                raise PayloadTooLarge("inline audio is too large; pass it by S3 reference")
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadRequest("audio.b64 is not valid base64", code="invalid_audio_encoding") from exc
        elif "s3" in audio:
            ref = audio["s3"]
            if not isinstance(ref, dict) or not all(
                isinstance(ref.get(k), str) and ref.get(k) for k in ("bucket", "key")
            ):
                raise BadRequest('audio.s3 needs "bucket" and "key" strings', code="missing_audio")
            data, content_type = self.s3.read(ref["bucket"], ref["key"], ref.get("version_id"))
            media_type = media_type or content_type
        else:
            raise BadRequest('audio needs "b64" or "s3"', code="missing_audio")
        return decode_audio(data, media_type=media_type, max_duration_s=max_duration_s)


# Decoding stops at the longest audio any caller may send for the action, so a request cannot
# make a node decode (and hold in RAM) more than that, whatever its header claims.
def _embed_limit_s() -> float:
    settings = get_settings()
    return max(settings.max_enroll_audio_s, settings.voice_sample_max_s)


def _job_limit_s() -> float:
    return get_settings().max_job_duration_s


def error_response(exc: ScaiEchoError) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    return exc.status, {"error": body}


def _optional_int(payload: dict[str, Any], key: str) -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{key} must be an integer between 1 and {MAX_SPEAKERS}")
    return value


def _candidates(payload: dict[str, Any]) -> list[CandidateInput]:
    raw = payload.get("candidates") or []
    if not isinstance(raw, list):
        raise ValidationFailed("candidates must be a list")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValidationFailed(f"candidates[{i}] must be an object")
        sid, emb = item.get("speaker_id"), item.get("embedding")
        if not isinstance(sid, str) or not sid:
            raise ValidationFailed(f"candidates[{i}].speaker_id must be a non-empty string")
        if not isinstance(emb, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in emb
        ):
            raise ValidationFailed(f"candidates[{i}].embedding must be a list of numbers")
        out.append(CandidateInput(speaker_id=sid, embedding=[float(x) for x in emb]))
    return out


def _speaker_ids(payload: dict[str, Any]) -> list[str]:
    ids = payload.get("speaker_ids")
    if not isinstance(ids, list) or not all(isinstance(x, str) and x for x in ids):
        raise ValidationFailed("speaker_ids must be a list of non-empty strings")
    return ids
