"""`make run`'s stack over real HTTP: health of every part, and enrollment on real nodes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaiecho.local.stack import LocalStack
from tests.e2e.conftest import restart_node
from tests.e2e.speech import RATE, consent_form, read, wav

pytestmark = pytest.mark.e2e
SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


READERS = {"103": "speaker_f_103.flac", "1040": "speaker_m_1040.flac"}


def enroll(http: httpx.Client, reader: str = "103", **extra: str) -> httpx.Response:
    """Enroll a fixture reader: the first 7 s of its utterance, its own consent recording (the
    rest) saying its consent text. Other tests enroll the same readers: duplicates allowed."""
    consent, text = consent_form(reader)
    data = {
        "display_name": "Karen Savage",
        "language_primary": "en",
        "description": "narrator",
        "consent_user_full_name": "Karen Savage",
        "consent_stated_purpose": "identify me in meeting transcripts",
        "consent_text": text,
        "allow_duplicate_voice": "true",
        **extra,
    }
    reference = read(SPEECH / READERS[reader])[: 7 * RATE]
    files = {
        "reference": ("reference.wav", wav(reference), "audio/wav"),
        "consent": ("consent.flac", consent, "audio/flac"),
    }
    return http.post("/speakers", data=data, files=files)


def settled(http: httpx.Client, data: dict[str, Any]) -> dict[str, Any]:
    """The intake answers after a bound; if the fan-out was still running, poll until it settles."""
    if "still running" not in (data.get("note") or ""):
        return data
    deadline = time.monotonic() + 240
    while data["enrollment_status"] == "pending" and time.monotonic() < deadline:
        time.sleep(2)
        data = http.get(f"/speakers/{data['speaker_id']}").json()["data"]
    return data


def test_health_reports_every_part_ok(http: httpx.Client) -> None:
    resp = http.get("/health")
    body = resp.json()["data"]
    assert resp.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["parts"]) == {"dynamodb", "s3", "stepfunctions", "nodes"}
    assert [n["node_id"] for n in body["parts"]["nodes"]["nodes"]] == ["node-1", "node-2"]


def test_demo_key_and_auth_over_http(stack: LocalStack, http: httpx.Client) -> None:
    assert http.get("/keys/me").json()["data"]["tenant_id"] == "demo"
    assert httpx.get(f"{stack.api_url}/keys/me").status_code == 401


def test_enrollment_is_ready_on_both_nodes(http: httpx.Client) -> None:
    resp = enroll(http)
    assert resp.status_code == 201, resp.text
    data = settled(http, resp.json()["data"])
    assert data["enrollment_status"] == "ready"
    assert data["enrolled_on"] == ["node-1", "node-2"]
    assert "note" not in data
    warm = http.get(f"/speakers/{data['speaker_id']}/warm").json()["data"]
    assert warm["warm_node_ids"] == ["node-1", "node-2"]
    assert warm["stale_node_ids"] == []


def test_one_node_down_then_none_then_warm_brings_it_back(stack: LocalStack, http: httpx.Client) -> None:
    stack.nodes[1].stop()
    one = settled(http, enroll(http, reader="1040").json()["data"])
    assert one["enrollment_status"] == "ready", one
    assert one["enrolled_on"] == ["node-1"]

    # No node online: the consent cannot be checked, so nothing is stored (503, retry later).
    stack.nodes[0].stop()
    listed = len(http.get("/speakers", params={"limit": 200}).json()["data"])
    none = enroll(http, reader="1040")
    assert none.status_code == 503, none.text
    assert none.json()["error"]["code"] == "consent_check_unavailable"
    assert len(http.get("/speakers", params={"limit": 200}).json()["data"]) == listed
    assert http.get("/health").status_code == 503

    restart_node(stack, 0)
    restart_node(stack, 1)
    warmed = settled(http, http.post(f"/speakers/{one['speaker_id']}/warm", json={"node_ids": []})
                     .json()["data"])
    assert warmed["enrollment_status"] == "ready", warmed
    assert warmed["warm_node_ids"] == ["node-1", "node-2"]
    assert http.get("/health").status_code == 200
