"""A correlation id for every request the local server answers, as API Gateway's request id is
on AWS (there :func:`scaiecho.observability.lambda_entry` sets it from the event): the log lines
of one request carry the same ``correlation_id``, and the response says which in ``X-Request-Id``
(a well-formed one the client sent is kept, so a caller can follow its own ids through)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaiecho.observability import get_logger

HEADER = b"x-request-id"
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class CorrelationId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "aws.event" in scope:  # Lambda: the entry point set it
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(HEADER, b"")
        rid = sent.decode() if _WELL_FORMED.fullmatch(sent) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        logger: Any = get_logger()
        # context-local keys: the sync routes run in worker threads that copy this context
        logger.thread_safe_append_keys(correlation_id=rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logger.thread_safe_remove_keys(["correlation_id"])
