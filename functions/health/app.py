"""GET /health and /keys/*: the FastAPI routers behind API Gateway via Mangum."""

from mangum import Mangum

from scaiecho.api.app import create_app
from scaiecho.api.routes import health, keys

lambda_handler = Mangum(create_app([health.router, keys.router]), lifespan="off")
