"""Shapes every route shares: ``{"data": T}``, pages, and the error body."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class ApiModel(BaseModel):
    """A shape this API builds itself: an unknown field is a bug, never silently sent."""

    model_config = ConfigDict(extra="forbid")


class StoredModel(BaseModel):
    """A shape read back from storage (records of any age): fields beyond the documented ones
    are passed through as they were stored."""

    model_config = ConfigDict(extra="allow")


class Envelope(BaseModel, Generic[T]):
    """Every JSON answer: ``{"data": …}``."""

    model_config = ConfigDict(extra="forbid")
    data: T


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` (null on the last page) fetches the next."""

    model_config = ConfigDict(extra="forbid")
    data: list[T]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: last page")


class ErrorDetail(ApiModel):
    code: str = Field(description="snake_case, stable: what clients branch on")
    message: str
    details: Any = Field(None, description="what the request got wrong (absent when nothing to add)")


class ErrorBody(ApiModel):
    """Every error answer: ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorDetail


_ERROR_TEXT = {
    400: "Malformed request (bad multipart framing, too many parts)",
    401: "Missing or invalid API key",
    403: "The key lacks a scope this operation needs",
    404: "Not found (another tenant's resource is not found either)",
    409: "Conflict with the resource's state",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed (error.code says which rule)",
    429: "Rate or quota limit reached (Retry-After says when to retry)",
    502: "An upstream service (a node, the STT relay) failed",
    503: "A dependency is unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry of a route: each status it can answer with an error body."""
    return {s: {"model": ErrorBody, "description": _ERROR_TEXT.get(s, "Error")} for s in statuses}


AUTH_ERRORS = (401, 403, 422, 429)


def json_answer(model: BaseModel, status_code: int) -> JSONResponse:
    """A model as the body of an answer whose status the route picks at run time (fields left
    unset stay absent, as with ``response_model_exclude_unset``)."""
    return JSONResponse(model.model_dump(mode="json", exclude_unset=True), status_code=status_code)
