"""Transcription workflow task: download a remote audio_urls recording (hardened fetcher) into
the tenant's area of the audio bucket. The API function never fetches a URL.

One step of statemachine/transcribe.asl.json.
"""

from typing import Any

from scaiecho.handlers.transcription import fetch
from scaiecho.observability import lambda_entry


@lambda_entry(correlation_id_path="job_id")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return fetch(event)
