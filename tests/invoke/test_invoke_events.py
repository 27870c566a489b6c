"""Every sample event in events/ replayed through `scaiecho invoke` against a running local stack:
the CLI in its own process, finding the stack through its state file, running the function's
real handler with that function's environment, as `sam local invoke` would (without Docker).

The stack runs without pyannote nodes; a contract node (tests/contract_node.py) answers the node
calls, so node-backed functions succeed too. `scaiecho env --sam` is checked against the same stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaiecho.local.stack import LocalStack, StackConfig, free_port
from tests.contract_node import ContractNode, SpeechScript, registered
from tests.events import EVENTS
from tests.integration.test_enrollment import fields, files
from tests.integration.test_transcription import ASR, diarization

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
Check = Callable[[dict[str, Any], "Replay"], None]


def _embed(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"data": {"embedding": [0.6, 0.8, 0.0, 0.0], "speech_s": 12.0,
                          "model_id": "contract-node", "model_version": "1"}}


class Replay:
    """The stack, the ids its events act on, and `scaiecho invoke` as a subprocess."""

    def __init__(self, stack: LocalStack, home: Path, node: ContractNode) -> None:
        self.stack, self.home, self.node = stack, home, node
        self.values: dict[str, str] = {}

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCAIECHO_", "AWS_"))}
        env["SCAIECHO_HOME"] = str(self.home)
        return subprocess.run([sys.executable, "-m", "scaiecho.cli", *args], input=stdin, env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)

    def invoke(self, function: str, event: Path, **extra: str) -> tuple[int, Any]:
        sets = [f"--set={k}={v}" for k, v in {**self.values, **extra}.items()]
        done = self.cli("invoke", function, str(event), *sets)
        assert done.stdout, done.stderr[-3000:]
        return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    saved = dict(os.environ)
    home = tmp_path_factory.mktemp("scaiecho-home")
    os.environ["SCAIECHO_HOME"] = str(home)  # the state file lives here, nobody else's stack
    stack = LocalStack(StackConfig(port=free_port(), nodes=0))
    try:
        stack.start_aws()
        stack.start_api(in_thread=True)
        stack.write_state()
        with registered(SpeechScript().wrap({"embed": _embed, "transcribe": (200, ASR),
                                             "diarize": (200, diarization({}))}),
                        online=True) as node:
            yield _prepared(Replay(stack, home, node))
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        from tests.conftest import _reset_settings

        _reset_settings()


def _prepared(replay: Replay) -> Replay:
    """A ready speaker and a completed job of tenant acme, made through the stack's REST API."""
    from scaiecho.adapters.erasure import audit_id_for
    from scaiecho.services.keys import create_key

    key = create_key("acme", "scaiecho:enroll,scaiecho:transcribe,scaiecho:diarize").api_key
    with httpx.Client(base_url=replay.stack.api_url, timeout=120,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        made = http.post("/speakers", data=fields(), files=files())
        assert made.status_code == 201 and made.json()["data"]["enrollment_status"] == "ready", made.text
        speaker_id = made.json()["data"]["speaker_id"]
        job = http.post("/transcribe", files={"audio": ("a.flac", files()["reference"][1], "audio/flac")})
        assert job.status_code == 202, job.text
        job_id = job.json()["data"]["job_id"]
        deadline = time.monotonic() + 60
        while http.get(f"/transcribe/{job_id}").json()["data"]["status"] != "COMPLETED":
            assert time.monotonic() < deadline, "the job did not complete"
            time.sleep(0.2)
    replay.values = {
        "API_KEY": key, "SPEAKER_ID": speaker_id, "JOB_ID": job_id,
        "BUCKET": replay.stack.provisioned.buckets[0], "AUDIT_ID": audit_id_for("acme", speaker_id),
        "CONNECTION_ID": "c-events", "SCOPES": "scaiecho:transcribe",
    }
    return replay


def _status(code: int, error: str | None = None) -> Check:
    def check(result: dict[str, Any], replay: Replay) -> None:
        assert result["statusCode"] == code, result
        if error is not None:
            assert json.loads(result["body"])["error"]["code"] == error, result
    return check


def _data(predicate: Callable[[dict[str, Any], Replay], bool]) -> Check:
    def check(result: dict[str, Any], replay: Replay) -> None:
        assert result["statusCode"] == 200, result
        assert predicate(json.loads(result["body"])["data"], replay), result
    return check


def _equals(expected: Callable[[Replay], Any]) -> Check:
    def check(result: dict[str, Any], replay: Replay) -> None:
        assert result == expected(replay)
    return check


def _that(predicate: Callable[[dict[str, Any], Replay], bool]) -> Check:
    def check(result: dict[str, Any], replay: Replay) -> None:
        assert predicate(result, replay), result
    return check


def _unauthorized(result: dict[str, Any], replay: Replay) -> None:
    assert result["errorMessage"] == "Unauthorized", result  # API Gateway answers 401


def _allowed(result: dict[str, Any], replay: Replay) -> None:
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow", result
    assert result["context"]["tenant_id"] == "acme"


# In replay order (the erasure comes last: it removes the speaker the others read). Each check
# says what the real handler must answer against the stack.
EXPECTED: dict[str, Check] = {
    "authorizer/missing_key": _unauthorized,
    "authorizer/valid_bearer": _allowed,
    "authorizer/x_api_key": _allowed,
    "authorizer/websocket_query_key": _allowed,
    "health/get_health": _data(lambda d, r: d["status"] == "ok"),
    "health/get_key_me_authorized": _data(lambda d, r: d["tenant_id"] == "acme"),
    "intake/list_speakers": _data(lambda d, r: [s["speaker_id"] for s in d] == [r.values["SPEAKER_ID"]]),
    "intake/get_speaker": _data(lambda d, r: d["enrollment_status"] == "ready"),
    "intake/create_speaker_missing_parts": _status(422, "missing_field"),
    "preflight/missing_audio": _status(422, "missing_field"),
    "warm/get_warm": _data(lambda d, r: d["warm_node_ids"] == ["node-1"]),
    "warm/post_warm_unknown_node": _status(422, "unknown_node"),
    "enroll_candidates/all_nodes": _that(lambda res, r: (
        res["candidates"] == [{"node_id": "node-1", "endpoint_name": "scaiecho-local-node-1"}])),
    "enroll_node/embed_on_node": _equals(lambda r: {"node_id": "node-1", "ok": True}),
    "enroll_finalize/no_candidates": _that(lambda res, r: (
        res["status"] == "ready" and res["enrolled_on"] == ["node-1"])),
    "node_probe/probe_node": _equals(lambda r: {"node_id": "node-1", "status": "online",
                                                "model_id": "contract-node"}),
    # The speaker is ready on the one online node: nothing to evict, enroll or re-warm.
    "node_settle/after_probe": _equals(lambda r: {"evicted": 0, "enrollments_started": 0, "errors": []}),
    "transcribe/submit_foreign_url": _status(422, "audio_url_not_allowed"),
    "transcribe/export_srt": _status(200),
    # The replayed job was uploaded: it has no remote URL, so the fetch step has nothing to do.
    "job_fetch/fetch_remote_audio": _equals(lambda r: {"fetched": False}),
    # The job completed before: a replayed step finds it settled and leaves it alone.
    "job_asr/transcribe_on_node": _that(lambda res, r: res["settled"] is True),
    "job_diarize/diarize_on_node": _that(lambda res, r: res["settled"] is True),
    "job_merge/diarization_timed_out": _equals(lambda r: {"status": "settled"}),
    "job_fail/asr_timed_out": _equals(lambda r: {"status": "FAILED"}),
    "voice_profile/get_status": _data(lambda d, r: d == {"status": "MISSING"}),
    "voice_profile/post_key_without_user": _status(403, "user_key_required"),
    "voice_profile/post_unsupported_media": _status(415, "unsupported_media_type"),
    "voice_profile/delete_profile": _status(204),
    "stream_connect/connect_authorized": _equals(lambda r: {"statusCode": 200}),
    "stream_default/unknown_type": _equals(lambda r: {"statusCode": 200}),
    "stream_default/open_frame": _equals(lambda r: {"statusCode": 200}),
    "stream_disconnect/disconnect": _equals(lambda r: {"statusCode": 200}),
    "stream_idle_sweep/schedule": _equals(lambda r: {"ended": 0}),
    "retention_erasure/daily_schedule": _that(lambda res, r: res["erased"] == [] and res["checked"] == 1),
    "erasure/delete_speaker": _data(lambda d, r: d["status"] == "complete"
                                    and d["audit_id"] == r.values["AUDIT_ID"]),
    "erasure/get_erasure": _data(lambda d, r: d["speaker_id"] == r.values["SPEAKER_ID"]),
    "erasure_retry/retry_pass": _that(lambda res, r: res["done"] is True and res["status"] == "complete"),
}


def test_every_event_file_has_an_expectation() -> None:
    files_ = sorted(f"{p.parent.name}/{p.stem}" for p in EVENTS.glob("*/*.json"))
    assert files_ == sorted(EXPECTED)


def test_every_event_replays_through_scaiecho_invoke(replay: Replay) -> None:
    failures = []
    for name, check in EXPECTED.items():
        function, event = name.split("/")
        code, result = replay.invoke(function, EVENTS / function / f"{event}.json")
        try:
            check(result, replay)
            # A handler that raises exits 1 with Lambda's error document, like `sam local invoke`.
            assert code == (1 if "errorType" in result else 0), (code, result)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
    # The node-backed events reached the node through the stack's SageMaker runtime routing.
    assert {"embed", "health", "evict"} <= {r.get("action") for r in replay.node.requests}


def test_stdin_event_and_a_missing_placeholder(replay: Replay) -> None:
    event = (EVENTS / "intake" / "get_speaker.json").read_text()
    done = replay.cli("invoke", "IntakeFunction", "-", stdin=event.replace("{{SPEAKER_ID}}", "spk_nope"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 404
    missing = replay.cli("invoke", "intake", str(EVENTS / "intake" / "get_speaker.json"))
    assert missing.returncode == 2 and "SPEAKER_ID" in missing.stderr


def test_the_function_sees_its_own_environment_only(replay: Replay) -> None:
    """Lambda gives a function the template's variables for it: the intake function knows the
    enrollment workflow, not the transcription one, whatever the caller's shell holds."""
    from scaiecho.local.invoke import LocalFunctions
    from scaiecho.local.state import read_state

    state = read_state()
    assert state is not None
    functions = LocalFunctions.from_state(state)
    intake = functions.lambda_environment(functions.find("intake"))
    assert intake["SCAIECHO_ENROLL_STATE_MACHINE_ARN"].endswith(":stateMachine:scaiecho-local-enroll")
    assert "SCAIECHO_TRANSCRIBE_STATE_MACHINE_ARN" not in intake
    assert intake["AWS_ENDPOINT_URL"] == replay.stack.moto_url
    assert intake["SCAIECHO_WORKFLOW_SYNC_API"] == "false"
    assert intake["AWS_LAMBDA_FUNCTION_NAME"] == "scaiecho-local-intake"


def test_env_sam_points_every_declared_variable_at_the_stack(replay: Replay, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    done = replay.cli("env", "--sam", "--out", str(out), "--endpoint-host", "host.docker.internal")
    assert done.returncode == 0, done.stderr
    env = json.loads(out.read_text())
    from scaiecho.local.template import load_template, resources_of

    template = load_template(ROOT / "template.yaml")
    assert set(env) == set(resources_of(template, "AWS::Serverless::Function"))
    port = replay.stack.moto_url.rsplit(":", 1)[1]
    for logical, variables in env.items():
        declared = set(template["Globals"]["Function"]["Environment"]["Variables"])
        own = template["Resources"][logical]["Properties"].get("Environment", {}).get("Variables", {})
        assert set(variables) == declared | set(own), logical  # SAM ignores undeclared ones
        assert variables["SCAIECHO_AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{port}"
        assert variables["SCAIECHO_WORKFLOW_SYNC_API"] == "false"
        assert variables["SCAIECHO_SPEAKERS_TABLE"] == "scaiecho-local-speakers"
    assert env["IntakeFunction"]["SCAIECHO_ENROLL_STATE_MACHINE_ARN"].endswith(":scaiecho-local-enroll")


def test_executions_cli_reads_the_running_stack(replay: Replay) -> None:
    speaker_id, job_id = replay.values["SPEAKER_ID"], replay.values["JOB_ID"]
    listed = replay.cli("executions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {e["name"]: e for e in json.loads(listed.stdout)}
    assert names[f"enroll-{speaker_id}-1"]["workflow"] == "enroll"
    assert names[f"job-{job_id}"]["status"] == "SUCCEEDED"
    shown = replay.cli("executions", "show", f"enroll-{speaker_id}-1")
    assert shown.returncode == 0, shown.stderr
    # one node, whose voiceprint intake recorded: the workflow has no node left to embed on
    assert "done     Choice    AnyCandidate" in shown.stdout and "console" not in shown.stdout
    assert "done     Task      Finalize" in shown.stdout
