"""The pyannote node's ``invocations`` protocol: one typed model per message, read on both sides.

The core builds requests with these models (:class:`scaiecho.adapters.nodes.NodeClient`) and
reads replies into them; the node parses requests with :func:`parse_request` and builds its
replies from the result models (``scaiecho_node.results`` / ``asr``), so neither side assembles
a dict of its own. The wire format is the one the node has always spoken::

    request   {"action": "embed" | "diarize" | "transcribe" | "health" | "evict", ...}
    success   {"data": {...one result...}}                                   (HTTP 200)
    failure   {"error": {"code", "message"[, "details"]}}                    (4xx / 5xx)

A request is a discriminated union on ``action``; ``audio`` is either inline
(``{"b64", "media_type"?}``) or an S3 reference (``{"s3": {"bucket", "key", "version_id"?}}``).
Unknown request fields are ignored (older and newer senders interoperate), as before.

Result fields with defaults are descriptive (quality, timings, model metadata): the node always
sends them, but no reader needs them, so a reply without them (an older node, a test double) is
still read. The fields callers act on (embeddings, turns, segments, ...) are required.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from scaiecho.errors import BadRequest, ScaiEchoError, ValidationFailed

ACTIONS = ("embed", "diarize", "transcribe", "health", "evict")
MAX_SPEAKERS = 20  # the most speakers a diarize request may ask for (min/max/num_speakers)

Priority = Literal["realtime", "interactive", "batch"]
NonEmpty = Annotated[StrictStr, Field(min_length=1)]
SpeakerCount = Annotated[StrictInt, Field(ge=1, le=MAX_SPEAKERS)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ------------------------------------------------------------------------------ audio
class InlineAudio(_Message):
    """Audio bytes in the request (base64): short recordings (consent checks, stream utterances)."""

    b64: StrictStr
    media_type: StrictStr | None = None

    @classmethod
    def of(cls, data: bytes, media_type: str | None = None) -> InlineAudio:
        return cls(b64=base64.b64encode(data).decode("ascii"), media_type=media_type)


class S3Object(_Message):
    bucket: NonEmpty
    key: NonEmpty
    version_id: StrictStr | None = None


class S3Audio(_Message):
    """Audio by reference: the node reads the object (long recordings: jobs, enrollment)."""

    s3: S3Object
    media_type: StrictStr | None = None

    @classmethod
    def at(cls, bucket: str, key: str, version_id: str | None = None) -> S3Audio:
        return cls(s3=S3Object(bucket=bucket, key=key, version_id=version_id))


def _audio_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "b64" if "b64" in value else "s3" if "s3" in value else None
    if isinstance(value, InlineAudio):
        return "b64"
    return "s3" if isinstance(value, S3Audio) else None


Audio = Annotated[
    Annotated[InlineAudio, Tag("b64")] | Annotated[S3Audio, Tag("s3")],
    Discriminator(_audio_kind),
]


# ------------------------------------------------------------------------------ requests
class _Request(_Message):
    # live stream utterances, then request-path work, then jobs (scaiecho_node.scheduling)
    priority: Priority = "interactive"

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        if value is None:  # absent or null: the request path
            return "interactive"
        return value.lower() if isinstance(value, str) else value

    def wire(self) -> dict[str, Any]:
        """The JSON object sent to the node (unset optional fields are left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class HealthRequest(_Request):
    action: Literal["health"] = "health"


class EvictRequest(_Request):
    """Drop the node's cached state for these speakers (erasure, profile deletion)."""

    action: Literal["evict"] = "evict"
    speaker_ids: list[NonEmpty]


class EmbedRequest(_Request):
    """An enrollment / voice-profile / utterance embedding of ``audio``."""

    action: Literal["embed"] = "embed"
    audio: Audio


class Candidate(_Message):
    """An enrolled voiceprint the node may identify a cluster as."""

    speaker_id: NonEmpty
    embedding: list[StrictFloat]


class DiarizeRequest(_Request):
    action: Literal["diarize"] = "diarize"
    audio: Audio
    candidates: list[Candidate] = Field(default_factory=list)
    min_speakers: SpeakerCount | None = None
    max_speakers: SpeakerCount | None = None
    num_speakers: SpeakerCount | None = None

    @field_validator("candidates", mode="before")
    @classmethod
    def _no_candidates(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _bounds(self) -> DiarizeRequest:
        if (self.min_speakers is not None and self.max_speakers is not None
                and self.min_speakers > self.max_speakers):
            raise ValueError("min_speakers must not exceed max_speakers")
        return self


class TranscribeRequest(_Request):
    action: Literal["transcribe"] = "transcribe"
    audio: Audio
    language: StrictStr | None = None  # None: detected (multilingual models) or the model's own
    word_timestamps: StrictBool = True
    # Whisper's encoder window for short audio without word timestamps: "short" (10 s, a quarter
    # of the work) or "full" (30 s); None: short for realtime work, else full (scaiecho_node.asr)
    window: Literal["short", "full"] | None = None


NodeRequest = Annotated[
    HealthRequest | EvictRequest | EmbedRequest | DiarizeRequest | TranscribeRequest,
    Field(discriminator="action"),
]
_REQUEST: TypeAdapter[NodeRequest] = TypeAdapter(NodeRequest)


def parse_request(payload: Any) -> NodeRequest:
    """The request in ``payload`` (decoded JSON), or the error the node answers with: 400 for a
    request it cannot read (not an object, unknown action, no usable audio), 422 for a field
    with a bad value."""
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_request")
    action = payload.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise BadRequest(
            f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}", code="unknown_action"
        )
    try:
        return _REQUEST.validate_python(payload)
    except ValidationError as exc:
        raise _request_error(exc) from None


# The order in which a request's problems are reported (one at a time, the first one).
_FIELD_ORDER = ("priority", "speaker_ids", "language", "word_timestamps", "candidates",
                "min_speakers", "max_speakers", "num_speakers", "audio")
_MISSING_AUDIO = 'this action needs "audio": {"b64": ...} or {"s3": {"bucket", "key"}}'


def _request_error(exc: ValidationError) -> ScaiEchoError:
    def rank(err: Any) -> int:
        loc = err["loc"][1:]  # [0] is the action's tag
        return _FIELD_ORDER.index(loc[0]) if loc and loc[0] in _FIELD_ORDER else -1

    err = min(exc.errors(), key=rank)
    loc: tuple[Any, ...] = tuple(err["loc"][1:])
    field = loc[0] if loc else None
    if field == "priority":
        return ValidationFailed("priority must be one of realtime, interactive, batch",
                                code="invalid_priority")
    if field == "speaker_ids":
        return ValidationFailed("speaker_ids must be a list of non-empty strings")
    if field == "language":
        return ValidationFailed('language must be a string such as "en", or null',
                                code="invalid_language")
    if field == "word_timestamps":
        return ValidationFailed("word_timestamps must be true or false", code="invalid_request")
    if field == "candidates":
        return ValidationFailed(_candidate_problem(loc[1:]))
    if field in ("min_speakers", "max_speakers", "num_speakers"):
        if err["type"] in ("greater_than_equal", "less_than_equal"):
            return ValidationFailed(f"{field} must be between 1 and {MAX_SPEAKERS}")
        return ValidationFailed(f"{field} must be an integer between 1 and {MAX_SPEAKERS}")
    if field == "audio":
        return _audio_problem(loc[1:], err)
    if field is None and err["type"] == "value_error":  # a model validator's own message
        return ValidationFailed(str(err["ctx"]["error"]))
    where = ".".join(str(part) for part in loc) or "request"
    return ValidationFailed(f"{where}: {err['msg']}", code="invalid_request")


def _candidate_problem(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "candidates must be a list"
    i = loc[0]
    if len(loc) == 1:
        return f"candidates[{i}] must be an object"
    if loc[1] == "speaker_id":
        return f"candidates[{i}].speaker_id must be a non-empty string"
    return f"candidates[{i}].embedding must be a list of numbers"


def _audio_problem(loc: tuple[Any, ...], err: Any) -> ScaiEchoError:
    if not loc:  # absent, not an object, or neither form
        if err["type"] != "missing" and isinstance(err.get("input"), dict):
            return BadRequest('audio needs "b64" or "s3"', code="missing_audio")
        return BadRequest(_MISSING_AUDIO, code="missing_audio")
    kind, rest = loc[0], loc[1:]
    if rest and rest[0] == "media_type":
        return BadRequest("audio.media_type must be a string", code="invalid_request")
    if kind == "b64":
        return BadRequest("audio.b64 must be a base64 string", code="invalid_audio_encoding")
    return BadRequest('audio.s3 needs "bucket" and "key" strings', code="missing_audio")


# ------------------------------------------------------------------------------ results
class AudioQuality(_Message):
    """Signals the enrollment preflight and clients use to judge a reference recording."""

    duration_s: float
    speech_s: float
    speech_ratio: float
    rms_dbfs: float
    clipped_ratio: float
    overlap_s: float


class EmbedResult(_Message):
    embedding: list[float]  # L2-normalised
    dimension: int | None = None
    speech_s: float | None = None
    quality: AudioQuality | None = None
    model_id: str | None = None
    model_version: str | None = None
    warnings: list[str] = Field(default_factory=list)


class Turn(_Message):
    start: float
    end: float
    speaker: str


class SpeakerCluster(_Message):
    label: str
    speech_s: float
    embedding: list[float]  # L2-normalised, the same space as EmbedResult.embedding


class Identification(_Message):
    speaker_id: str
    score: float  # [0, 1], 0.5 = the calibrated threshold
    cosine: float


class DiarizeResult(_Message):
    duration_s: float | None = None
    num_speakers: int | None = None
    turns: list[Turn]
    # the same speakers with overlap resolved to the most likely one (word attribution)
    exclusive_turns: list[Turn] = Field(default_factory=list)
    speakers: list[SpeakerCluster]
    identified: dict[str, Identification]  # cluster label -> candidate
    model_id: str | None = None
    model_version: str | None = None
    processing_s: float | None = None
    warnings: list[str] = Field(default_factory=list)


class AsrWord(_Message):
    start: float
    end: float
    word: str
    probability: float


class AsrSegment(_Message):
    start: float
    end: float
    text: str
    words: list[AsrWord] = Field(default_factory=list)


class TranscribeResult(_Message):
    duration_s: float | None = None
    language: str | None = None
    model: str | None = None
    segments: list[AsrSegment]
    elapsed_s: float | None = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def text(self) -> str:
        """The segments' text, one space between them."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


class HealthResult(_Message):
    status: str = "ok"
    node_id: str | None = None
    engine: str = "pyannote"
    model_id: str | None = None
    model_version: str | None = None
    model_dir: str | None = None
    device: str | None = None
    embedding_dim: int | None = None
    sample_rate: int | None = None
    pyannote_version: str | None = None
    torch_version: str | None = None
    identification_threshold: float | None = None
    load_time_s: float | None = None


class EvictResult(_Message):
    evicted: list[str]
    not_held: list[str]


NodeResult = EmbedResult | DiarizeResult | TranscribeResult | HealthResult | EvictResult


def data_reply(result: NodeResult) -> dict[str, Any]:
    """The success body: ``{"data": {...}}``."""
    return {"data": result.model_dump(mode="json")}


# ------------------------------------------------------------------------------ errors
class ErrorBody(_Message):
    code: str
    message: str
    details: Any = None


class ErrorReply(_Message):
    """The node's failure body; ``details`` is present only when there are some."""

    error: ErrorBody

    def wire(self) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        if self.error.details is None:
            del body["error"]["details"]
        return body


def error_reply(exc: ScaiEchoError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for a failure: the one place the node writes its error body."""
    return exc.status, ErrorReply(
        error=ErrorBody(code=exc.code, message=exc.message, details=exc.details)
    ).wire()
