"""Erasure (DELETE /speakers/{id}) and its audit (GET /erasures/{id}) behind API Gateway via Mangum."""

from scaiecho.api.lambda_entry import api_handler
from scaiecho.api.routes import erasure

lambda_handler = api_handler(erasure.router)
