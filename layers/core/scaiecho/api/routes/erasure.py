"""Erasure (GDPR Art. 17) and its audit. Scope: scaiecho:enroll."""

from __future__ import annotations

from fastapi import APIRouter

from scaiecho.api.deps import requires
from scaiecho.api.schemas.common import AUTH_ERRORS, Envelope, error_responses
from scaiecho.api.schemas.erasure import ErasureReportPublic
from scaiecho.domain.auth import Principal, Scope
from scaiecho.services import enrollment, erasure

router = APIRouter(tags=["erasure"])
_ERRORS = error_responses(*AUTH_ERRORS, 404)


@router.delete("/speakers/{speaker_id}", response_model_exclude_unset=True,
               responses=_ERRORS)
def erase_speaker(speaker_id: str,
                  principal: Principal = requires(Scope.ENROLL)) -> Envelope[ErasureReportPublic]:
    """Erase the speaker: blobs, consent, voiceprints, node caches; answers the audit report.

    Safe to repeat: a repeat answers the same ``audit_id`` with ``"repeated": true``.
    """
    return Envelope(data=ErasureReportPublic.from_domain(erasure.erase_speaker(principal, speaker_id)))


@router.delete("/speakers/by-external-id/{external_id}", response_model_exclude_unset=True,
                responses=_ERRORS)
def erase_speaker_by_external_id(
    external_id: str, principal: Principal = requires(Scope.ENROLL)
) -> Envelope[ErasureReportPublic]:
    """Erase the speaker holding the client's own id (``external_id`` / ``speakerId``)."""
    speaker_id = enrollment.speaker_id_for_external_id(principal, external_id)
    return Envelope(data=ErasureReportPublic.from_domain(erasure.erase_speaker(principal, speaker_id)))


@router.get("/erasures/{audit_id}", response_model_exclude_unset=True,
            responses=_ERRORS)
def get_erasure(audit_id: str,
                principal: Principal = requires(Scope.ENROLL)) -> Envelope[ErasureReportPublic]:
    """The erasure audit with its append-only events and current status."""
    report = erasure.get_erasure(principal, audit_id)
    return Envelope(data=ErasureReportPublic.from_domain(report, with_events=True))
