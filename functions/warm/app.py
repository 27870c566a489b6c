"""GET/POST /speakers/{id}/warm."""

from scaiecho.api.lambda_entry import api_handler
from scaiecho.api.routes import warm

lambda_handler = api_handler(warm.router)
