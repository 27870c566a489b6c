"""Reads the platform's Step Functions executions: what `scaiecho executions list|show` prints for
the local stack, which has no console (on AWS the console shows the same, by the same names).

ListExecutions does not cover Express workflows on AWS (their history is in CloudWatch Logs); moto
records every execution, so locally all four workflows are listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scaiecho.adapters.aws import client
from scaiecho.adapters.workflows import execution_link
from scaiecho.domain.executions import StateStep, state_steps
from scaiecho.errors import NotFound, UpstreamError
from scaiecho.settings import get_settings


@dataclass(frozen=True)
class ExecutionSummary:
    name: str
    workflow: str  # enroll | transcribe | erasure-retry | node-probe
    arn: str
    status: str
    started: datetime
    stopped: datetime | None

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "workflow": self.workflow, "status": self.status,
                "started": self.started.isoformat(),
                "stopped": self.stopped.isoformat() if self.stopped else None, "arn": self.arn}


@dataclass(frozen=True)
class ExecutionDetail:
    summary: ExecutionSummary
    input: Any
    output: Any
    error: str | None
    cause: str | None
    steps: list[StateStep] = field(default_factory=list)

    def serialize(self) -> dict[str, Any]:
        return {**self.summary.serialize(), "input": self.input, "output": self.output,
                "error": self.error, "cause": self.cause,
                "states": [s.serialize() for s in self.steps],
                "console_url": execution_link(self.summary.arn)}


class ExecutionHistory:
    def __init__(self, sfn: Any | None = None) -> None:
        self._sfn = sfn

    @property
    def sfn(self) -> Any:
        if self._sfn is None:
            self._sfn = client("stepfunctions")
        return self._sfn

    def workflows(self) -> dict[str, str]:
        """Workflow name (the state machine's name without ``scaiecho-<stage>-``) -> ARN."""
        settings = get_settings()
        arns = [settings.enroll_state_machine_arn, settings.transcribe_state_machine_arn,
                settings.erasure_retry_state_machine_arn, settings.node_probe_state_machine_arn]
        prefix = f"scaiecho-{settings.stage}-"
        return {a.rsplit(":", 1)[-1].removeprefix(prefix): a for a in arns if a}

    def recent(self, *, workflow: str | None = None, status: str | None = None,
             limit: int = 50) -> list[ExecutionSummary]:
        """Newest first, across the platform's workflows (or one)."""
        workflows = self.workflows()
        if workflow is not None and workflow not in workflows:
            raise NotFound(f"no workflow {workflow!r}; one of: {', '.join(sorted(workflows))}",
                           code="workflow_not_found")
        found: list[ExecutionSummary] = []
        for name, arn in workflows.items():
            if workflow is None or name == workflow:
                found += self._executions(name, arn, status)
        found.sort(key=lambda e: e.started, reverse=True)
        return found[:limit]

    def show(self, name_or_arn: str) -> ExecutionDetail:
        """By execution ARN, or by name (``job-job_…``; a name is unique per workflow)."""
        summary = next((e for e in self.recent(limit=10_000)
                        if name_or_arn in (e.name, e.arn)), None)
        if summary is None:
            raise NotFound(f"no execution {name_or_arn!r}", code="execution_not_found")
        try:
            desc = self.sfn.describe_execution(executionArn=summary.arn)
            events: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"executionArn": summary.arn, "maxResults": 1000}
            while True:
                page = self.sfn.get_execution_history(**kwargs)
                events += page["events"]
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"could not read the execution: {exc}", code="workflow_error") from exc
        return ExecutionDetail(
            summary=summary, input=_json(desc.get("input")), output=_json(desc.get("output")),
            error=desc.get("error"), cause=desc.get("cause"), steps=state_steps(events),
        )

    def _executions(self, workflow: str, arn: str, status: str | None) -> list[ExecutionSummary]:
        kwargs: dict[str, Any] = {"stateMachineArn": arn}
        if status:
            kwargs["statusFilter"] = status
        out: list[ExecutionSummary] = []
        try:
            for page in self.sfn.get_paginator("list_executions").paginate(**kwargs):
                out += [ExecutionSummary(name=e["name"], workflow=workflow, arn=e["executionArn"],
                                         status=e["status"], started=e["startDate"],
                                         stopped=e.get("stopDate"))
                        for e in page["executions"]]
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"could not list executions: {exc}", code="workflow_error") from exc
        return out


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
