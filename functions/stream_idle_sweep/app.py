"""Scheduled: end streaming sessions idle past the timeout (error frame, then close)."""

from typing import Any

from scaiecho.handlers.stream import handle_idle_sweep
from scaiecho.observability import lambda_entry


@lambda_entry()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_idle_sweep(event)
