"""Runs a Step Functions workflow and waits for it, up to a bound.

Express workflows on AWS answer ``StartSyncExecution``; moto has no such call, so the local stack
sets ``workflow_sync_api=false`` and this polls ``DescribeExecution`` of a started execution.
Every execution is named after what it acts on (``domain.executions``); a name already taken (a
re-driven enrollment, a second erasure retry) moves on to the next number.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scaiecho.adapters.aws import client
from scaiecho.domain.executions import ExecutionName, console_url
from scaiecho.errors import UpstreamError
from scaiecho.settings import get_settings

# Names already taken are skipped one by one; a subject re-driven this often has a problem an
# operator must look at, so the start fails instead of probing forever.
MAX_NAME_ATTEMPTS = 100


@dataclass(frozen=True)
class WorkflowRun:
    execution_arn: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED | RUNNING (still going at the bound)
    output: dict[str, Any] | None
    error: str | None = None
    started_ms: int | None = None  # the console's page of an Express execution needs it

    @property
    def console_url(self) -> str | None:
        return execution_link(self.execution_arn, started_ms=self.started_ms)


class WorkflowRunner:
    def __init__(self, sfn: Any | None = None) -> None:
        self._sfn = sfn

    @property
    def sfn(self) -> Any:
        if self._sfn is None:
            self._sfn = client("stepfunctions", read_timeout=get_settings().workflow_wait_s + 10)
        return self._sfn

    def run(
        self, state_machine_arn: str, payload: dict[str, Any], *, name: ExecutionName,
        wait_s: float | None = None,
    ) -> WorkflowRun:
        settings = get_settings()
        wait_s = settings.workflow_wait_s if wait_s is None else wait_s
        try:
            if settings.workflow_sync_api:
                return _to_run(self._named(self.sfn.start_sync_execution, state_machine_arn, payload, name))
            arn = self._named(self.sfn.start_execution, state_machine_arn, payload, name)["executionArn"]
            deadline = time.monotonic() + wait_s
            delay = 0.05
            while True:
                desc = self.sfn.describe_execution(executionArn=arn)
                if desc["status"] != "RUNNING" or time.monotonic() >= deadline:
                    return _to_run(desc)
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"the workflow could not be run: {exc}", code="workflow_error") from exc

    def start(self, state_machine_arn: str, payload: dict[str, Any], *, name: ExecutionName) -> str:
        try:
            arn: str = self._named(self.sfn.start_execution, state_machine_arn, payload, name)["executionArn"]
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"the workflow could not be started: {exc}", code="workflow_error") from exc
        return arn

    @staticmethod
    def _named(call: Any, state_machine_arn: str, payload: dict[str, Any],
               name: ExecutionName) -> dict[str, Any]:
        """Start under the first free name of the family (always named: moto does not generate
        names, and a uuid tells an operator nothing)."""
        body = json.dumps(payload)
        attempts = MAX_NAME_ATTEMPTS if name.numbered else 1
        for n in range(1, attempts + 1):
            try:
                resp: dict[str, Any] = call(stateMachineArn=state_machine_arn, input=body,
                                            name=name.candidate(n))
                return resp
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists" or n == attempts:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises


def execution_link(execution_arn: str, *, started_ms: int | None = None) -> str | None:
    """The console link for logs on AWS; None on the local stack, which has no console (use
    ``scaiecho executions show``)."""
    if not execution_arn or get_settings().aws_endpoint_url:
        return None
    return console_url(execution_arn, started_ms=started_ms)


def _to_run(resp: dict[str, Any]) -> WorkflowRun:
    output = resp.get("output")
    started = resp.get("startDate")
    return WorkflowRun(
        execution_arn=resp.get("executionArn", ""),
        status=resp["status"],
        output=json.loads(output) if output else None,
        error=resp.get("cause") or resp.get("error"),
        started_ms=int(started.timestamp() * 1000) if isinstance(started, datetime) else None,
    )
