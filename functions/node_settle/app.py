"""Step Functions task: after a node probe, settle the speakers' lifecycle (evict, enroll, re-warm)."""

from typing import Any

from scaiecho.handlers.node_probe import settle
from scaiecho.observability import lambda_entry


@lambda_entry()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return settle(event)
