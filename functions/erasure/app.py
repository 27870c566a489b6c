"""Erasure (DELETE /speakers/{id}) and its audit (GET /erasures/{id}) behind API Gateway via Mangum."""

from mangum import Mangum

from scaiecho.api.app import create_app
from scaiecho.api.routes import erasure

lambda_handler = Mangum(create_app([erasure.router]), lifespan="off")
