"""Step Functions task of the enrollment fan-out (statemachine/enroll.asl.json)."""

from typing import Any

from scaiecho.handlers.enrollment import finalize
from scaiecho.observability import lambda_entry


@lambda_entry(correlation_id_path="speaker_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return finalize(event)
