"""GET /health and /keys/*: the FastAPI routers behind API Gateway via Mangum."""

from scaiecho.api.lambda_entry import api_handler
from scaiecho.api.routes import health, keys

lambda_handler = api_handler(health.router, keys.router)
