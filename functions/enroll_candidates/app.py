"""Step Functions task of the enrollment fan-out (statemachine/enroll.asl.json)."""

from typing import Any

from scaiecho.handlers.enrollment import find_candidates
from scaiecho.observability import lambda_entry


@lambda_entry()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return find_candidates(event)
