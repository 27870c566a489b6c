"""POST /preflight: the quality check alone."""

from mangum import Mangum

from scaiecho.api.app import create_app
from scaiecho.api.routes import preflight

lambda_handler = Mangum(create_app([preflight.router]), lifespan="off")
