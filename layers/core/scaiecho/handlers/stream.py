"""API Gateway WebSocket routes: $connect, $default, $disconnect (+ the idle sweep).

Each entry point takes the event API Gateway sends for that route. On AWS replies go through the
``@connections`` API of the event's ``domainName``/``stage``; the local gateway passes its own
reply port and otherwise calls exactly these functions with events of the same shape.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from typing import Any

from scaiecho.adapters.replies import ApiGatewayReplies, ReplyPort, management_endpoint
from scaiecho.domain.auth import Principal, parse_scopes
from scaiecho.errors import ScaiEchoError, ValidationFailed
from scaiecho.handlers.events import WebSocketEvent, WebSocketRequestContext, parse_event
from scaiecho.observability import get_logger
from scaiecho.services import streaming


def _principal(ctx: WebSocketRequestContext) -> Principal | None:
    auth = ctx.authorizer
    if auth is None or not auth.tenant_id:
        return None
    try:
        scopes = parse_scopes(auth.scopes)
    except ValidationFailed:
        return None
    return Principal(tenant_id=auth.tenant_id, key_id=auth.key_id, scopes=scopes,
                     user_id=auth.user_id or None)


def _reply_endpoint(ctx: WebSocketRequestContext) -> str | None:
    if ctx.domain_name and ctx.stage:
        return management_endpoint(ctx.domain_name, ctx.stage)
    return None


def _response(status: int, code: str | None = None, message: str | None = None,
              retry_after_s: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"statusCode": status}
    if code:
        out["body"] = json.dumps({"error": {"code": code, "message": message or code}})
    if retry_after_s is not None:
        out["headers"] = {"Retry-After": str(retry_after_s)}
    return out


def handle_connect(event: dict[str, Any]) -> dict[str, Any]:
    """Accept the handshake (200) or refuse it (401/403): API Gateway then answers the client."""
    ctx = parse_event(event, WebSocketEvent).request_context
    principal = _principal(ctx)
    if principal is None:  # the REQUEST authorizer guards the route; never trust its absence
        return _response(401, "unauthenticated", "a valid API key is required")
    try:
        streaming.connect(ctx.connection_id, principal, _reply_endpoint(ctx))
    except ScaiEchoError as exc:
        retry = exc.details.get("retry_after_s") if isinstance(exc.details, dict) else None
        return _response(exc.status, exc.code, exc.message, retry)
    return _response(200)


def handle_default(event: dict[str, Any], replies: ReplyPort | None = None) -> dict[str, Any]:
    """One client frame. Errors reach the client as ``error`` frames, never as a failed invoke."""
    parsed = parse_event(event, WebSocketEvent)
    ctx = parsed.request_context
    connection_id = ctx.connection_id
    if replies is None:
        endpoint = _reply_endpoint(ctx)
        if endpoint is None:
            raise ValidationFailed("the event has no domainName/stage to reply to")
        replies = ApiGatewayReplies(endpoint)
    body: str | bytes | None = parsed.body
    binary = parsed.is_base64_encoded
    if binary and isinstance(body, str):
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            body = None
    # API Gateway stamps when it received the frame: the session's lag is measured from there
    received_at = ctx.request_time_epoch / 1000.0 if ctx.request_time_epoch is not None else None
    try:
        streaming.StreamSessionHandler(replies).handle(connection_id, body, binary=binary,
                                                       received_at=received_at)
    except ScaiEchoError as exc:  # storage or reply failures: tell the client if we still can
        get_logger().warning("stream frame failed", extra={"code": exc.code})
        with contextlib.suppress(ScaiEchoError):
            replies.send(connection_id, streaming.error_frame(exc.code, exc.message))
    return _response(200)


def handle_disconnect(event: dict[str, Any]) -> dict[str, Any]:
    streaming.disconnect(parse_event(event, WebSocketEvent).request_context.connection_id)
    return _response(200)


def handle_idle_sweep(event: dict[str, Any]) -> dict[str, Any]:
    """Scheduled: end sessions idle past SCAIECHO_STREAM_IDLE_TIMEOUT_S."""
    return {"ended": streaming.sweep_idle(ApiGatewayReplies)}
