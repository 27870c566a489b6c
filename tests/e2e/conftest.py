"""The embedded local stack, started once for the e2e package: moto server, uvicorn, and two
real pyannote node processes. Torn down (and the process environment restored) afterwards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaiecho.local.nodes import node_engine_available
from scaiecho.local.stack import LocalStack, StackConfig, free_port

pytestmark = pytest.mark.e2e

# The tenant of tests/e2e/test_seed_speakers_e2e.py's completeness checks: it keeps the default
# (incomplete enrollments are not identified), unlike every other e2e tenant (see `stack`).
COMPLETENESS_TENANT = "seed-speaker-ids"


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if not node_engine_available():
        pytest.skip("the node engine (extra [node]) is not installed")
    saved = dict(os.environ)
    os.environ["SCAIECHO_HOME"] = str(tmp_path_factory.mktemp("scaiecho-home"))
    # The e2e tests enroll fixture readers from parts under 12 s of speech (the rest is what the
    # jobs and streams hear), so their tenants opt into identifying incomplete enrollments.
    os.environ["SCAIECHO_IDENTIFY_INCOMPLETE_ENROLLMENTS"] = "true"
    os.environ["SCAIECHO_IDENTIFY_INCOMPLETE_ENROLLMENTS_BY_TENANT"] = json.dumps(
        {COMPLETENESS_TENANT: False})
    model_dir = os.environ.get("SCAIECHO_MODEL_DIR") or str(
        Path(__file__).resolve().parents[2] / ".models" / "default"
    )
    local = LocalStack(StackConfig(port=free_port(), nodes=2, model_dir=model_dir,
                                   write_state_file=False))
    try:
        local.start_aws()
        local.create_demo_key()
        local.start_nodes()
        local.start_api(in_thread=True)
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        from tests.conftest import _reset_settings

        _reset_settings()


@pytest.fixture(scope="package")
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=300,
                      headers={"Authorization": f"Bearer {stack.demo_api_key}"}) as client:
        yield client


def restart_node(stack: LocalStack, index: int) -> Any:
    """Start a stopped node again (same id and endpoint name) and wait until it is ready."""
    from scaiecho.local import moto_patches
    from scaiecho.local.nodes import start_node, wait_ready

    old = stack.nodes[index]
    log_dir = Path(os.environ["SCAIECHO_HOME"]) / "logs"
    node = start_node(old.node_id, old.endpoint_name, free_port(), log_dir, stack.config.model_dir)
    if not wait_ready([node], 240):
        raise AssertionError(f"node {old.node_id} did not restart; see {node.log_path}")
    moto_patches.register_endpoint(node.endpoint_name, node.url)
    stack.nodes[index] = node
    return node
