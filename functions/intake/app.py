"""Speaker intake and reads: the FastAPI routers behind API Gateway via Mangum."""

from scaiecho.api.lambda_entry import api_handler
from scaiecho.api.routes import consents, speakers

lambda_handler = api_handler(speakers.router, consents.router)
