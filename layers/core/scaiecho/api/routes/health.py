"""GET /health: public (ok/degraded per part, cached) or, with a key, the detailed report."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from scaiecho.api.deps import presented_principal
from scaiecho.services.health import check_health, public_health

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Each part (tables, bucket, workflows, nodes); 503 when any part is down. Without a key only
    ok/degraded per part (cached a few seconds); with any valid key the detailed report."""
    if presented_principal(request) is None:
        report = public_health()
        return JSONResponse({"data": report.public()}, status_code=200 if report.ok else 503)
    report = check_health()
    return JSONResponse({"data": report.serialize()}, status_code=200 if report.ok else 503)
