"""Step Functions execution names: named after what they act on, ids only.

An operator finds the execution of a speaker, a job or an erasure by its id in the console
(``enroll-<speaker_id>-<n>``, ``job-<job_id>``, ``erasure-<audit_id>-<n>``). Names are visible to
anyone who can list executions, so they carry ids and nothing personal. Step Functions allows at
most 80 characters from ``[A-Za-z0-9_-]`` (the documented safe set; CloudWatch logging rejects more).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_NAME_LENGTH = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_VALID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")

ENROLL = "enroll"
JOB = "job"
ERASURE = "erasure"
NODE_PROBE = "node-probe"


@dataclass(frozen=True)
class ExecutionName:
    """A family of names for one subject: ``<kind>-<subject_id>`` or, when the subject may be
    acted on more than once (a re-driven enrollment, a re-scheduled erasure retry),
    ``<kind>-<subject_id>-<n>`` with n = 1, 2, ... chosen by whoever starts the execution."""

    kind: str
    subject_id: str
    numbered: bool = True

    def candidate(self, n: int = 1) -> str:
        suffix = f"-{n}" if self.numbered else ""
        head = f"{self.kind}-{_UNSAFE.sub('-', self.subject_id)}"
        # Ids here are short (~30 chars); cutting the id rather than the suffix keeps names unique
        # per n should a longer id ever appear.
        name = head[: MAX_NAME_LENGTH - len(suffix)] + suffix
        if not _VALID.match(name):
            raise ValueError(f"not a valid execution name: {name!r}")
        return name

    def matches(self, name: str) -> bool:
        """Whether ``name`` belongs to this family (used to find a subject's executions)."""
        if not self.numbered:
            return name == self.candidate()
        _, _, n = name.rpartition("-")
        return n.isdigit() and int(n) > 0 and name == self.candidate(int(n))


def enrollment(speaker_id: str) -> ExecutionName:
    return ExecutionName(ENROLL, speaker_id)


def job(job_id: str) -> ExecutionName:
    return ExecutionName(JOB, job_id, numbered=False)


def erasure(audit_id: str) -> ExecutionName:
    return ExecutionName(ERASURE, audit_id)


def node_probe(stamp: str) -> ExecutionName:
    return ExecutionName(NODE_PROBE, stamp)


def is_valid(name: str) -> bool:
    return bool(_VALID.match(name))


def console_url(execution_arn: str, *, started_ms: int | None = None) -> str:
    """The Step Functions console page of an execution (region taken from its ARN). Express
    executions live in CloudWatch Logs; their page needs the start time to find them."""
    region = execution_arn.split(":")[3]
    base = f"https://{region}.console.aws.amazon.com/states/home?region={region}"
    if ":express:" in execution_arn:
        when = f"?startDate={started_ms}" if started_ms is not None else ""
        return f"{base}#/express-executions/details/{execution_arn}{when}"
    return f"{base}#/v2/executions/details/{execution_arn}"


@dataclass
class StateStep:
    """One pass through a state, as the execution history records it."""

    name: str
    kind: str  # Task, Map, Choice, Pass, Wait, Parallel, Succeed, Fail
    entered: str
    exited: str | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def status(self) -> str:
        if self.exited is None:
            return "failed" if self.error else "running"
        return "caught" if self.error else "done"

    def serialize(self) -> dict[str, object]:
        return {"name": self.name, "type": self.kind, "status": self.status, "entered": self.entered,
                "exited": self.exited, "error": self.error, "cause": self.cause}


_FAILURE_DETAILS = ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails",
                    "executionFailedEventDetails", "mapIterationFailedEventDetails",
                    "taskTimedOutEventDetails", "executionTimedOutEventDetails")


def state_steps(events: list[dict[str, object]]) -> list[StateStep]:
    """The states an execution went through, in order, with the error each one met (a Task's
    retries and caught errors show on its step; an uncaught one also fails the execution)."""
    steps: list[StateStep] = []
    for event in events:
        kind = str(event.get("type", ""))
        when = str(event.get("timestamp", ""))
        if kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            name = str(details.get("name", "?")) if isinstance(details, dict) else "?"
            steps.append(StateStep(name=name, kind=kind[: -len("StateEntered")], entered=when))
        elif kind.endswith("StateExited"):
            details = event.get("stateExitedEventDetails") or {}
            name = str(details.get("name", "?")) if isinstance(details, dict) else "?"
            open_step = next((s for s in reversed(steps) if s.name == name and s.exited is None), None)
            if open_step is not None:
                open_step.exited = when
        elif kind.endswith("StateFailed"):  # a Parallel/Map whose branch failed (caught or not)
            prefix = kind[: -len("StateFailed")]
            open_step = next((s for s in reversed(steps) if s.kind == prefix and s.exited is None), None)
            if open_step is not None and open_step.error is None:
                open_step.error = "States.BranchFailed"
        else:
            failure = next((event[k] for k in _FAILURE_DETAILS if isinstance(event.get(k), dict)), None)
            if isinstance(failure, dict):
                open_step = next((s for s in reversed(steps) if s.exited is None), None)
                if open_step is not None:
                    open_step.error = str(failure.get("error") or "") or None
                    open_step.cause = _short(failure.get("cause"))
    return steps


def _short(cause: object, limit: int = 500) -> str | None:
    """A Lambda cause is its error document (message + stack): keep the message."""
    if not cause:
        return None
    text = str(cause)
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("errorMessage"):
            text = str(doc["errorMessage"])  # the error type is the step's error already
    return text[:limit]
