"""Transcription workflow task: record why a job failed.

One step of statemachine/transcribe.asl.json.
"""

from typing import Any

from scaiecho.handlers.transcription import fail


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return fail(event)
