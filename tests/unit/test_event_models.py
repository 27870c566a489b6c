"""Lambda events parse into the handlers' models (scaiecho.handlers.events): every recorded
sample event in events/ that a task or WebSocket route reads, and bad events give one clear error."""

from __future__ import annotations

import pytest

from scaiecho.errors import ValidationFailed
from scaiecho.handlers import events as models
from scaiecho.handlers.events import parse_event
from tests.events import load_event

SAMPLES = [
    ("job_asr", "transcribe_on_node", models.JobTask),
    ("job_diarize", "diarize_on_node", models.JobTask),
    ("job_fetch", "fetch_remote_audio", models.JobTask),
    ("job_merge", "diarization_timed_out", models.MergeTask),
    ("job_fail", "asr_timed_out", models.JobFailTask),
    ("enroll_candidates", "all_nodes", models.FindCandidatesTask),
    ("enroll_node", "embed_on_node", models.EnrollOnNodeTask),
    ("enroll_finalize", "no_candidates", models.FinalizeTask),
    ("erasure_retry", "retry_pass", models.ErasureRetryTask),
    ("node_probe", "probe_node", models.NodeProbeTask),
    ("stream_connect", "connect_authorized", models.WebSocketEvent),
    ("stream_default", "open_frame", models.WebSocketEvent),
    ("stream_disconnect", "disconnect", models.WebSocketEvent),
]


@pytest.mark.parametrize(("function", "name", "model"), SAMPLES)
def test_every_recorded_sample_event_parses(function: str, name: str, model: type) -> None:
    event = load_event(function, name, JOB_ID="job_1", BUCKET="b", CONNECTION_ID="c1",
                       TENANT_ID="acme", SPEAKER_ID="spk_1", AUDIT_ID="era_1", SCOPES="stream")
    assert isinstance(parse_event(event, model), model)


def test_a_task_reads_attributes_with_state_machine_nulls_as_empty() -> None:
    task = parse_event({"tenant_id": "t", "job_id": "j", "bucket": "b", "options": None,
                        "asr": {"key": "k"}, "diarization": None, "extra": "state"}, models.MergeTask)
    assert task.options == {} and task.diarization == {} and task.language is None


def test_websocket_context_fields() -> None:
    event = {"requestContext": {"connectionId": "c1", "requestTimeEpoch": 1700000000123,
                                "authorizer": {"tenant_id": "t", "scopes": "stream"}},
             "body": "AAE=", "isBase64Encoded": True}
    parsed = parse_event(event, models.WebSocketEvent)
    assert parsed.request_context.request_time_epoch == 1700000000123
    assert parsed.request_context.authorizer is not None
    assert parsed.request_context.authorizer.tenant_id == "t"
    assert parsed.is_base64_encoded and parsed.body == "AAE="


@pytest.mark.parametrize(("event", "model", "named"), [
    ({"tenant_id": "t", "job_id": "j"}, models.JobTask, "bucket"),
    ({"tenant_id": "", "audit_id": "era_1"}, models.ErasureRetryTask, "tenant_id"),
    ({"node_id": "n"}, models.NodeProbeTask, "endpoint_name"),
    ({"requestContext": {}}, models.WebSocketEvent, "connectionId"),
    ("not an object", models.JobTask, "event"),
])
def test_bad_events_name_what_is_wrong(event: object, model: type, named: str) -> None:
    with pytest.raises(ValidationFailed, match=named) as info:
        parse_event(event, model)
    assert info.value.code == "invalid_event"
