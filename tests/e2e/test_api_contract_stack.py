"""Contract test against the running local stack: schemathesis reads the OpenAPI document the
server serves and drives every operation over real HTTP (uvicorn, moto server, two real pyannote
nodes behind the workflows). Checks: never a 5xx, and every answer conforms to the documented
schema (status, content type, body). The in-process twin, tests/integration/test_api_contract.py,
runs more examples per operation; this one proves the served stack, not only the app, keeps it.

(One test looping over the operations: schemathesis' lazy fixture loader does not work with this
pytest, and the schema can only be read once the package's stack is up.)"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from scaiecho.api.app import API_PREFIX
from scaiecho.local.stack import ALL_SCOPES, LocalStack
from scaiecho.services.keys import create_key

pytestmark = pytest.mark.e2e
EXAMPLES = 4


def test_the_served_stack_honours_its_contract(stack: LocalStack) -> None:
    base = stack.api_url.split(API_PREFIX)[0]
    schema = schemathesis.openapi.from_url(f"{base}{API_PREFIX}/openapi.json")
    # a tenant of its own with every scope, bound to a user (the voice-profile routes need one)
    headers = {"Authorization": f"Bearer {create_key('e2e-contract', ALL_SCOPES, user_id='u-1').api_key}"}
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def honours(case: Any) -> None:
            case.call_and_validate(base_url=base, headers=headers, timeout=120, checks=checks)

        try:
            honours()
        except Exception as exc:  # one report for every operation, not just the first
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    assert len(operations) >= 25
    assert not failures, "\n\n".join(failures)
    _wait_for_workflows()


def _wait_for_workflows(timeout_s: float = 300.0) -> None:
    """Let the enrollments and jobs the examples started finish: the later e2e tests measure
    live-stream latency on the same two nodes."""
    import time

    from scaiecho.adapters.execution_history import ExecutionHistory

    history = ExecutionHistory()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = [e for w in ("enroll", "transcribe")
                   for e in history.recent(workflow=w, status="RUNNING")]
        if not running:
            return
        time.sleep(2)
