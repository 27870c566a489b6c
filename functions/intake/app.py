"""Speaker intake and reads: the FastAPI routers behind API Gateway via Mangum."""

from mangum import Mangum

from scaiecho.api.app import create_app
from scaiecho.api.routes import consents, speakers

lambda_handler = Mangum(create_app([speakers.router, consents.router]), lifespan="off")
