"""WebSocket $default: one client frame (open, audio, close); replies via @connections."""

from typing import Any

from scaiecho.handlers.stream import handle_default


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_default(event)
