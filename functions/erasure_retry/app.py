"""Step Functions task of the erasure retry loop (statemachine/erasure_retry.asl.json)."""

from typing import Any

from scaiecho.handlers.erasure import retry_evictions
from scaiecho.observability import lambda_entry


@lambda_entry(correlation_id_path="audit_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return retry_evictions(event)
