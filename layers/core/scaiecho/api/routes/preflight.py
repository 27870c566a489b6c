"""The quality check alone, for client UIs (nothing is stored). Scope: scaiecho:enroll."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, UploadFile

from scaiecho.api.deps import requires
from scaiecho.api.uploads import read_upload
from scaiecho.domain.auth import Principal, Scope
from scaiecho.domain.preflight import assess
from scaiecho.services.uploads import check_audio

router = APIRouter(tags=["preflight"])


@router.post("/preflight")
def preflight(
    principal: Principal = requires(Scope.ENROLL),
    audio: UploadFile | None = File(None),
) -> dict[str, Any]:
    checked = check_audio(read_upload("audio", audio))
    return {"data": assess(checked.audio).serialize()}
