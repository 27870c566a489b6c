"""An ASL file from statemachine/ executed by moto, its Lambda task running the real handler, and
the node call going through SageMaker runtime routing to a process speaking /invocations."""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from scaiecho.adapters.nodes import NodeStore
from scaiecho.local import moto_patches
from tests.contract_node import ContractNode


@pytest.fixture
def contract_node() -> Iterator[str]:
    node = ContractNode()
    yield node.url
    node.stop()


def _run(aws: Any, logical: str, payload: dict[str, Any]) -> dict[str, Any]:
    sfn = aws.session.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=aws.state_machines[logical], input=json.dumps(payload),
                              name=uuid.uuid4().hex)["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            return dict(desc)
        time.sleep(0.05)
    raise AssertionError("execution did not finish")


def test_node_probe_marks_live_and_missing_nodes(aws: Any, contract_node: str) -> None:
    store = NodeStore()
    store.register("node-1", "scaiecho-local-node-1")
    store.register("node-2", "scaiecho-local-node-2")
    moto_patches.register_endpoint("scaiecho-local-node-1", contract_node)

    desc = _run(aws, "NodeProbeStateMachine", {})

    assert desc["status"] == "SUCCEEDED"
    results = {r["node_id"]: r for r in json.loads(desc["output"])["results"]}
    assert results["node-1"] == {"node_id": "node-1", "status": "online", "model_id": "contract-node"}
    assert results["node-2"]["status"] == "offline"
    nodes = {n.node_id: n for n in store.list()}
    assert nodes["node-1"].status == "online" and nodes["node-1"].last_seen is not None
    assert nodes["node-2"].status == "offline" and "not found" in (nodes["node-2"].last_error or "")


def test_handler_failure_is_caught_by_the_asl(aws: Any) -> None:
    """A task whose handler raises reports FunctionError; the Map's Catch turns it into a result."""
    NodeStore().register("node-x", "")  # empty endpoint: the handler rejects it
    desc = _run(aws, "NodeProbeStateMachine", {})
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"])["results"] == [{"node_id": "node-x", "status": "probe_failed"}]


def test_node_error_body_reaches_the_client(aws: Any, contract_node: str) -> None:
    from scaiecho.adapters.nodes import NodeClient
    from scaiecho.contracts.node import InlineAudio
    from scaiecho.errors import NodeError

    moto_patches.register_endpoint("scaiecho-local-node-1", contract_node)
    # the contract node answers health and evict only: anything else is its 400 error body
    with pytest.raises(NodeError, match="bad action") as refused:
        NodeClient().embed("scaiecho-local-node-1", InlineAudio.of(b"RIFF"))
    assert refused.value.details == {"node_code": "unknown_action", "node_status": 400}
