"""Erasure (GDPR Art. 17) and its audit. Scope: scaiecho:enroll."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from scaiecho.api.deps import requires
from scaiecho.domain.auth import Principal, Scope
from scaiecho.services import enrollment, erasure

router = APIRouter(tags=["erasure"])


@router.delete("/speakers/{speaker_id}")
def erase_speaker(speaker_id: str, principal: Principal = requires(Scope.ENROLL)) -> dict[str, Any]:
    """Erase the speaker: blobs, consent, voiceprints, node caches; answers the audit report.

    Safe to repeat: a repeat answers the same ``audit_id`` with ``"repeated": true``.
    """
    return {"data": erasure.erase_speaker(principal, speaker_id)}


@router.delete("/speakers/by-external-id/{external_id}")
def erase_speaker_by_external_id(
    external_id: str, principal: Principal = requires(Scope.ENROLL)
) -> dict[str, Any]:
    """Erase the speaker holding the client's own id (``external_id`` / ``speakerId``)."""
    speaker_id = enrollment.speaker_id_for_external_id(principal, external_id)
    return {"data": erasure.erase_speaker(principal, speaker_id)}


@router.get("/erasures/{audit_id}")
def get_erasure(audit_id: str, principal: Principal = requires(Scope.ENROLL)) -> dict[str, Any]:
    """The erasure audit with its append-only events and current status."""
    return {"data": erasure.get_erasure(principal, audit_id)}
