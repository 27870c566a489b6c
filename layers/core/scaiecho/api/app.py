"""Builds the FastAPI app. Each API Lambda mounts only its own routers; the local server mounts all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

from scaiecho.api.correlation import CorrelationId
from scaiecho.api.errors import install_error_handlers
from scaiecho.api.limits import MAX_FORM_FIELDS, MAX_FORM_FILES, RequestLimits
from scaiecho.api.schemas.common import error_responses

API_PREFIX = "/v1/modules/scaiecho"


def all_routers() -> list[APIRouter]:
    from scaiecho.api.routes import (
        consents,
        erasure,
        health,
        keys,
        preflight,
        speakers,
        transcribe,
        voice_profiles,
        warm,
    )

    return [health.router, keys.router, speakers.router, consents.router, warm.router, preflight.router,
            erasure.router, voice_profiles.router, transcribe.router]


def create_app(routers: Sequence[APIRouter] | None = None) -> FastAPI:
    app = FastAPI(
        title="ScaiEcho speaker platform",
        version="0.1.0",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        form_limits={"max_files": MAX_FORM_FILES, "max_fields": MAX_FORM_FIELDS},
    )
    install_error_handlers(app)
    app.add_middleware(RequestLimits)
    app.add_middleware(CorrelationId)  # outermost: limit errors carry the id too
    for router in routers if routers is not None else all_routers():
        # Validation errors answer the project's error body (api/errors.py), not FastAPI's own.
        app.include_router(router, prefix=API_PREFIX, responses=error_responses(422))
    _document_only_real_media_types(app)
    return app


def _document_only_real_media_types(app: FastAPI) -> None:
    """A route answering other media types (an export) gets FastAPI's default ``application/json``
    with an empty schema beside them: dropped, so the document names only what is answered."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for item in generate()["paths"].values():
                for op in item.values():
                    for answer in op.get("responses", {}).values():
                        content = answer.get("content", {})
                        if len(content) > 1 and content.get("application/json") == {"schema": {}}:
                            del content["application/json"]
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
