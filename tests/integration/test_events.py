"""Every sample event in events/ replayed through its function's real handler (as `sam local invoke`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scaiecho.adapters.nodes import NodeStore
from tests.contract_node import SpeechScript, registered
from tests.events import EVENTS, call_handler, load_event
from tests.integration.test_enrollment import create

FUNCTIONS_WITH_EVENTS = sorted(p.name for p in EVENTS.iterdir() if p.is_dir())




def test_every_function_has_events() -> None:
    functions = sorted(p.name for p in (EVENTS.parent / "functions").iterdir() if p.is_dir())
    assert functions == FUNCTIONS_WITH_EVENTS


@pytest.fixture
def speaker_id(api: Any, make_key: Any) -> str:
    """A speaker whose only node went away: intake checks its consent on a scripted node (whose
    embedding of the reference is the voiceprint there, so it is ``ready``; with no other node
    there is nothing to fan out, and any embedding by S3 reference would fail), then the node is
    deregistered."""
    failing = (500, {"error": {"code": "node_failure", "message": "down"}})
    with registered(SpeechScript().wrap({"embed": failing}), online=True, node_id="node-check"):
        sid = create(api, make_key("acme", "scaiecho:enroll"))
    NodeStore().deregister("node-check")
    return sid


def invoke(function: str, event: str, **placeholders: str) -> dict[str, Any]:
    result: dict[str, Any] = call_handler(function, load_event(function, event, **placeholders))
    return result


def body(response: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response["body"])
    return data


def test_intake_reads(speaker_id: str) -> None:
    listed = invoke("intake", "list_speakers")
    assert listed["statusCode"] == 200
    assert [s["speaker_id"] for s in body(listed)["data"]] == [speaker_id]
    got = invoke("intake", "get_speaker", SPEAKER_ID=speaker_id)
    assert body(got)["data"]["enrollment_status"] == "ready"
    missing = invoke("intake", "get_speaker", SPEAKER_ID="spk_nope")
    assert missing["statusCode"] == 404


def test_intake_rejects_incomplete_multipart(aws: Any) -> None:
    resp = invoke("intake", "create_speaker_missing_parts")
    assert resp["statusCode"] == 422
    assert body(resp)["error"]["code"] == "missing_field"


def test_warm_routes(speaker_id: str) -> None:
    warm = invoke("warm", "get_warm", SPEAKER_ID=speaker_id)
    assert body(warm)["data"]["warm_node_ids"] == []
    bad = invoke("warm", "post_warm_unknown_node", SPEAKER_ID=speaker_id)
    assert bad["statusCode"] == 422
    assert body(bad)["error"]["code"] == "unknown_node"


def test_preflight_without_audio(aws: Any) -> None:
    resp = invoke("preflight", "missing_audio")
    assert resp["statusCode"] == 422
    assert body(resp)["error"]["details"]["fields"] == ["audio"]


def test_enrollment_tasks(aws: Any, speaker_id: str) -> None:
    NodeStore().register("node-1", "scaiecho-local-node-1")  # registered, but not running
    found = invoke("enroll_candidates", "all_nodes", SPEAKER_ID=speaker_id, BUCKET=aws.buckets[0])
    assert found["candidates"] == []
    assert found["unavailable"][0]["node_id"] == "node-1"
    from scaiecho.errors import NodeError

    with pytest.raises(NodeError):
        invoke("enroll_node", "embed_on_node", SPEAKER_ID=speaker_id, BUCKET=aws.buckets[0])
    settled = invoke("enroll_finalize", "no_candidates", SPEAKER_ID=speaker_id)
    assert settled["status"] == "evicted"  # it was held, and the node that held it is gone
    assert "every node that held this speaker is gone" in settled["note"]


def test_node_probe_event(aws: Any) -> None:
    NodeStore().register("node-1", "scaiecho-local-node-1")
    result = invoke("node_probe", "probe_node")
    assert result == {"node_id": "node-1", "status": "offline", "error": result["error"]}


# ------------------------------------------------------------------ transcription jobs
def _queued_job(aws: Any) -> str:
    from scaiecho.adapters.jobs import JobStore
    from scaiecho.domain.speakers import new_id

    job_id = new_id("job")
    JobStore().create(tenant_id="acme", job_id=job_id, request={"language": "en", "diarize": True},
                      audio_key=f"uploads/acme/jobs/{job_id}/audio.flac", audio_bytes=1)
    return job_id


def test_transcribe_routes(aws: Any) -> None:
    refused = invoke("transcribe", "submit_foreign_url")
    assert refused["statusCode"] == 422
    assert body(refused)["error"]["code"] == "audio_url_not_allowed"
    job_id = _queued_job(aws)
    queued = invoke("transcribe", "export_srt", JOB_ID=job_id)
    assert queued["statusCode"] == 409 and body(queued)["error"]["code"] == "job_not_completed"
    assert invoke("transcribe", "export_srt", JOB_ID="job_nope")["statusCode"] == 404


def test_fetch_task_fails_the_job_with_the_fetchers_code(aws: Any) -> None:
    from scaiecho.adapters.jobs import JobStore
    from scaiecho.domain.speakers import new_id
    from scaiecho.errors import AudioUrlFailed

    bucket = aws.buckets[0]
    uploaded = _queued_job(aws)
    assert invoke("job_fetch", "fetch_remote_audio", JOB_ID=uploaded, BUCKET=bucket) == {"fetched": False}
    remote = new_id("job")
    JobStore().create(tenant_id="acme", job_id=remote, request={"language": "en", "diarize": False},
                      audio_key=f"uploads/acme/jobs/{remote}/audio.pending", audio_bytes=0,
                      source_url="https://169.254.169.254/latest/meta-data/")
    with pytest.raises(AudioUrlFailed):
        invoke("job_fetch", "fetch_remote_audio", JOB_ID=remote, BUCKET=bucket)
    row = JobStore().get("acme", remote)
    assert row is not None and (row.status.value, row.error_code) == ("FAILED", "audio_url_forbidden_address")


def test_transcription_tasks(aws: Any) -> None:
    from scaiecho.adapters.jobs import JobFiles, JobStore
    from scaiecho.errors import ServiceUnavailable

    bucket = aws.buckets[0]
    asr_job = _queued_job(aws)
    with pytest.raises(ServiceUnavailable):  # no node registered
        invoke("job_asr", "transcribe_on_node", JOB_ID=asr_job, BUCKET=bucket)
    failed = JobStore().get("acme", asr_job)
    assert failed is not None and failed.error_code == "no_node_available"

    diar_job = _queued_job(aws)
    with pytest.raises(ServiceUnavailable):
        invoke("job_diarize", "diarize_on_node", JOB_ID=diar_job, BUCKET=bucket)
    degraded = JobStore().get("acme", diar_job)
    assert degraded is not None and degraded.status.value == "PROCESSING"  # diarization never fails a job
    assert degraded.progress == {"diarization": "failed"}

    JobFiles(bucket=bucket).put_json(f"tenant/acme/jobs/{diar_job}/asr.json", {
        "duration_s": 2.0, "language": "en", "model": "tiny.en", "warnings": [],
        "segments": [{"start": 0.1, "end": 1.0, "text": " Hi.", "words": [
            {"start": 0.1, "end": 1.0, "word": " Hi.", "probability": 0.9}]}]})
    merged = invoke("job_merge", "diarization_timed_out", JOB_ID=diar_job, BUCKET=bucket)
    assert merged["status"] == "COMPLETED"
    done = JobStore().get("acme", diar_job)
    assert done is not None and done.status.value == "COMPLETED"
    assert done.warnings == [
        # worded as the job document's example ("pyannote timeout after 120s")
        "Diarization failed: pyannote timeout after 1800s. Transcript returned without speaker labels."]

    timed_out = _queued_job(aws)
    assert invoke("job_fail", "asr_timed_out", JOB_ID=timed_out) == {"status": "FAILED"}
    row = JobStore().get("acme", timed_out)
    assert row is not None and (row.status.value, row.error_code) == ("FAILED", "timeout")
