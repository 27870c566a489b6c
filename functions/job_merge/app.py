"""Transcription workflow task: assign words to speaker turns, store the transcript.

One step of statemachine/transcribe.asl.json.
"""

from typing import Any

from scaiecho.handlers.transcription import merge
from scaiecho.observability import lambda_entry


@lambda_entry(correlation_id_path="job_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return merge(event)
