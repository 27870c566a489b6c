"""Step Functions executions are named after what they act on, and their recorded history (every
event's input, output, parameters, errors, as moto's interpreter kept them) holds ids only: no
display name, consent wording, client file name, audio bytes or voiceprint.

One enrollment (re-driven once), one diarized job and one erasure that waits on a down node run
through the real API, workflows (ASL run by moto, Lambda tasks in-process) and a contract node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from scaiecho.adapters.erasure import audit_id_for
from scaiecho.adapters.nodes import NodeStore
from scaiecho.local import moto_patches
from tests.conftest import _reset_settings, auth
from tests.contract_node import ContractNode, SpeechScript, registered
from tests.integration.test_enrollment import SPEAKERS, SPEECH, fields, files
from tests.integration.test_transcription import ASR, JOBS, diarization, wait

# A raw embedding with digits no id or timestamp would contain; the sealed voiceprint is its
# normalised form, checked too.
EMBEDDING = [0.1234567, 0.2345678, 0.3456789, 0.4567891]
CLIENT_FILE_NAME = "Karen_Savage_interview_2024.flac"


def _embed(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"data": {"embedding": EMBEDDING, "speech_s": 12.0, "model_id": "contract-node",
                          "model_version": "1"}}


@pytest.fixture
def node(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ContractNode]:
    monkeypatch.setenv("SCAIECHO_ERASURE_RETRY_WAIT_S", "1")
    _reset_settings()
    with registered(SpeechScript().wrap({"embed": _embed, "transcribe": (200, ASR)}),
                    online=True) as contract:
        yield contract


def _executions(aws: Any) -> dict[str, dict[str, Any]]:
    """Every execution of every state machine: name -> description + history events."""
    sfn = aws.session.client("stepfunctions")
    out: dict[str, dict[str, Any]] = {}
    for arn in aws.state_machines.values():
        for item in sfn.list_executions(stateMachineArn=arn)["executions"]:
            desc = sfn.describe_execution(executionArn=item["executionArn"])
            events = sfn.get_execution_history(executionArn=item["executionArn"])["events"]
            out[item["name"]] = {"describe": desc, "events": events}
    return out


def _wait_settled(aws: Any, names: set[str], timeout_s: float = 30) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = _executions(aws)
        running = [n for n in names if n not in found or found[n]["describe"]["status"] == "RUNNING"]
        if not running:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"executions not settled: {running}")
        time.sleep(0.2)


def _strings_and_vectors(value: Any) -> Iterator[tuple[str, Any]]:
    """Walk a recorded document, parsing JSON held in strings (inputs, outputs, causes)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            yield "str", value
            return
        if isinstance(parsed, dict | list):
            yield from _strings_and_vectors(parsed)
        else:
            yield "str", value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings_and_vectors(v)
    elif isinstance(value, list):
        if len(value) >= 3 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            yield "vector", value
        for v in value:
            yield from _strings_and_vectors(v)


def assert_no_personal_data(name: str, recorded: dict[str, Any], personal: list[str]) -> None:
    doc = json.loads(json.dumps(recorded, default=str))
    for kind, value in _strings_and_vectors(doc):
        if kind == "vector":
            raise AssertionError(f"{name}: a numeric vector (an embedding?) in the history: {value}")
        for text in personal:
            assert text.lower() not in value.lower(), f"{name}: {text!r} in the history: {value[:300]}"
        # Audio travels by S3 key, never inline (base64 or otherwise).
        assert len(value) < 4096, f"{name}: a {len(value)}-character value in the history"


@pytest.mark.usefixtures("identify_incomplete")
def test_executions_are_named_by_subject_and_their_history_holds_ids_only(
    api: Any, aws: Any, make_key: Any, node: ContractNode
) -> None:
    key = make_key("acme", "scaiecho:enroll,scaiecho:transcribe,scaiecho:diarize")
    person = fields()
    resp = api.post(SPEAKERS, data=person, files=files(), headers=auth(key))
    assert resp.status_code == 201, resp.text
    speaker_id = resp.json()["data"]["speaker_id"]
    assert resp.json()["data"]["enrollment_status"] == "ready"
    # A re-drive of the same speaker takes the next number.
    assert api.post(f"{SPEAKERS}/{speaker_id}/warm", json={"node_ids": []},
                    headers=auth(key)).status_code == 200

    # A diarized job whose audio came through a presigned upload named by the client.
    bucket = aws.buckets[0]
    audio_key = f"uploads/acme/upl_test/{CLIENT_FILE_NAME}"
    aws.session.client("s3").put_object(Bucket=bucket, Key=audio_key,
                                        Body=(SPEECH / "speaker_f_103.flac").read_bytes())
    node.answers["diarize"] = (200, diarization(
        {"SPEAKER_00": {"speaker_id": speaker_id, "score": 0.93, "cosine": 0.71}}))
    submitted = api.post(JOBS, headers=auth(key), json={
        "audio_urls": [f"s3://{bucket}/{audio_key}"], "diarize": True, "speaker_ids": [speaker_id]})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["data"]["job_id"]
    job = wait(api, key, job_id)
    assert job["status"] == "COMPLETED", job
    assert job["segments"][1]["speaker_name"] == person["display_name"]  # the data was there to leak
    candidates = next(r for r in node.requests if r["action"] == "diarize")["candidates"]
    voiceprint = candidates[0]["embedding"]

    # An erasure that waits on a node that is down, then completes in the background.
    NodeStore().register("node-2", "scaiecho-local-node-2")
    erased = api.delete(f"{SPEAKERS}/{speaker_id}", headers=auth(key)).json()["data"]
    assert erased["status"] == "pending_retry"
    audit_id = erased["audit_id"]
    assert audit_id == audit_id_for("acme", speaker_id)
    late = ContractNode()
    try:
        moto_patches.register_endpoint("scaiecho-local-node-2", late.url)
        expected = {f"enroll-{speaker_id}-1", f"enroll-{speaker_id}-2", f"job-{job_id}",
                    f"erasure-{audit_id}-1"}
        recorded = _wait_settled(aws, expected)
    finally:
        late.stop()

    named = {n for n in recorded if not n.startswith("node-probe-")}
    assert named == expected
    assert {recorded[n]["describe"]["status"] for n in expected} == {"SUCCEEDED"}
    # The history is real: the job's tasks ran and recorded their outputs.
    job_events = {e["type"] for e in recorded[f"job-{job_id}"]["events"]}
    assert {"TaskStateEntered", "TaskSucceeded", "ExecutionSucceeded"} <= job_events

    personal = [person["display_name"], person["consent_user_full_name"],
                person["consent_stated_purpose"], person["consent_text"], CLIENT_FILE_NAME,
                "Karen", "Savage", "narrator"]
    personal += [str(v)[:8] for v in EMBEDDING + voiceprint]
    for name in expected:
        assert_no_personal_data(name, recorded[name], personal)


def test_a_taken_name_moves_on_to_the_next_number(aws: Any) -> None:
    from scaiecho.adapters.workflows import WorkflowRunner
    from scaiecho.domain import executions
    from scaiecho.domain.executions import ExecutionName
    from scaiecho.errors import UpstreamError

    arn = aws.state_machines["ErasureRetryStateMachine"]
    runner = WorkflowRunner()
    # Parked in the workflow's Wait state, stopped below: only the names matter here.
    payload = {"tenant_id": "acme", "audit_id": "era_x", "attempt": 1, "max_attempts": 1,
               "wait_seconds": 3600}
    first = runner.start(arn, payload, name=executions.erasure("era_x"))
    second = runner.start(arn, {**payload, "attempt": 2}, name=executions.erasure("era_x"))
    once = runner.start(arn, payload, name=ExecutionName("job", "job_x", numbered=False))
    try:
        assert first.endswith(":erasure-era_x-1") and second.endswith(":erasure-era_x-2")
        # A name that is not numbered (a job runs once) is refused when taken, not renamed.
        with pytest.raises(UpstreamError):
            runner.start(arn, {**payload, "attempt": 3}, name=ExecutionName("job", "job_x", numbered=False))
    finally:
        sfn = aws.session.client("stepfunctions")
        for execution in (first, second, once):
            for _ in range(100):  # moto sets up a started execution in a thread of its own
                try:
                    sfn.stop_execution(executionArn=execution)
                    break
                except AttributeError:
                    time.sleep(0.05)
