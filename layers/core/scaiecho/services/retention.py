"""Retention (BIPA-style): erase voiceprints nobody has used for the tenant's retention period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from scaiecho.adapters.speakers import SpeakerActivity, SpeakerStore
from scaiecho.adapters.tables import utcnow
from scaiecho.errors import ScaiEchoError
from scaiecho.observability import get_logger
from scaiecho.services.erasure import ACTOR_RETENTION, REASON_RETENTION, erase
from scaiecho.settings import get_settings


def expired(speaker: SpeakerActivity, now: datetime) -> bool:
    """Past retention: ``retention_days`` (per-tenant override) since last use, else enrollment."""
    days = get_settings().retention_days_for(speaker.tenant_id)
    return (speaker.last_used_at or speaker.created_at) + timedelta(days=days) <= now


def sweep_expired(now: datetime | None = None) -> dict[str, Any]:
    """Erase every expired speaker (same erasure + audit as a DELETE, actor ``retention``)."""
    now = now or utcnow()
    live = list(SpeakerStore().live_speakers())  # materialised: erasure changes the table
    due = [s for s in live if expired(s, now)]
    erased: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for speaker in due:
        try:
            report = erase(speaker.tenant_id, speaker.speaker_id, actor=ACTOR_RETENTION,
                           reason=REASON_RETENTION)
        except ScaiEchoError as exc:  # one speaker's failure never stops the sweep
            failed.append({"tenant_id": speaker.tenant_id, "speaker_id": speaker.speaker_id,
                           "error": exc.code})
            continue
        erased.append({"tenant_id": speaker.tenant_id, "speaker_id": speaker.speaker_id,
                       "audit_id": report.header.audit_id, "status": report.status})
    get_logger().info("retention sweep", extra={"checked": len(live), "erased": len(erased),
                                                "failed": len(failed)})
    return {"checked": len(live), "erased": erased, "failed": failed}
