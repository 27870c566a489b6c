"""The one place that maps errors to HTTP responses: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from scaiecho.errors import ScaiEchoError
from scaiecho.observability import get_logger

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


# Details echo what the client sent (field names, ids, values): bounded, and made encodable.
_MAX_TEXT = 200
_MAX_ITEMS = 20
_MAX_DEPTH = 4
_MAX_MESSAGE = 1000


def _text(value: str, limit: int = _MAX_TEXT) -> str:
    # A lone surrogate ("\ud800" in JSON) cannot be encoded as UTF-8: show it escaped.
    safe = value[: limit + 1].encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= limit else safe[:limit] + "…"


def _safe(value: Any, depth: int = 0) -> Any:
    """``value`` as strict JSON: no NaN/Infinity, no unencodable text, bounded size and depth."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _text(value)
    if depth >= _MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        return {_text(str(k)): _safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
    return _text(str(value))


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one shape of every error answer; safe to encode whatever the client sent."""
    err: dict[str, Any] = {"code": code, "message": _text(message, _MAX_MESSAGE)}
    if details is not None:
        err["details"] = _safe(details)
    return {"error": err}


def _response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 429 and isinstance(details, dict) and "retry_after_s" in details:
        headers = {"Retry-After": str(int(details["retry_after_s"]))}
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def domain_error_response(exc: ScaiEchoError) -> JSONResponse:
    return _response(exc.status, exc.code, exc.message, exc.details)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ScaiEchoError)
    async def _domain(_: Request, exc: ScaiEchoError) -> JSONResponse:
        if exc.status >= 500:
            get_logger().warning("request failed", extra={"code": exc.code, "status": exc.status})
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return _response(422, "invalid_json", "the request body is not valid JSON")
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e["msg"]}
            for e in exc.errors()
        ]
        missing = [d["field"] for d, e in zip(details, exc.errors(), strict=True) if e["type"] == "missing"]
        if missing:
            return _response(
                422, "missing_field", f"required field(s) missing: {', '.join(missing)}", details
            )
        return _response(422, "validation_error", "the request is invalid", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        cause = exc.__cause__
        if isinstance(cause, ScaiEchoError):  # raised while FastAPI read the body (size limit)
            return domain_error_response(cause)
        if exc.status_code == 400 and isinstance(cause, RecursionError | ValueError):
            # FastAPI's own body parsing (a JSON body nested too deep for the parser).
            return _response(422, "invalid_json", "the request body is not valid JSON")
        if exc.status_code == 400 and isinstance(exc.__context__, MultiPartException):
            # Starlette's fixed texts: too many parts or fields, a field too large, bad framing.
            return _response(400, "invalid_multipart", str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code, "error")
        return _response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        get_logger().exception("unhandled error", extra={"error_type": type(exc).__name__})
        return _response(500, "internal_error", "an internal error occurred")
