"""Remote audio_urls and batches, through the real API and workflow (ASL run by moto, tasks
in-process): the fetch step downloads from a local HTTP server on 127.0.0.1 that the operator
allowlist (SCAIECHO_AUDIO_URL_ALLOWLIST) permits; a contract node answers the node calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.audio_server import AudioServer, redirect, send, serving
from tests.conftest import _reset_settings, auth
from tests.contract_node import ContractNode, registered
from tests.integration.test_transcription import ASR, JOBS, SPEECH, diarization, wait

FLAC = (SPEECH / "speaker_f_103.flac").read_bytes()


@pytest.fixture
def node(aws: Any) -> Iterator[ContractNode]:
    with registered({"transcribe": (200, ASR), "diarize": (200, diarization({}))}) as contract:
        yield contract


@pytest.fixture
def key(make_key: Callable[..., str]) -> str:
    return make_key("acme", "scaiecho:transcribe,scaiecho:diarize")


@pytest.fixture
def server(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[AudioServer]:
    # after `aws`: the template sets the (empty) allowlist, this test names the local server
    with serving() as (audio_server, _):
        audio_server.routes.update({"/interview.flac": send(FLAC, "audio/flac"),
                                    "/moved.flac": redirect("/interview.flac", 301),
                                    "/page": send(b"<html>" + b"x" * 5000, "text/html"),
                                    "/to-metadata": redirect("https://169.254.169.254/latest/")})
        monkeypatch.setenv("SCAIECHO_AUDIO_URL_ALLOWLIST", "127.0.0.1")
        _reset_settings()
        yield audio_server


def test_a_remote_url_is_fetched_by_the_workflow_then_transcribed(
        api: Any, aws: Any, node: ContractNode, key: str, server: AudioServer) -> None:
    url = f"http://127.0.0.1:{server.port}/moved.flac?token=secret"
    resp = api.post(JOBS, headers=auth(key), json={"audio_urls": [url], "language": "en"})
    assert resp.status_code == 202, resp.text
    assert not server.hosts  # the API itself fetched nothing
    job_id = resp.json()["data"]["job_id"]
    data = wait(api, key, job_id)
    assert data["status"] == "COMPLETED", data
    assert data["audio_url"] == url and data["segments"][0]["start_time"] == "0.20"
    asked = next(r for r in node.requests if r["action"] == "transcribe")
    stored = asked["audio"]["s3"]
    assert stored["key"] == f"uploads/acme/jobs/{job_id}/audio.flac"
    body = aws.session.client("s3").get_object(Bucket=stored["bucket"], Key=stored["key"])
    assert body["Body"].read() == FLAC and body["ServerSideEncryption"] == "aws:kms"
    # ids only in the workflow input: the URL (with its token) stays in the job row
    history = aws.session.client("stepfunctions").list_executions(
        stateMachineArn=next(a for a in aws.state_machines.values() if a.endswith("transcribe")))
    arns = [e["executionArn"] for e in history["executions"] if job_id in e["name"]]
    described = aws.session.client("stepfunctions").describe_execution(executionArn=arns[0])
    assert "secret" not in described["input"] and '"fetch": true' in described["input"]


@pytest.mark.parametrize(("path", "code"), [
    ("/page", "audio_url_not_audio"),
    ("/missing.wav", "audio_url_unreachable"),
    ("/to-metadata", "audio_url_forbidden_address"),
])
def test_a_failed_fetch_fails_that_job_with_its_code(
        api: Any, node: ContractNode, key: str, server: AudioServer, path: str, code: str) -> None:
    resp = api.post(JOBS, headers=auth(key), json={"audio_urls": [f"http://127.0.0.1:{server.port}{path}"]})
    assert resp.status_code == 202, resp.text
    data = wait(api, key, resp.json()["data"]["job_id"])
    assert data["status"] == "FAILED" and data["error"]["code"] == code, data
    assert not [r for r in node.requests if r["action"] == "transcribe"]


def test_submit_checks_the_urls_form_only(api: Any, aws: Any, node: ContractNode, key: str,
                                          server: AudioServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for url, code in [("http://example.com/a.wav", "audio_url_not_allowed"),
                      ("ftp://example.com/a.wav", "audio_url_not_allowed"),
                      ("https://10.0.0.8/a.wav", "audio_url_forbidden_address"),
                      ("https://user:pw@example.com/a.wav", "audio_url_not_allowed"),
                      ("https://exa mple.com/a.wav", "invalid_audio_urls")]:
        resp = api.post(JOBS, headers=auth(key), json={"audio_urls": [url]})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == code, (url, resp.text)
    too_many = api.post(JOBS, headers=auth(key), json={"audio_urls": ["https://example.com/a.wav"] * 21})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "too_many_audio_urls"
    assert too_many.json()["error"]["details"]["limit"] == 20
    assert api.get(JOBS, headers=auth(key)).json()["data"] == []  # nothing stored


def test_a_batch_is_one_job_per_file_with_the_same_settings(
        api: Any, aws: Any, node: ContractNode, key: str, server: AudioServer,
        make_key: Callable[..., str]) -> None:
    bucket = aws.buckets[0]
    aws.session.client("s3").put_object(Bucket=bucket, Key="uploads/acme/u1/talk.flac", Body=FLAC)
    urls = [f"http://127.0.0.1:{server.port}/interview.flac", f"s3://{bucket}/uploads/acme/u1/talk.flac",
            f"http://127.0.0.1:{server.port}/page"]
    doc = {"audio_urls": urls, "language": "en", "diarize": True,
           "diarization_config": {"backend": "pyannote", "min_speakers": 2, "max_speakers": 5}}
    headers = {**auth(key), "Idempotency-Key": "batch-1"}
    resp = api.post(JOBS, headers=headers, json=doc)
    assert resp.status_code == 202, resp.text
    batch = resp.json()["data"]
    assert batch["batch_id"].startswith("bat_") and batch["status"] == "QUEUED"
    assert [j["audio_url"] for j in batch["jobs"]] == urls
    assert [j["index"] for j in batch["jobs"]] == [0, 1, 2]
    # a retry with the same key answers the same batch, and starts nothing new
    again = api.post(JOBS, headers=headers, json=doc)
    assert again.status_code == 202 and again.json()["data"] == batch

    results = [wait(api, key, j["job_id"]) for j in batch["jobs"]]
    assert [r["status"] for r in results] == ["COMPLETED", "COMPLETED", "FAILED"]
    assert results[2]["error"]["code"] == "audio_url_not_audio"
    for n, result in enumerate(results):
        assert (result["batch_id"], result["batch_index"]) == (batch["batch_id"], n)
        assert result["request"]["diarization_config"] == doc["diarization_config"]
    diarized = [r for r in node.requests if r["action"] == "diarize"]
    assert len(diarized) == 2 and all((r["min_speakers"], r["max_speakers"]) == (2, 5) for r in diarized)

    route = f"{JOBS}/batches/{batch['batch_id']}"
    listed = api.get(route, headers=auth(key)).json()
    assert listed["data"]["status"] == "COMPLETED" and listed["next_cursor"] is None
    assert listed["data"]["counts"] == {"QUEUED": 0, "PROCESSING": 0, "COMPLETED": 2, "FAILED": 1}
    assert [j["job_id"] for j in listed["data"]["jobs"]] == [j["job_id"] for j in batch["jobs"]]
    assert listed["data"]["jobs"][2]["error"]["code"] == "audio_url_not_audio"
    first = api.get(route, headers=auth(key), params={"limit": 2}).json()
    assert len(first["data"]["jobs"]) == 2 and first["next_cursor"]
    rest = api.get(route, headers=auth(key), params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["index"] for j in rest["data"]["jobs"]] == [2] and rest["next_cursor"] is None

    # tenant isolation: another tenant's key finds no such batch, and cannot page into it
    other = make_key("globex", "scaiecho:transcribe")
    hidden = api.get(route, headers=auth(other))
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "batch_not_found"
    peek = api.get(route, headers=auth(other), params={"cursor": first["next_cursor"]})
    assert peek.status_code == 400 and peek.json()["error"]["code"] == "invalid_cursor"
    for bad in ("bat_nope", "job_x", "bat_" + "0" * 20):
        missing = api.get(f"{JOBS}/batches/{bad}", headers=auth(key))
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "batch_not_found"


def test_a_batch_needs_a_job_slot_per_file(api: Any, node: ContractNode, key: str, server: AudioServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_MAX_ACTIVE_JOBS_PER_TENANT", "2")
    _reset_settings()
    url = f"http://127.0.0.1:{server.port}/interview.flac"
    resp = api.post(JOBS, headers=auth(key), json={"audio_urls": [url] * 3})
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "too_many_jobs"
    assert resp.json()["error"]["details"]["requested"] == 3
    assert api.get(JOBS, headers=auth(key)).json()["data"] == []


def test_a_bad_file_refuses_the_whole_batch(api: Any, aws: Any, node: ContractNode, key: str,
                                            server: AudioServer) -> None:
    bucket = aws.buckets[0]
    urls = [f"http://127.0.0.1:{server.port}/interview.flac", f"s3://{bucket}/uploads/acme/none.wav"]
    resp = api.post(JOBS, headers=auth(key), json={"audio_urls": urls})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "audio_url_not_found"
    assert api.get(JOBS, headers=auth(key)).json()["data"] == []  # nothing orphaned


def test_the_openapi_document_says_how_times_and_batches_look(api: Any) -> None:
    doc = api.get("/v1/modules/scaiecho/openapi.json").json()
    get_job = doc["paths"]["/v1/modules/scaiecho/transcribe/{job_id}"]["get"]["description"]
    assert '"0.50"' in get_job and "two decimals" in get_job
    assert "/v1/modules/scaiecho/transcribe/batches/{batch_id}" in doc["paths"]
    submit = doc["paths"]["/v1/modules/scaiecho/transcribe"]["post"]["description"]
    assert "audio_url_forbidden_address" in submit and "batch_id" in submit
