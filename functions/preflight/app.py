"""POST /preflight: the quality check alone."""

from scaiecho.api.lambda_entry import api_handler
from scaiecho.api.routes import preflight

lambda_handler = api_handler(preflight.router)
