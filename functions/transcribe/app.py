"""Transcription jobs (POST/GET /transcribe): the FastAPI router behind API Gateway via Mangum."""

from mangum import Mangum

from scaiecho.api.app import create_app
from scaiecho.api.routes import transcribe

lambda_handler = Mangum(create_app([transcribe.router]), lifespan="off")
