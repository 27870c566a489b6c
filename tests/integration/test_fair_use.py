"""Fair use per tenant (concurrent jobs and streams: 429 + Retry-After) and job sizes a node
could never read (refused at submit, not failed later)."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from tests.conftest import _reset_settings, auth

API = "/v1/modules/scaiecho"
JOBS = f"{API}/transcribe"


def tone_wav(seconds: float = 2.0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x10\x00\xf0\xff" * int(8000 * seconds))
    return buf.getvalue()


@pytest.fixture
def limits(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SCAIECHO_MAX_ACTIVE_JOBS_PER_TENANT", "2")
    monkeypatch.setenv("SCAIECHO_MAX_STREAMS_PER_TENANT", "1")
    monkeypatch.setenv("SCAIECHO_FAIR_USE_RETRY_AFTER_S", "7")
    _reset_settings()
    yield


def _submit(api: Any, key: str) -> Any:
    return api.post(JOBS, headers=auth(key), files={"audio": ("a.wav", tone_wav(), "audio/wav")},
                    data={"language": "en"})


def test_a_tenant_past_its_active_jobs_gets_429_with_retry_after(
    api: Any, aws: Any, make_key: Any, limits: None
) -> None:
    from scaiecho.adapters.jobs import JobStore

    store = JobStore()
    for i in range(2):  # two jobs still running for acme
        store.create(tenant_id="acme", job_id=f"job_running{i}", request={}, audio_key="k", audio_bytes=1)
    acme = make_key("acme", "scaiecho:transcribe")
    s3 = aws.session.client("s3")
    objects = s3.list_objects_v2(Bucket=aws.buckets[0]).get("KeyCount", 0)

    refused = _submit(api, acme)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_jobs"
    assert refused.headers["Retry-After"] == "7"
    assert s3.list_objects_v2(Bucket=aws.buckets[0]).get("KeyCount", 0) == objects  # nothing stored
    assert len(list(store.page("acme", limit=50, cursor=None)[0])) == 2

    assert _submit(api, make_key("globex", "scaiecho:transcribe")).status_code == 202  # per tenant
    store.fail("acme", "job_running0", code="job_failed", message="done")
    assert _submit(api, acme).status_code == 202  # a slot freed up


def test_a_tenant_past_its_open_streams_gets_429_with_retry_after(
    aws: Any, make_key: Any, limits: None
) -> None:
    from scaiecho.api.app import API_PREFIX, create_app
    from scaiecho.local.gateway import mount

    app = create_app()
    mount(app, API_PREFIX)
    acme = make_key("acme", "scaiecho:transcribe")
    with TestClient(app) as client, client.websocket_connect(f"{API}/stream", headers=auth(acme)):
        with pytest.raises(WebSocketDenialResponse) as denied, \
                client.websocket_connect(f"{API}/stream", headers=auth(acme)):
            pass
        assert denied.value.status_code == 429
        assert denied.value.headers["Retry-After"] == "7"
        assert denied.value.json()["error"]["code"] == "too_many_streams"
        other = make_key("globex", "scaiecho:transcribe")
        with client.websocket_connect(f"{API}/stream", headers=auth(other)):
            pass
    with TestClient(app) as client, client.websocket_connect(f"{API}/stream", headers=auth(acme)):
        pass  # the first session closed: its slot is free again


def test_a_job_larger_than_a_node_reads_is_refused_at_submit(
    api: Any, make_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCAIECHO_NODE_MAX_AUDIO_MB", "0.05")  # 52 KB; the job limit stays 1 GB
    _reset_settings()
    resp = _submit(api, make_key("acme", "scaiecho:transcribe"))  # a 64 KB recording
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "audio_too_large"
    assert resp.json()["error"]["details"]["limit_bytes"] == int(0.05 * 1024 * 1024)
    slot = api.post(f"{JOBS}/uploads", json={"filename": "a.wav"},
                    headers=auth(make_key("acme", "scaiecho:transcribe")))
    assert slot.json()["data"]["max_bytes"] == int(0.05 * 1024 * 1024)  # presigned uploads too
