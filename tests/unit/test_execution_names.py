"""Execution names: after the subject, within Step Functions' rules, numbered where re-run."""

from __future__ import annotations

import pytest

from scaiecho.domain import executions
from scaiecho.domain.executions import ExecutionName, console_url, is_valid, state_steps


def test_names_follow_the_subject() -> None:
    assert executions.enrollment("spk_0a1b").candidate(1) == "enroll-spk_0a1b-1"
    assert executions.enrollment("spk_0a1b").candidate(12) == "enroll-spk_0a1b-12"
    assert executions.job("job_9f").candidate() == "job-job_9f"
    assert executions.job("job_9f").candidate(3) == "job-job_9f"  # a job runs once
    assert executions.erasure("era_77").candidate(2) == "erasure-era_77-2"


def test_names_stay_within_the_rules() -> None:
    long = ExecutionName("enroll", "x" * 200)
    for n in (1, 10, 12345):
        name = long.candidate(n)
        assert len(name) <= 80 and is_valid(name) and name.endswith(f"-{n}")
    assert long.candidate(1) != long.candidate(2)
    odd = ExecutionName("job", "a b/c:d", numbered=False).candidate()
    assert odd == "job-a-b-c-d" and is_valid(odd)
    assert not is_valid("enroll spk") and not is_valid("x" * 81) and not is_valid("")


def test_matches_a_family() -> None:
    family = executions.enrollment("spk_1")
    assert family.matches("enroll-spk_1-1") and family.matches("enroll-spk_1-22")
    assert not family.matches("enroll-spk_12-1") and not family.matches("enroll-spk_1-")
    assert not family.matches("enroll-spk_1-0") and not family.matches("job-spk_1-1")
    assert executions.job("job_1").matches("job-job_1")
    assert not executions.job("job_1").matches("job-job_1-1")


@pytest.mark.parametrize(("arn", "expected"), [
    ("arn:aws:states:eu-west-1:123456789012:execution:scaiecho-prod-transcribe:job-job_1",
     "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/"
     "arn:aws:states:eu-west-1:123456789012:execution:scaiecho-prod-transcribe:job-job_1"),
    ("arn:aws:states:us-east-1:123456789012:express:scaiecho-prod-enroll:enroll-spk_1-1:abc",
     "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/express-executions/"
     "details/arn:aws:states:us-east-1:123456789012:express:scaiecho-prod-enroll:enroll-spk_1-1:abc"
     "?startDate=1700000000000"),
])
def test_console_url(arn: str, expected: str) -> None:
    assert console_url(arn, started_ms=1_700_000_000_000) == expected


def test_no_console_link_on_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    from scaiecho.adapters.workflows import execution_link
    from scaiecho.settings import get_settings

    arn = "arn:aws:states:us-east-1:123456789012:execution:scaiecho-local-transcribe:job-job_1"
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SCAIECHO_AWS_ENDPOINT_URL", "")  # as the template declares it on AWS
    get_settings.cache_clear()
    try:
        assert execution_link(arn) == console_url(arn)
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
        get_settings.cache_clear()
        assert execution_link(arn) is None
    finally:
        get_settings.cache_clear()


def test_state_steps_of_a_caught_branch_failure() -> None:
    """The events moto (and AWS) record for a Parallel whose task failed and was caught."""
    cause = '{"errorType": "ValidationFailed", "errorMessage": "node-1: English only", "stackTrace": []}'
    events: list[dict[str, object]] = [
        {"type": "ExecutionStarted", "timestamp": "t0"},
        {"type": "ParallelStateEntered", "timestamp": "t1",
         "stateEnteredEventDetails": {"name": "TranscribeAndDiarize"}},
        {"type": "TaskStateEntered", "timestamp": "t2", "stateEnteredEventDetails": {"name": "SpeechToText"}},
        {"type": "TaskFailed", "timestamp": "t3",
         "taskFailedEventDetails": {"error": "ValidationFailed", "cause": cause}},
        {"type": "ParallelStateFailed", "timestamp": "t4"},
        {"type": "ParallelStateExited", "timestamp": "t5",
         "stateExitedEventDetails": {"name": "TranscribeAndDiarize"}},
        {"type": "TaskStateEntered", "timestamp": "t6",
         "stateEnteredEventDetails": {"name": "RecordFailure"}},
        {"type": "TaskStateExited", "timestamp": "t7", "stateExitedEventDetails": {"name": "RecordFailure"}},
        {"type": "FailStateEntered", "timestamp": "t8", "stateEnteredEventDetails": {"name": "JobFailed"}},
        {"type": "ExecutionFailed", "timestamp": "t9",
         "executionFailedEventDetails": {"error": "TranscriptionJobFailed", "cause": "see the job"}},
    ]
    steps = {s.name: s for s in state_steps(events)}
    assert [(s.name, s.kind, s.status) for s in state_steps(events)] == [
        ("TranscribeAndDiarize", "Parallel", "caught"), ("SpeechToText", "Task", "failed"),
        ("RecordFailure", "Task", "done"), ("JobFailed", "Fail", "failed")]
    assert (steps["SpeechToText"].error, steps["SpeechToText"].cause) == ("ValidationFailed",
                                                                         "node-1: English only")
    assert steps["JobFailed"].serialize()["error"] == "TranscriptionJobFailed"
