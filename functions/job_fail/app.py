"""Transcription workflow task: record why a job failed.

One step of statemachine/transcribe.asl.json.
"""

from typing import Any

from scaiecho.handlers.transcription import fail
from scaiecho.observability import lambda_entry


@lambda_entry(correlation_id_path="job_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return fail(event)
