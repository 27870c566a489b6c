"""The quality check alone, for client UIs (nothing is stored). Scope: scaiecho:enroll."""

from __future__ import annotations

from fastapi import APIRouter, File, UploadFile

from scaiecho.api.deps import requires
from scaiecho.api.schemas.common import AUTH_ERRORS, Envelope, error_responses
from scaiecho.api.schemas.speakers import PreflightPublic
from scaiecho.api.uploads import read_upload
from scaiecho.domain.auth import Principal, Scope
from scaiecho.domain.preflight import assess
from scaiecho.services.uploads import check_audio

router = APIRouter(tags=["preflight"])


@router.post("/preflight", responses=error_responses(400, *AUTH_ERRORS, 413, 415))
def preflight(
    principal: Principal = requires(Scope.ENROLL),
    audio: UploadFile | None = File(None),
) -> Envelope[PreflightPublic]:
    """The quality check alone: ``passed``, grade, reasons, warnings, metrics."""
    checked = check_audio(read_upload("audio", audio))
    return Envelope(data=PreflightPublic.from_domain(assess(checked.audio)))
