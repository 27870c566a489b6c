"""WebSocket $disconnect: forget the session and its pending audio."""

from typing import Any

from scaiecho.handlers.stream import handle_disconnect
from scaiecho.observability import CORRELATION_WEBSOCKET, lambda_entry


@lambda_entry(correlation_id_path=CORRELATION_WEBSOCKET)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_disconnect(event)
