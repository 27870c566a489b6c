"""Warm inspection and re-enrollment on nodes. Scope: scaiecho:enroll."""

from __future__ import annotations

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from scaiecho.api.deps import requires
from scaiecho.api.schemas.common import AUTH_ERRORS, Envelope, error_responses
from scaiecho.api.schemas.speakers import SpeakerEnrollment, WarmStatus
from scaiecho.domain.auth import Principal, Scope
from scaiecho.services import enrollment
from scaiecho.settings import get_settings

router = APIRouter(prefix="/speakers", tags=["warm"])


class WarmRequest(BaseModel):
    node_ids: list[str] = Field(default_factory=list, description="empty = every candidate node")


@router.get("/{speaker_id}/warm", responses=error_responses(*AUTH_ERRORS, 404))
def warm_status(speaker_id: str, principal: Principal = requires(Scope.ENROLL)) -> Envelope[WarmStatus]:
    return Envelope(data=WarmStatus.from_domain(enrollment.warm_status(principal, speaker_id)))


@router.post("/{speaker_id}/warm", response_model_exclude_unset=True,
             responses=error_responses(*AUTH_ERRORS, 404, 503))
def rewarm(
    speaker_id: str,
    principal: Principal = requires(Scope.ENROLL),
    request: WarmRequest = Body(default_factory=WarmRequest),
) -> Envelope[SpeakerEnrollment]:
    """Enroll the speaker again on the given nodes (none: every candidate node)."""
    result = enrollment.rewarm(principal, speaker_id, request.node_ids)
    threshold = get_settings().enrollment_complete_speech_s
    return Envelope(data=SpeakerEnrollment.from_domain(result, threshold))
