"""Lambda authorizer for the REST and WebSocket APIs."""

from typing import Any

from scaiecho.handlers.authorizer import handle
from scaiecho.observability import CORRELATION_API, lambda_entry


@lambda_entry(correlation_id_path=CORRELATION_API)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
