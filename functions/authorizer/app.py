"""Lambda authorizer for the REST and WebSocket APIs."""

from typing import Any

from scaiecho.handlers.authorizer import handle


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
