"""WebSocket $disconnect: forget the session and its pending audio."""

from typing import Any

from scaiecho.handlers.stream import handle_disconnect


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_disconnect(event)
