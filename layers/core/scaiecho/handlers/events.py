"""The events our Lambda functions receive, as models: Step Functions task inputs (shaped by
``statemachine/*.asl.json``) and API Gateway WebSocket route events.

Handlers parse once with the Powertools parser (:func:`parse_event`) and read attributes. Task
inputs ignore keys they do not use (the state machines pass the whole execution state along).
The WebSocket models name only what we read: Powertools' own WebSocket models also require
fields (``identity``, ``connectedAt``, ``multiValueHeaders``) that API Gateway sends but that
neither the handlers nor the local gateway use.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scaiecho.errors import ValidationFailed

E = TypeVar("E", bound=BaseModel)


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _none_as_empty(value: Any) -> Any:
    return {} if value is None else value


# ----------------------------------------------------------------- transcription (transcribe.asl)
class JobTask(_Event):
    tenant_id: str = Field(min_length=1)
    job_id: str = Field(min_length=1)
    bucket: str = Field(min_length=1)
    audio_key: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    _options = field_validator("options", mode="before")(_none_as_empty)

    @property
    def language(self) -> str | None:
        value = self.options.get("language")
        return str(value) if value else None


class MergeTask(JobTask):
    asr: dict[str, Any]
    diarization: dict[str, Any] = Field(default_factory=dict)
    diarization_timeout_s: int | None = None

    _diarization = field_validator("diarization", mode="before")(_none_as_empty)


class JobFailTask(_Event):
    tenant_id: str = Field(min_length=1)
    job_id: str = Field(min_length=1)
    error: dict[str, Any] = Field(default_factory=dict)
    execution_arn: str | None = None

    _error = field_validator("error", mode="before")(_none_as_empty)


# ----------------------------------------------------------------------- enrollment (enroll.asl)
class FindCandidatesTask(_Event):
    node_ids: list[str] | None = None


class EnrollOnNodeTask(_Event):
    tenant_id: str = Field(min_length=1)
    speaker_id: str = Field(min_length=1)
    node: dict[str, Any]
    bucket: str = Field(min_length=1)
    samples: list[dict[str, Any]]


class FinalizeTask(_Event):
    tenant_id: str = Field(min_length=1)
    speaker_id: str = Field(min_length=1)
    candidates: list[dict[str, Any]] = Field(default_factory=list)
    unavailable: list[dict[str, Any]] = Field(default_factory=list)
    results: list[dict[str, Any]] = Field(default_factory=list)
    execution_arn: str | None = None
    started_at: str | None = None

    @field_validator("candidates", "unavailable", "results", mode="before")
    @classmethod
    def _none_as_no_items(cls, value: Any) -> Any:
        return [] if value is None else value


# --------------------------------------------------------------- erasure retry, node probe
class ErasureRetryTask(_Event):
    tenant_id: str = Field(min_length=1)
    audit_id: str = Field(min_length=1)
    attempt: int = 1
    max_attempts: int = 1
    wait_seconds: int = 60


class NodeProbeTask(_Event):
    node_id: str = Field(min_length=1)
    endpoint_name: str = Field(min_length=1)


# ------------------------------------------------------------------- API Gateway WebSocket
class WebSocketAuthorizer(_Event):
    """What our REQUEST authorizer puts in its context (scaiecho.handlers.authorizer)."""

    tenant_id: str = ""
    key_id: str = ""
    scopes: str = ""
    user_id: str | None = None


class WebSocketRequestContext(_Event):
    connection_id: str = Field(alias="connectionId", min_length=1)
    route_key: str | None = Field(default=None, alias="routeKey")
    domain_name: str | None = Field(default=None, alias="domainName")
    stage: str | None = None
    # when API Gateway received the frame (ms): a session's lag is measured from there
    request_time_epoch: float | None = Field(default=None, alias="requestTimeEpoch")
    authorizer: WebSocketAuthorizer | None = None


class WebSocketEvent(_Event):
    request_context: WebSocketRequestContext = Field(alias="requestContext")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    is_base64_encoded: bool = Field(default=False, alias="isBase64Encoded")

    _headers = field_validator("headers", mode="before")(_none_as_empty)


def parse_event(event: Any, model: type[E]) -> E:
    """The event as ``model``, or ``ValidationFailed`` naming what is missing or wrong."""
    try:
        return parse(event=event, model=model)
    except (ValidationError, ValueError, TypeError) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, ValidationError) else exc
        problems = (
            "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in cause.errors())
            if isinstance(cause, ValidationError) else str(exc)
        )
        raise ValidationFailed(f"invalid {model.__name__} event: {problems}",
                               code="invalid_event") from exc
