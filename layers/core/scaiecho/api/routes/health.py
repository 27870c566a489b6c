"""GET /health: public (ok/degraded per part, cached) or, with a key, the detailed report."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from scaiecho.api.deps import presented_principal
from scaiecho.api.schemas.accounts import HealthPublic
from scaiecho.api.schemas.common import Envelope, error_responses, json_answer
from scaiecho.services.health import check_health, public_health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Envelope[HealthPublic], response_model_exclude_unset=True,
            responses={503: {"model": Envelope[HealthPublic], "description": "a part is down"},
                       **error_responses(401, 429)})
def health(request: Request) -> JSONResponse:
    """Each part (tables, bucket, workflows, nodes); 503 when any part is down. Without a key only
    ok/degraded per part (cached a few seconds); with any valid key the detailed report."""
    if presented_principal(request) is None:
        report = public_health()
        return _answer(HealthPublic.from_domain(report, detailed=False), report.ok)
    report = check_health()
    return _answer(HealthPublic.from_domain(report, detailed=True), report.ok)


def _answer(health: HealthPublic, ok: bool) -> JSONResponse:
    return json_answer(Envelope[HealthPublic](data=health), 200 if ok else 503)
