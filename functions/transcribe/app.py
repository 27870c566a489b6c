"""Transcription jobs (POST/GET /transcribe): the FastAPI router behind API Gateway via Mangum."""

from scaiecho.api.lambda_entry import api_handler
from scaiecho.api.routes import transcribe

lambda_handler = api_handler(transcribe.router)
