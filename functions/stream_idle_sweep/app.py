"""Scheduled: end streaming sessions idle past the timeout (error frame, then close)."""

from typing import Any

from scaiecho.handlers.stream import handle_idle_sweep


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_idle_sweep(event)
