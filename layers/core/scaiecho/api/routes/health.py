from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from scaiecho.services.health import check_health

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> JSONResponse:
    """Reports each part (tables, bucket, workflows, nodes); 503 when any part is down."""
    report = check_health()
    return JSONResponse({"data": report.serialize()}, status_code=200 if report.ok else 503)
