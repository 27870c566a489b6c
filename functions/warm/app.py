"""GET/POST /speakers/{id}/warm."""

from mangum import Mangum

from scaiecho.api.app import create_app
from scaiecho.api.routes import warm

lambda_handler = Mangum(create_app([warm.router]), lifespan="off")
