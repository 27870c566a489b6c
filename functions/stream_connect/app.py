"""WebSocket $connect: the authorizer checked the key; open a session for the connection."""

from typing import Any

from scaiecho.handlers.stream import handle_connect
from scaiecho.observability import CORRELATION_WEBSOCKET, lambda_entry


@lambda_entry(correlation_id_path=CORRELATION_WEBSOCKET)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_connect(event)
