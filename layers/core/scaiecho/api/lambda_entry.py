"""An API function's Lambda entry point: its routers behind API Gateway via Mangum, with the
observability every function has (scaiecho.observability.lambda_entry)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from mangum import Mangum

from scaiecho.api.app import create_app
from scaiecho.observability import CORRELATION_API, Handler, lambda_entry


def api_handler(*routers: APIRouter) -> Handler:
    adapter = Mangum(create_app(list(routers)), lifespan="off")

    @lambda_entry(correlation_id_path=CORRELATION_API)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return adapter(event, context)  # a function: Powertools names the handler it wraps

    return lambda_handler
