"""The local WebSocket gateway: API Gateway's WebSocket API, played by a FastAPI route.

For every socket event it builds the event API Gateway would send and calls the same code the
Lambdas run: the REQUEST authorizer, then ``$connect``; one ``$default`` per frame; ``$disconnect``
when the socket ends for any reason. Replies come back through :class:`SocketReplies`, the local
implementation of the ``@connections`` port. Frames of one socket are handled one at a time, in
order. A socket silent for SCAIECHO_STREAM_IDLE_TIMEOUT_S is ended with ``idle_timeout`` (on AWS
the scheduled sweep does that).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import threading
import time
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scaiecho.handlers import authorizer
from scaiecho.handlers.stream import handle_connect, handle_default, handle_disconnect
from scaiecho.local.template import ACCOUNT_ID
from scaiecho.services.streaming import end_idle
from scaiecho.settings import get_settings

STREAM_PATH = "/stream"
LOCAL_STAGE = "local"
LOCAL_API_ID = "local"
_SEND_TIMEOUT_S = 30.0


class SocketReplies:
    """The reply port over live sockets. Handlers run in worker threads; sends hop onto the
    event loop that owns the socket."""

    def __init__(self) -> None:
        self._sockets: dict[str, tuple[WebSocket, asyncio.AbstractEventLoop]] = {}
        self._closed: set[str] = set()
        self._lock = threading.Lock()

    def register(self, connection_id: str, socket: WebSocket, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._sockets[connection_id] = (socket, loop)

    def unregister(self, connection_id: str) -> None:
        with self._lock:
            self._sockets.pop(connection_id, None)
            self._closed.discard(connection_id)

    def is_closed(self, connection_id: str) -> bool:
        with self._lock:
            return connection_id in self._closed or connection_id not in self._sockets

    def send(self, connection_id: str, frame: dict[str, Any]) -> bool:
        with self._lock:
            entry = self._sockets.get(connection_id)
            if entry is None or connection_id in self._closed:
                return False
        socket, loop = entry
        try:
            asyncio.run_coroutine_threadsafe(socket.send_text(json.dumps(frame)), loop).result(
                _SEND_TIMEOUT_S
            )
        except Exception:  # the client went away mid-send: what API Gateway calls GoneException
            return False
        return True

    def close(self, connection_id: str) -> None:
        with self._lock:
            entry = self._sockets.get(connection_id)
            if entry is None or connection_id in self._closed:
                return
            self._closed.add(connection_id)
        socket, loop = entry
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(socket.close(code=1000), loop).result(_SEND_TIMEOUT_S)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sockets)


def _context(connection_id: str, route: str, event_type: str, host: str) -> dict[str, Any]:
    return {"routeKey": route, "eventType": event_type, "connectionId": connection_id,
            "domainName": host, "stage": LOCAL_STAGE, "apiId": LOCAL_API_ID}


def build_router(replies: SocketReplies | None = None) -> APIRouter:
    router = APIRouter()
    port = replies or SocketReplies()
    router.replies = port  # type: ignore[attr-defined]

    @router.websocket(STREAM_PATH)
    async def stream(socket: WebSocket) -> None:
        connection_id = base64.b64encode(secrets.token_bytes(12)).decode()
        host = socket.headers.get("host", "127.0.0.1")
        headers = dict(socket.headers)
        query = dict(socket.query_params)
        region = get_settings().region
        try:
            auth = await run_in_threadpool(authorizer.handle, {
                "type": "REQUEST",
                "methodArn": f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{LOCAL_API_ID}/{LOCAL_STAGE}"
                             "/$connect",
                "headers": headers, "queryStringParameters": query,
                "requestContext": _context(connection_id, "$connect", "CONNECT", host),
            })
        except Exception:  # API Gateway answers 401 for the authorizer's "Unauthorized"
            await _deny(socket, 401, "unauthenticated", "a valid API key is required "
                        "(Authorization: Bearer <key>, X-API-Key: <key> or ?api_key=<key>)")
            return
        ctx = {**_context(connection_id, "$connect", "CONNECT", host), "authorizer": auth["context"]}
        response = await run_in_threadpool(handle_connect, {"headers": headers, "requestContext": ctx})
        if response["statusCode"] != 200:
            error = json.loads(response.get("body") or "{}").get("error", {})
            await _deny(socket, response["statusCode"], error.get("code", "forbidden"),
                        error.get("message", "refused"), response.get("headers"))
            return
        await socket.accept()
        port.register(connection_id, socket, asyncio.get_running_loop())
        try:
            await _pump(socket, connection_id, host, port)
        finally:
            port.unregister(connection_id)
            # $disconnect runs even when the socket's task is being cancelled (server shutdown,
            # a client gone mid-frame): a cancelled scope would otherwise skip it and leak the row.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(handle_disconnect, {
                    "requestContext": _context(connection_id, "$disconnect", "DISCONNECT", host)})
                with contextlib.suppress(Exception):
                    await socket.close()

    return router


async def _pump(socket: WebSocket, connection_id: str, host: str, port: SocketReplies) -> None:
    idle = get_settings().stream_idle_timeout_s
    while not port.is_closed(connection_id):
        try:
            message = await asyncio.wait_for(socket.receive(), timeout=idle)
        except TimeoutError:
            await run_in_threadpool(end_idle, connection_id, port)
            return
        if message["type"] == "websocket.disconnect":
            return
        data, text = message.get("bytes"), message.get("text")
        event: dict[str, Any] = {"requestContext": {
            **_context(connection_id, "$default", "MESSAGE", host),
            "requestTimeEpoch": int(time.time() * 1000),  # as API Gateway stamps it
        }}
        if data is not None:
            event.update(body=base64.b64encode(data).decode(), isBase64Encoded=True)
        else:
            event.update(body=text, isBase64Encoded=False)
        await run_in_threadpool(handle_default, event, port)


async def _deny(socket: WebSocket, status: int, code: str, message: str,
                headers: dict[str, str] | None = None) -> None:
    """Refuse the handshake with an HTTP status (as API Gateway does), or close with 1008."""
    body = JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)
    try:
        await socket.send_denial_response(body)
    except RuntimeError:  # the server lacks the websocket.http.response extension
        await socket.close(code=1008, reason=code)


def mount(app: FastAPI, prefix: str) -> SocketReplies:
    """Serve the stream route on ``app`` under ``prefix``; returns its reply port."""
    router = build_router()
    app.include_router(router, prefix=prefix)
    replies: SocketReplies = router.replies  # type: ignore[attr-defined]
    return replies
