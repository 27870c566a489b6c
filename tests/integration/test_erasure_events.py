"""The erasure functions' sample events (events/erasure*, events/retention_erasure) replayed
through their real handlers, as `sam local invoke` would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from scaiecho.adapters.erasure import audit_id_for
from scaiecho.adapters.tables import SpeakerRow, utcnow
from tests.integration.test_enrollment import create
from tests.integration.test_events import body, invoke

# Enrollment checks the consent on a node: the scripted one (reader 103, the fixtures).
pytestmark = pytest.mark.usefixtures("speech_node")


def test_erasure_routes(api: Any, make_key: Any) -> None:
    speaker_id = create(api, make_key("acme", "scaiecho:enroll"))
    erased = invoke("erasure", "delete_speaker", SPEAKER_ID=speaker_id)
    assert erased["statusCode"] == 200
    data = body(erased)["data"]
    assert data["status"] == "complete" and data["audit_id"] == audit_id_for("acme", speaker_id)
    got = invoke("erasure", "get_erasure", AUDIT_ID=data["audit_id"])
    assert body(got)["data"]["speaker_id"] == speaker_id
    assert invoke("erasure", "delete_speaker", SPEAKER_ID=speaker_id)["statusCode"] == 200
    assert invoke("erasure", "get_erasure", AUDIT_ID="era_unknown")["statusCode"] == 404


def test_erasure_retry_pass(api: Any, make_key: Any) -> None:
    speaker_id = create(api, make_key("acme", "scaiecho:enroll"))
    audit_id = body(invoke("erasure", "delete_speaker", SPEAKER_ID=speaker_id))["data"]["audit_id"]
    result = invoke("erasure_retry", "retry_pass", AUDIT_ID=audit_id)
    assert result == {"tenant_id": "acme", "audit_id": audit_id, "attempt": 2, "max_attempts": 3,
                      "wait_seconds": 1, "done": True, "status": "complete", "error_summary": []}
    unknown = invoke("erasure_retry", "retry_pass", AUDIT_ID="era_gone")
    assert unknown["done"] is True and unknown["status"] == "unknown_audit"


def test_retention_schedule(api: Any, make_key: Any) -> None:
    speaker_id = create(api, make_key("acme", "scaiecho:enroll"))
    row = SpeakerRow.get("acme", speaker_id)
    row.update(actions=[SpeakerRow.created_at.set(utcnow() - timedelta(days=4000))])
    result = invoke("retention_erasure", "daily_schedule")
    assert [e["speaker_id"] for e in result["erased"]] == [speaker_id]
    assert invoke("retention_erasure", "daily_schedule")["erased"] == []
