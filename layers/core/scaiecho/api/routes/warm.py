"""Warm inspection and re-enrollment on nodes. Scope: scaiecho:enroll."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from scaiecho.api.deps import requires
from scaiecho.domain.auth import Principal, Scope
from scaiecho.services import enrollment

router = APIRouter(prefix="/speakers", tags=["warm"])


class WarmRequest(BaseModel):
    node_ids: list[str] = Field(default_factory=list, description="empty = every candidate node")


@router.get("/{speaker_id}/warm")
def warm_status(speaker_id: str, principal: Principal = requires(Scope.ENROLL)) -> dict[str, Any]:
    return {"data": enrollment.warm_status(principal, speaker_id)}


@router.post("/{speaker_id}/warm")
def rewarm(
    speaker_id: str,
    principal: Principal = requires(Scope.ENROLL),
    request: WarmRequest = Body(default_factory=WarmRequest),
) -> dict[str, Any]:
    return {"data": enrollment.rewarm(principal, speaker_id, request.node_ids)}
