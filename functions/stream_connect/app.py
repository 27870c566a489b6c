"""WebSocket $connect: the authorizer checked the key; open a session for the connection."""

from typing import Any

from scaiecho.handlers.stream import handle_connect


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_connect(event)
