"""Runs a Step Functions workflow and waits for it, up to a bound.

Express workflows on AWS answer ``StartSyncExecution``; moto has no such call, so the local stack
sets ``workflow_sync_api=false`` and this polls ``DescribeExecution`` of a started execution.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scaiecho.adapters.aws import client
from scaiecho.errors import UpstreamError
from scaiecho.settings import get_settings


@dataclass(frozen=True)
class WorkflowRun:
    execution_arn: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED | RUNNING (still going at the bound)
    output: dict[str, Any] | None
    error: str | None = None


class WorkflowRunner:
    def __init__(self, sfn: Any | None = None) -> None:
        self._sfn = sfn

    @property
    def sfn(self) -> Any:
        if self._sfn is None:
            self._sfn = client("stepfunctions", read_timeout=get_settings().workflow_wait_s + 10)
        return self._sfn

    def run(
        self, state_machine_arn: str, payload: dict[str, Any], *, wait_s: float | None = None
    ) -> WorkflowRun:
        settings = get_settings()
        wait_s = settings.workflow_wait_s if wait_s is None else wait_s
        # Always name executions: moto does not generate names (every run would be "None").
        kwargs = {"stateMachineArn": state_machine_arn, "input": json.dumps(payload),
                  "name": uuid.uuid4().hex}
        try:
            if settings.workflow_sync_api:
                return _to_run(self.sfn.start_sync_execution(**kwargs))
            arn = self.sfn.start_execution(**kwargs)["executionArn"]
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

    def start(self, state_machine_arn: str, payload: dict[str, Any], *, name: str | None = None) -> str:
        kwargs: dict[str, Any] = {
            "stateMachineArn": state_machine_arn,
            "input": json.dumps(payload),
            "name": name or uuid.uuid4().hex,
        }
        try:
            arn: str = self.sfn.start_execution(**kwargs)["executionArn"]
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"the workflow could not be started: {exc}", code="workflow_error") from exc
        return arn


def _to_run(resp: dict[str, Any]) -> WorkflowRun:
    output = resp.get("output")
    return WorkflowRun(
        execution_arn=resp.get("executionArn", ""),
        status=resp["status"],
        output=json.loads(output) if output else None,
        error=resp.get("cause") or resp.get("error"),
    )
