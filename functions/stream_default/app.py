"""WebSocket $default: one client frame (open, audio, close); replies via @connections."""

from typing import Any

from scaiecho.handlers.stream import handle_default
from scaiecho.observability import CORRELATION_WEBSOCKET, lambda_entry


@lambda_entry(correlation_id_path=CORRELATION_WEBSOCKET)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_default(event)
