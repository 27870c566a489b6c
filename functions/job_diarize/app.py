"""Transcription workflow task: diarization + identification on a node, result to S3.

One step of statemachine/transcribe.asl.json.
"""

from typing import Any

from scaiecho.handlers.transcription import run_diarize
from scaiecho.observability import lambda_entry


@lambda_entry(correlation_id_path="job_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_diarize(event)
