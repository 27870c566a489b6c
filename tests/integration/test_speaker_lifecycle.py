"""The speaker lifecycle the tutorial describes, driven by the node-probe workflow (its last step,
SettleSpeakers): pending → ready when a node comes online, ready → evicted when every node that
held the speaker is gone, evicted → ready once re-warmed. Contract nodes stand in for pyannote;
tests/e2e/test_seed_speakers_e2e.py runs the same story on real nodes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from scaiecho.adapters.nodes import NodeStore
from scaiecho.local import moto_patches
from tests.conftest import auth
from tests.contract_node import SpeechScript, registered
from tests.integration.test_enrollment import SPEAKERS, fields, files
from tests.integration.test_state_machine import _run


@pytest.fixture
def key(make_key: Any) -> str:
    return str(make_key("acme", "scaiecho:enroll"))


def status_of(api: Any, key: str, sid: str) -> dict[str, Any]:
    return dict(api.get(f"{SPEAKERS}/{sid}", headers=auth(key)).json()["data"])


def wait_status(api: Any, key: str, sid: str, wanted: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = status_of(api, key, sid)
        if data["enrollment_status"] == wanted or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def probe(aws: Any) -> dict[str, Any]:
    desc = _run(aws, "NodeProbeStateMachine", {})
    assert desc["status"] == "SUCCEEDED", desc
    return dict(json.loads(desc["output"])["lifecycle"]["settled"])


def test_lifecycle_through_the_probe(api: Any, aws: Any, key: str) -> None:
    script = SpeechScript()
    with registered(script.answers(), online=True) as node:
        created = api.post(SPEAKERS, data=fields(), files=files(), headers=auth(key)).json()["data"]
        sid = created["speaker_id"]
        assert created["enrollment_status"] == "ready" and created["enrolled_on"] == ["node-1"]

        # The node is gone (its endpoint answers nothing): the probe evicts the speaker.
        moto_patches.register_endpoint("scaiecho-local-node-1", "http://127.0.0.1:9")
        settled = probe(aws)
        assert settled["evicted"] == 1
        data = status_of(api, key, sid)
        assert data["enrollment_status"] == "evicted"
        assert data["enrolled_on"] == [] and "node probe" in data["note"]

        # It comes back: the probe re-enrolls the speaker on it, which makes it ready again.
        moto_patches.register_endpoint("scaiecho-local-node-1", node.url)
        settled = probe(aws)
        assert settled == {"evicted": 0, "enrollments_started": 1, "errors": []}
        data = wait_status(api, key, sid, "ready")
        assert data["enrollment_status"] == "ready" and data["enrolled_on"] == ["node-1"]
        assert "note" not in data

        # Nothing left to do: a further probe starts nothing.
        assert probe(aws) == {"evicted": 0, "enrollments_started": 0, "errors": []}

        # A second node comes online: the ready speaker is re-warmed onto it too.
        with registered(script.answers(), node_id="node-2"):
            assert probe(aws)["enrollments_started"] == 1
            deadline = time.monotonic() + 30
            while status_of(api, key, sid)["enrolled_on"] != ["node-1", "node-2"]:
                assert time.monotonic() < deadline, status_of(api, key, sid)
                time.sleep(0.1)


def test_pending_speaker_is_enrolled_when_a_node_comes_online(api: Any, aws: Any, key: str) -> None:
    from scaiecho.services.enrollment_tasks import finalize

    script = SpeechScript()
    with registered(script.answers(), online=True) as node:
        sid = api.post(SPEAKERS, data=fields(), files=files(), headers=auth(key)).json()["data"]["speaker_id"]
        # As if no node had been online at intake: no voiceprint, status pending.
        from scaiecho.adapters.speakers import WarmRegistry

        WarmRegistry().delete_for_speaker("acme", sid)
        NodeStore().record_probe("node-1", online=False, health=None, error="down")
        assert finalize(tenant_id="acme", speaker_id=sid, candidates=[], unavailable=[],
                        results=[])["status"] == "pending"
        assert status_of(api, key, sid)["enrollment_status"] == "pending"

        moto_patches.register_endpoint("scaiecho-local-node-1", node.url)
        assert probe(aws)["enrollments_started"] == 1
        assert wait_status(api, key, sid, "ready")["enrolled_on"] == ["node-1"]


def test_finalize_without_any_holding_node_is_evicted(api: Any, aws: Any, key: str) -> None:
    from scaiecho.services.enrollment_tasks import finalize

    with registered(SpeechScript().answers(), online=True):
        sid = api.post(SPEAKERS, data=fields(), files=files(), headers=auth(key)).json()["data"]["speaker_id"]
        NodeStore().record_probe("node-1", online=False, health=None, error="down")
        out = finalize(tenant_id="acme", speaker_id=sid, candidates=[], unavailable=[], results=[])
    assert out["status"] == "evicted" and out["enrolled_on"] == []
    assert status_of(api, key, sid)["enrollment_status"] == "evicted"
