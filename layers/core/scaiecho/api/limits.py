"""Request bodies bounded before anything parses or spools them (an ASGI middleware).

* A declared ``Content-Length`` over the route's limit is refused at once (413), and a body that
  streams past it (chunked, or lying about its length) is cut off as it arrives: multipart parts
  are never spooled to disk beyond what the route could accept.
* JSON bodies (small by nature) are read whole, up to MAX_JSON_BYTES (JSON enrollment: its two
  base64 recordings at the upload limit), and must be strict JSON (no NaN/Infinity, bounded
  nesting) before any route or FastAPI's own parser sees them.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaiecho.api.errors import error_body
from scaiecho.domain.json_documents import InvalidJson, loads_strict
from scaiecho.errors import PayloadTooLarge
from scaiecho.settings import Settings, get_settings

MAX_JSON_BYTES = 1024 * 1024
# Multipart requests carry a few parts: two files at most, and the enrollment's seven fields.
MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 32
# Form fields, part headers and boundaries on top of the audio parts themselves.
_FORM_OVERHEAD = 1024 * 1024


def body_limit(path: str, settings: Settings) -> int:
    """The largest body a route can accept: its file parts at their limits, plus the fields."""
    if path.endswith("/transcribe"):
        return settings.max_job_audio_bytes + _FORM_OVERHEAD
    if path.endswith("/voice-profile"):
        return settings.voice_sample_max_bytes + _FORM_OVERHEAD
    return 2 * settings.max_upload_bytes + _FORM_OVERHEAD  # enrollment: reference + consent


def json_limit(path: str, settings: Settings) -> int:
    """JSON bodies are small, except enrollment's (POST /speakers): base64 reference + consent
    recordings at the upload limit, plus the fields."""
    if path.endswith("/speakers"):
        return 2 * ((settings.max_upload_bytes + 2) // 3 * 4) + _FORM_OVERHEAD
    return MAX_JSON_BYTES


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes",
                           code="request_too_large", details={"limit_bytes": limit})


class RequestLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        is_json = media == "application/json" or media.endswith("+json")
        settings = get_settings()
        limit = json_limit(scope["path"], settings) if is_json else body_limit(scope["path"], settings)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _reply(scope, receive, send, 400, "invalid_content_length",
                             "Content-Length must be a number of bytes")
                return
            if int(declared) > limit:
                exc = _too_large(limit)
                await _reply(scope, receive, send, exc.status, exc.code, exc.message, exc.details)
                return
        if is_json:
            await self._json(scope, receive, send, limit)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)  # rendered by the one error mapper
            return message

        await self.app(scope, bounded, send)

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                exc = _too_large(limit)
                await _reply(scope, receive, send, exc.status, exc.code, exc.message, exc.details)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        if body.strip():
            try:
                loads_strict(body)
            except InvalidJson as exc:
                await _reply(scope, receive, send, 422, "invalid_json",
                             f"the request body is not valid JSON: {exc}")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reply(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str,
                 details: Any = None) -> None:
    await JSONResponse(error_body(code, message, details), status_code=status)(scope, receive, send)
