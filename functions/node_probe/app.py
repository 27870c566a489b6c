"""Step Functions task: probe one pyannote node."""

from typing import Any

from scaiecho.handlers.node_probe import handle
from scaiecho.observability import lambda_entry


@lambda_entry(correlation_id_path="node_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event)
