"""Daily retention sweep (EventBridge Scheduler): erase speakers past their retention period."""

from typing import Any

from scaiecho.handlers.erasure import retention_sweep
from scaiecho.observability import lambda_entry


@lambda_entry()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return retention_sweep(event)
