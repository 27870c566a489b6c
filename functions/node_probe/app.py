"""Step Functions task: probe one pyannote node."""

from typing import Any

from scaiecho.handlers.node_probe import handle


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
