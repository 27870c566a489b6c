"""The operator's commands of docs/operations.md: `scaiecho executions list|show` (the local
stack's stand-in for the Step Functions console, reading what moto's interpreter recorded of real
jobs: one completed, one failed on the node) and `scaiecho nodes register|deregister`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from scaiecho.cli import main
from tests.conftest import auth
from tests.contract_node import ContractNode, registered
from tests.integration.test_transcription import ALL, ASR, JOBS, submit, wait


@pytest.fixture
def node(aws: Any) -> Iterator[ContractNode]:
    with registered({"transcribe": (200, ASR)}) as contract:
        yield contract


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("SCAIECHO_NO_LOCAL_STACK", "1")  # the in-process moto, not a running stack

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()  # drop what the workflows' tasks logged meanwhile
        code = main(list(args))
        # Workflow tasks still finishing in moto's threads print to the same stdout: their log
        # lines and EMF metrics are one-line JSON objects; the CLI's own JSON is indented.
        own = [line for line in capsys.readouterr().out.splitlines(keepends=True)
               if not line.startswith('{"')]
        return code, "".join(own)
    return run


def test_list_and_show_a_completed_and_a_failed_job(api: Any, node: ContractNode, make_key: Any,
                                                    cli: Any) -> None:
    key = make_key("acme", ALL)
    done = submit(api, key)["job_id"]
    assert wait(api, key, done)["status"] == "COMPLETED"
    node.answers["transcribe"] = (422, {"error": {"code": "unsupported_language",
                                                  "message": "tiny.en does English only"}})
    failed = submit(api, key)["job_id"]
    assert wait(api, key, failed)["status"] == "FAILED"
    error = api.get(f"{JOBS}/{failed}", headers=auth(key)).json()["data"]["error"]
    assert error["code"] == "unsupported_language"

    # The job row turns FAILED in the workflow's failure task, a moment before the execution
    # itself ends: wait (bounded) until it has.
    deadline = time.monotonic() + 30
    while True:
        code, out = cli("executions", "list", "--workflow", "transcribe", "--json")
        assert code == 0
        listed = {e["name"]: e["status"] for e in json.loads(out)}
        if "RUNNING" not in listed.values() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert listed == {f"job-{done}": "SUCCEEDED", f"job-{failed}": "FAILED"}
    code, out = cli("executions", "list", "--status", "FAILED")
    assert code == 0 and f"job-{failed}" in out and f"job-{done}" not in out

    code, out = cli("executions", "show", f"job-{failed}", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["status"] == "FAILED" and shown["error"] == "TranscriptionJobFailed"
    assert shown["input"]["job_id"] == failed
    # In-process moto has no endpoint URL, so this looks like AWS: the console page of the run.
    assert shown["console_url"].endswith(f"#/v2/executions/details/{shown['arn']}")
    states = {s["name"]: s for s in shown["states"]}
    assert states["SpeechToText"]["error"] and "tiny.en does English only" in states["SpeechToText"]["cause"]
    assert states["RecordFailure"]["status"] == "done"
    assert states["JobFailed"]["type"] == "Fail"

    code, out = cli("executions", "show", f"job-{done}")
    assert code == 0
    assert f"job-{done}  (transcribe)  SUCCEEDED" in out
    assert "done     Task      Merge" in out

    assert cli("executions", "show", "job-nope")[0] == 2
    assert cli("executions", "list", "--workflow", "nope")[0] == 2


def test_nodes_register_and_deregister(aws: Any, cli: Any) -> None:
    from scaiecho.adapters.nodes import NodeStore

    assert cli("nodes", "register", "node-9", "scaiecho-local-node-9")[0] == 0
    assert [n.node_id for n in NodeStore().list()] == ["node-9"]
    code, out = cli("nodes", "deregister", "node-9", "--json")
    assert code == 0 and json.loads(out) == {"node_id": "node-9", "deregistered": True}
    assert NodeStore().list() == []
    assert cli("nodes", "deregister", "node-9")[0] == 2  # not registered
