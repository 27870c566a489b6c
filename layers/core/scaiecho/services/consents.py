"""Consent evidence: one speaker's immutable record, and a tenant-wide export for a DPO."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scaiecho.adapters.blobs import BlobStore
from scaiecho.adapters.speakers import SpeakerStore
from scaiecho.domain.auth import Principal
from scaiecho.domain.speakers import Consent
from scaiecho.errors import NotFound, ValidationFailed
from scaiecho.services.enrollment import get_live_speaker

# Long enough to download a recording, short enough that a copied link soon stops working.
EVIDENCE_URL_TTL_S = 300
EXPORT_FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (
    "consent_id", "speaker_id", "full_name", "stated_purpose", "consent_text", "consent_version",
    "captured_at", "actor", "audio_sha256", "voice_status", "voice_score", "text_status",
    "text_score", "text_heard", "text_reason", "checked_on_node", "check_model_version",
)


@dataclass(frozen=True)
class ConsentEvidence:
    consent: Consent
    audio_url: str  # presigned, short-lived
    audio_url_expires_in_s: int


def consent_evidence(principal: Principal, speaker_id: str) -> ConsentEvidence:
    """The speaker's consent record, with a short-lived URL to the consent recording."""
    speaker = get_live_speaker(principal, speaker_id)
    consent = SpeakerStore().consent(principal.tenant_id, speaker_id, speaker.consent_id or "") \
        if speaker.consent_id else None
    if consent is None:
        raise NotFound(f"no consent record for speaker {speaker_id!r}", code="consent_not_found")
    return ConsentEvidence(consent, BlobStore().presigned_get(consent.audio_key, EVIDENCE_URL_TTL_S),
                           EVIDENCE_URL_TTL_S)


def export_consents(
    principal: Principal, *, start: str | None, end: str | None, limit: int, cursor: str | None,
) -> tuple[list[Consent], str | None]:
    """One page of the tenant's consent records captured in [start, end) (ISO 8601; default:
    everything up to now)."""
    begin = _instant("from", start) if start else datetime(1970, 1, 1, tzinfo=UTC)
    until = _instant("to", end) if end else datetime.now(UTC) + timedelta(seconds=1)
    if begin >= until:
        raise ValidationFailed("from must be before to", code="invalid_range",
                               details={"from": start, "to": end})
    return SpeakerStore().consents_between(principal.tenant_id, begin, until, limit=limit, cursor=cursor)


def as_jsonl(consents: Iterable[Consent]) -> str:
    return "".join(json.dumps(c.serialize(), ensure_ascii=False) + "\n" for c in consents)


def as_csv(consents: Iterable[Consent]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for consent in consents:
        row = consent.serialize()
        voice, text = row.pop("voice_check"), row.pop("text_check")
        row.update(voice_status=voice["status"], voice_score=voice.get("score"),
                   text_status=text["status"], text_score=text.get("score"),
                   text_heard=text.get("heard"), text_reason=text.get("reason"))
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def _cell(value: Any) -> Any:
    # A cell opened in a spreadsheet must not run as a formula (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _instant(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be an ISO 8601 date or time", code="invalid_range",
                               details={name: value}) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
