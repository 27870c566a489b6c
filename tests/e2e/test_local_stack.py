"""`make run`'s stack over real HTTP: health of every part, and enrollment on real nodes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaiecho.local.stack import LocalStack
from tests.e2e.conftest import restart_node

pytestmark = pytest.mark.e2e
SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def enroll(http: httpx.Client, reference: str = "speaker_f_103.flac", **extra: str) -> httpx.Response:
    data = {
        "display_name": "Karen Savage",
        "language_primary": "en",
        "description": "narrator",
        "consent_user_full_name": "Karen Savage",
        "consent_stated_purpose": "identify me in meeting transcripts",
        "consent_text": "I agree that ScaiEcho may store a voiceprint of my voice.",
        **extra,
    }
    files = {
        "reference": (reference, (SPEECH / reference).read_bytes(), "audio/flac"),
        "consent": ("consent.flac", (SPEECH / "consent_200.flac").read_bytes(), "audio/flac"),
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
    one = settled(http, enroll(http, reference="speaker_m_1040.flac").json()["data"])
    assert one["enrollment_status"] == "ready", one
    assert one["enrolled_on"] == ["node-1"]

    stack.nodes[0].stop()
    none = settled(http, enroll(http, reference="speaker_m_1040.flac").json()["data"])
    assert none["enrollment_status"] == "pending", none
    assert "no pyannote node is online" in none["note"]
    assert http.get("/health").status_code == 503

    restart_node(stack, 0)
    warmed = settled(http, http.post(f"/speakers/{none['speaker_id']}/warm", json={"node_ids": []})
                     .json()["data"])
    assert warmed["enrollment_status"] == "ready", warmed
    assert warmed["enrolled_on"] == ["node-1"]
    assert warmed["warm_node_ids"] == ["node-1"]
    restart_node(stack, 1)
    assert http.get("/health").status_code == 200
