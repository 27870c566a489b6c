"""Every function logs with its Lambda context and the event's correlation id, and emits EMF
metrics for what it finished (scaiecho.observability.lambda_entry), through the real handler."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.events import call_handler, load_event


def _documents(out: str) -> list[dict[str, Any]]:
    docs = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                docs.append(json.loads(line))
            except ValueError:
                continue
    return docs


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the process-wide logger writes (it keeps the stream it was created with)."""
    from scaiecho.observability import get_logger

    handler = get_logger().registered_handler
    buffer = io.StringIO()
    # not setStream: it flushes the old stream, which may be a finished test's closed capture
    previous, handler.stream = handler.stream, buffer
    try:
        yield buffer
    finally:
        handler.stream = previous


def test_a_task_logs_with_context_and_correlation_id_and_emits_metrics(
        aws: Any, capsys: pytest.CaptureFixture[str], log_lines: io.StringIO) -> None:
    event = load_event("job_fail", "asr_timed_out", JOB_ID="job_obs1", BUCKET="b")
    assert call_handler("job_fail", event) == {"status": "FAILED"}
    docs = _documents(capsys.readouterr().out)  # EMF documents are printed
    logs = [d for d in _documents(log_lines.getvalue()) if d.get("message") == "transcription job failed"]
    assert logs, log_lines.getvalue()
    assert logs[0]["correlation_id"] == "job_obs1"
    assert logs[0]["function_name"] == "scaiecho-job_fail"
    assert logs[0]["cold_start"] in (True, False) and logs[0]["function_request_id"]
    emf = [d for d in docs if "_aws" in d]
    assert emf, docs
    metrics = {m["Name"] for d in emf for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "JobFailed" in metrics
    assert emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ScaiEcho"


def test_an_invocation_that_records_nothing_prints_no_metrics(
        aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    event = load_event("stream_disconnect", "disconnect", CONNECTION_ID="c-obs")
    call_handler("stream_disconnect", event)
    assert not [d for d in _documents(capsys.readouterr().out) if "_aws" in d]


def test_the_local_server_gives_every_request_a_correlation_id(log_lines: io.StringIO) -> None:
    """Off Lambda the API's log lines carry a per-request id, echoed as X-Request-Id."""
    from fastapi import APIRouter
    from fastapi.testclient import TestClient

    from scaiecho.api.app import create_app
    from scaiecho.observability import get_logger

    router = APIRouter()

    @router.get("/ping")
    def ping() -> dict[str, str]:
        get_logger().info("pinged")
        return {"ok": "yes"}

    client = TestClient(create_app([router]))
    kept = client.get("/v1/modules/scaiecho/ping", headers={"X-Request-Id": "client-42"})
    fresh = client.get("/v1/modules/scaiecho/ping", headers={"X-Request-Id": "bad id!"})
    assert kept.headers["x-request-id"] == "client-42"
    assert fresh.headers["x-request-id"] not in ("", "client-42")
    logs = [d for d in _documents(log_lines.getvalue()) if d.get("message") == "pinged"]
    assert [d.get("correlation_id") for d in logs] == ["client-42", fresh.headers["x-request-id"]]
    get_logger().info("after")
    after = [d for d in _documents(log_lines.getvalue()) if d.get("message") == "after"]
    # nothing leaks past the request (an earlier Lambda invocation's id may remain, as on Lambda)
    assert after[0].get("correlation_id") not in ("client-42", fresh.headers["x-request-id"])
