"""Transcription jobs against moto: the real API, job table, workflow (ASL run by moto, Lambda
tasks in-process) and S3, with a contract node scripting the node's answers (the real engine's
transcripts run in tests/e2e). Covers validation, scopes, tenancy, identification, degradation,
exports and limits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import FIXTURES, _reset_settings, auth
from tests.contract_node import ContractNode, SpeechScript, registered
from tests.integration.test_enrollment import create

JOBS = "/v1/modules/scaiecho/transcribe"
SPEECH = FIXTURES / "speech"
ALL = "scaiecho:transcribe,scaiecho:diarize"


def word(start: float, end: float, text: str) -> dict[str, Any]:
    return {"start": start, "end": end, "word": text, "probability": 0.9}


ASR = {"data": {
    "duration_s": 14.085, "language": "en", "model": "tiny.en", "warnings": [],
    "segments": [
        {"start": 0.2, "end": 2.0, "text": " Hello there.", "words": [word(0.2, 0.9, " Hello"),
                                                                     word(0.9, 2.0, " there.")]},
        {"start": 2.2, "end": 4.0, "text": " General Kenobi.", "words": [word(2.2, 3.0, " General"),
                                                                        word(3.0, 4.0, " Kenobi.")]},
    ],
}}


def diarization(identified: dict[str, Any]) -> dict[str, Any]:
    return {"data": {
        "duration_s": 14.085, "num_speakers": 2,
        "turns": [{"start": 0.1, "end": 2.1, "speaker": "SPEAKER_01"},
                  {"start": 2.1, "end": 4.2, "speaker": "SPEAKER_00"}],
        "speakers": [{"label": "SPEAKER_00", "speech_s": 2.1, "embedding": [0.1] * 4},
                     {"label": "SPEAKER_01", "speech_s": 2.0, "embedding": [0.2] * 4}],
        "identified": identified, "warnings": [],
    }}


@pytest.fixture
def node(aws: Any) -> Iterator[ContractNode]:
    # Enrollment's consent checks hear the fixtures; its fan-out embedding is refused as before
    # (tests make speakers ready by hand, with their own voiceprints: ``ready_speaker``).
    no_embed = (400, {"error": {"code": "unknown_action", "message": "bad action"}})
    with registered(SpeechScript().wrap({"transcribe": (200, ASR), "embed": no_embed,
                                         "diarize": (200, diarization({}))})) as contract:
        yield contract


@pytest.fixture
def key(make_key: Callable[..., str]) -> str:
    return make_key("acme", ALL)


def upload(**fields: str) -> dict[str, Any]:
    return {"data": fields,
            "files": {"audio": ("talk.flac", (SPEECH / "speaker_f_103.flac").read_bytes(), "audio/flac")}}


def wait(api: Any, key: str, job_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data: dict[str, Any] = api.get(f"{JOBS}/{job_id}", headers=auth(key)).json()["data"]
        if data["status"] in ("COMPLETED", "FAILED"):
            return data
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not settle: {data}")


def submit(api: Any, key: str, **fields: str) -> dict[str, Any]:
    resp = api.post(JOBS, headers=auth(key), **upload(**fields))
    assert resp.status_code == 202, resp.text
    data: dict[str, Any] = resp.json()["data"]
    assert data["status"] == "QUEUED" and data["job_id"].startswith("job_")
    return data


def ready_speaker(api: Any, make_key: Callable[..., str], tenant: str = "acme",
                  name: str = "Karen Savage", node_id: str = "node-1") -> str:
    """A speaker made ready on ``node_id`` with a sealed voiceprint (as the enrollment does)."""
    from scaiecho.adapters.speakers import SpeakerStore, WarmRegistry
    from scaiecho.adapters.voiceprints import VoiceprintCipher
    from scaiecho.domain.speakers import EnrollmentStatus

    sid = create(api, make_key(tenant, "scaiecho:enroll"))
    sealed = VoiceprintCipher().seal([0.5, 0.5, 0.5, 0.5], tenant_id=tenant, subject_id=sid)
    assert WarmRegistry().put(tenant_id=tenant, speaker_id=sid, node_id=node_id, sealed=sealed, dim=4,
                              model_id="m", model_version="1", sample_ids=["smp"])
    SpeakerStore().set_enrollment(tenant, sid, status=EnrollmentStatus.READY, enrolled_on=[node_id],
                                  note=None)
    return sid


# ------------------------------------------------------------------ happy paths
def test_plain_job_completes_with_segments_and_exports(api: Any, node: ContractNode, key: str) -> None:
    job = submit(api, key, language="en")
    data = wait(api, key, job["job_id"])
    assert data["status"] == "COMPLETED", data
    assert data["duration"] == 14.085 and data["language"] == "en"
    assert "speakers" not in data and data["warnings"] == []
    speech = [s for s in data["segments"] if s["type"] == "speech"]
    assert [s["text"] for s in speech] == ["Hello there.", "General Kenobi."]
    assert all("speaker" not in s for s in data["segments"])
    # Segment times as the job document writes them: strings with two decimals (half up).
    assert data["segments"][-1] == {"id": 2, "start_time": "4.00", "end_time": "14.09", "type": "silence",
                                    "text": ""}
    assert [(s["start_time"], s["end_time"]) for s in speech] == [("0.20", "2.00"), ("2.20", "4.00")]
    asked = [r for r in node.requests if r["action"] == "transcribe"]
    assert asked[0]["language"] == "en" and asked[0]["audio"]["s3"]["key"].startswith("uploads/acme/jobs/")
    assert not [r for r in node.requests if r["action"] == "diarize"]

    srt = api.get(f"{JOBS}/{job['job_id']}", params={"format": "srt"}, headers=auth(key))
    assert srt.status_code == 200 and srt.text.startswith("1\n00:00:00,200 --> 00:00:02,000\nHello there.")
    vtt = api.get(f"{JOBS}/{job['job_id']}", params={"format": "vtt"}, headers=auth(key))
    assert vtt.headers["content-type"].startswith("text/vtt") and vtt.text.startswith("WEBVTT\n")
    as_json = api.get(f"{JOBS}/{job['job_id']}", params={"format": "json"}, headers=auth(key)).json()
    assert as_json["segments"] == data["segments"]
    rttm = api.get(f"{JOBS}/{job['job_id']}", params={"format": "rttm"}, headers=auth(key))
    assert rttm.status_code == 409 and rttm.json()["error"]["code"] == "diarization_not_available"
    bad = api.get(f"{JOBS}/{job['job_id']}", params={"format": "docx"}, headers=auth(key))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_format"
    listed = api.get(JOBS, headers=auth(key)).json()
    assert [j["job_id"] for j in listed["data"]] == [job["job_id"]]


@pytest.mark.usefixtures("identify_incomplete")
def test_identification_names_the_enrolled_speaker_restricted_to_speaker_ids(
    api: Any, aws: Any, node: ContractNode, key: str, make_key: Callable[..., str]
) -> None:
    wanted = ready_speaker(api, make_key, name="Karen Savage")
    other = ready_speaker(api, make_key)
    node.answers["diarize"] = (200, diarization(
        {"SPEAKER_00": {"speaker_id": wanted, "score": 0.93, "cosine": 0.71}}))
    job = submit(api, key, diarize="true", speaker_ids=f'["{wanted}"]',
                 diarization_config='{"backend": "pyannote", "min_speakers": 1, "max_speakers": 3}')
    data = wait(api, key, job["job_id"])
    assert data["status"] == "COMPLETED", data
    speech = [s for s in data["segments"] if s["type"] == "speech"]
    # The node's SPEAKER_01 spoke first: it becomes SPEAKER_00; the identified one SPEAKER_01.
    assert [(s["text"], s["speaker"]) for s in speech] == [("Hello there.", "SPEAKER_00"),
                                                         ("General Kenobi.", "SPEAKER_01")]
    assert "speaker_id" not in speech[0]
    assert (speech[1]["speaker_id"], speech[1]["speaker_name"], speech[1]["match_score"]) == (
        wanted, "Karen Savage", 0.93)
    assert data["speakers"] == {"count": 2, "labels": ["SPEAKER_00", "SPEAKER_01"]}
    assert data["segments"][-1]["speaker"] is None

    request = next(r for r in node.requests if r["action"] == "diarize")
    assert [c["speaker_id"] for c in request["candidates"]] == [wanted]  # not `other`
    assert request["candidates"][0]["embedding"] == pytest.approx([0.5] * 4)
    assert (request["min_speakers"], request["max_speakers"]) == (1, 3)
    # a job's node work yields to live streams on the node
    # (the enrollment's consent check before it is request-path work: no priority, interactive)
    job_work = [r for r in node.requests if r["action"] in ("diarize", "transcribe") and "s3" in r["audio"]]
    assert job_work and {r.get("priority") for r in job_work} == {"batch"}

    from scaiecho.adapters.tables import SpeakerRow

    assert SpeakerRow.get("acme", wanted).last_used_at is not None
    assert SpeakerRow.get("acme", other).last_used_at is None
    # No embedding is ever stored with the job.
    s3 = aws.session.client("s3")
    for obj in s3.list_objects_v2(Bucket=aws.buckets[0], Prefix="tenant/acme/jobs/")["Contents"]:
        assert b"embedding" not in s3.get_object(Bucket=aws.buckets[0], Key=obj["Key"])["Body"].read()
    # the RTTM is the diarization's own turns, not the words' extent
    rttm = api.get(f"{JOBS}/{job['job_id']}", params={"format": "rttm"}, headers=auth(key))
    assert rttm.text.splitlines() == [
        f"SPEAKER {job['job_id']} 1 0.100 2.000 <NA> <NA> SPEAKER_00 <NA> <NA>",
        f"SPEAKER {job['job_id']} 1 2.100 2.100 <NA> <NA> SPEAKER_01 <NA> <NA>",
    ]


@pytest.mark.usefixtures("identify_incomplete")
def test_without_speaker_ids_every_ready_speaker_of_the_tenant_is_a_candidate(
    api: Any, node: ContractNode, key: str, make_key: Callable[..., str]
) -> None:
    mine = {ready_speaker(api, make_key), ready_speaker(api, make_key)}
    ready_speaker(api, make_key, tenant="globex")
    data = wait(api, key, submit(api, key, diarize="true")["job_id"])
    assert data["status"] == "COMPLETED"
    request = next(r for r in node.requests if r["action"] == "diarize")
    assert {c["speaker_id"] for c in request["candidates"]} == mine


# ------------------------------------------------------------------ degradation + failure
def test_diarization_failure_degrades_to_the_plain_transcript(api: Any, node: ContractNode, key: str) -> None:
    node.answers["diarize"] = (500, {"error": {"code": "node_failure", "message": "CUDA on fire"}})
    data = wait(api, key, submit(api, key, diarize="true")["job_id"])
    assert data["status"] == "COMPLETED", data
    assert "speakers" not in data and all("speaker" not in s for s in data["segments"])
    speech = [s["text"] for s in data["segments"] if s["type"] == "speech"]
    assert speech == ["Hello there.", "General Kenobi."]
    assert len(data["warnings"]) == 1
    assert data["warnings"][0].startswith("Diarization failed: ")
    assert data["warnings"][0].endswith(". Transcript returned without speaker labels.")
    assert "CUDA on fire" in data["warnings"][0]


def test_asr_refusal_fails_the_job_with_the_nodes_code(api: Any, node: ContractNode, key: str) -> None:
    node.answers["transcribe"] = (422, {"error": {"code": "unsupported_language",
                                                  "message": "tiny.en cannot transcribe 'en'"}})
    data = wait(api, key, submit(api, key)["job_id"])
    assert data["status"] == "FAILED"
    assert data["error"]["code"] == "unsupported_language"
    assert "segments" not in data
    export = api.get(f"{JOBS}/{data['job_id']}", params={"format": "srt"}, headers=auth(key))
    assert export.status_code == 409 and export.json()["error"]["code"] == "job_not_completed"


def test_no_node_fails_the_job_clearly(api: Any, aws: Any, key: str) -> None:
    data = wait(api, key, submit(api, key)["job_id"])
    assert data["status"] == "FAILED" and data["error"]["code"] == "no_node_available"


# ------------------------------------------------------------------ tenancy + scopes
def test_another_tenants_job_is_not_found(api: Any, node: ContractNode, key: str,
                                          make_key: Callable[..., str]) -> None:
    job = submit(api, key)
    wait(api, key, job["job_id"])
    globex = make_key("globex", ALL)
    for params in ({}, {"format": "json"}):
        resp = api.get(f"{JOBS}/{job['job_id']}", params=params, headers=auth(globex))
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "job_not_found"
    assert api.get(JOBS, headers=auth(globex)).json()["data"] == []
    assert api.get(f"{JOBS}/job_nope", headers=auth(key)).status_code == 404


def test_scopes(api: Any, node: ContractNode, make_key: Callable[..., str]) -> None:
    enroll_only = make_key("acme", "scaiecho:enroll")
    resp = api.post(JOBS, headers=auth(enroll_only), **upload())
    assert resp.status_code == 403 and resp.json()["error"]["details"]["required"] == ["scaiecho:transcribe"]
    assert api.get(f"{JOBS}/job_x", headers=auth(enroll_only)).status_code == 403
    transcribe_only = make_key("acme", "scaiecho:transcribe")
    resp = api.post(JOBS, headers=auth(transcribe_only), **upload(diarize="true"))
    assert resp.status_code == 403 and resp.json()["error"]["details"]["required"] == ["scaiecho:diarize"]
    assert api.post(JOBS, headers=auth(transcribe_only), **upload()).status_code == 202
    assert api.post(JOBS, **upload()).status_code == 401


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(("fields", "code"), [
    ({"diarize": "true", "diarization_config": "{not json"}, "invalid_diarization_config"),
    ({"diarize": "true", "diarization_config": '{"backend": "whisperx"}'}, "invalid_diarization_backend"),
    ({"diarize": "true", "diarization_config": '{"min_speakers": 0}'}, "invalid_min_speakers"),
    ({"diarize": "true", "diarization_config": '{"max_speakers": 21}'}, "invalid_max_speakers"),
    ({"diarize": "true", "diarization_config": '{"min_speakers": 4, "max_speakers": 2}'},
     "invalid_speaker_range"),
    ({"diarize": "true", "diarization_config": '{"backend": "nemo"}'}, "backend_not_available"),
    ({"diarize": "perhaps"}, "invalid_diarize"),
    ({"language": "fr"}, "unsupported_language"),
    ({"speaker_ids": "spk_x"}, "speaker_ids_need_diarize"),
])
def test_config_errors_are_specific_and_store_nothing(api: Any, aws: Any, node: ContractNode, key: str,
                                                      fields: dict[str, str], code: str) -> None:
    resp = api.post(JOBS, headers=auth(key), **upload(**fields))
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == code
    assert api.get(JOBS, headers=auth(key)).json()["data"] == []
    s3 = aws.session.client("s3")
    assert s3.list_objects_v2(Bucket=aws.buckets[0], Prefix="uploads/").get("KeyCount") == 0


def test_speaker_ids_must_be_ready_speakers_of_the_tenant(
    api: Any, node: ContractNode, key: str, make_key: Callable[..., str]
) -> None:
    theirs = ready_speaker(api, make_key, tenant="globex")
    from scaiecho.adapters.speakers import SpeakerStore
    from scaiecho.domain.speakers import EnrollmentStatus

    pending = create(api, make_key("acme", "scaiecho:enroll"))
    # intake made it ready on the node that checked its consent: as if that node had failed it
    SpeakerStore().set_enrollment("acme", pending, status=EnrollmentStatus.PENDING, enrolled_on=[],
                                  note=None)
    resp = api.post(JOBS, headers=auth(key),
                    **upload(diarize="true", speaker_ids=f"{theirs},{pending},spk_missing"))
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "invalid_speaker_ids"
    assert err["details"] == {"unknown": [theirs, "spk_missing"], "not_ready": [pending]}


def test_missing_audio_unknown_fields_and_bad_json(api: Any, node: ContractNode, key: str) -> None:
    resp = api.post(JOBS, headers=auth(key), data={"diarize": "false"}, files={"x": ("a", b"1")})
    assert resp.json()["error"]["code"] == "unknown_field"
    resp = api.post(JOBS, headers=auth(key), json={"language": "en"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "missing_field"
    resp = api.post(JOBS, headers={**auth(key), "Content-Type": "application/json"}, content=b"{")
    assert resp.json()["error"]["code"] == "invalid_json"
    resp = api.post(JOBS, headers=auth(key),
                    files={"audio": ("a.txt", b"hello, not audio at all", "text/plain")})
    assert resp.status_code == 415


# ------------------------------------------------------------------ audio_urls in our bucket
def test_audio_urls_only_in_our_bucket_under_the_tenant(api: Any, aws: Any, node: ContractNode,
                                                        key: str) -> None:
    bucket = aws.buckets[0]
    s3 = aws.session.client("s3")
    s3.put_object(Bucket=bucket, Key="uploads/acme/u1/talk.flac",
                  Body=(SPEECH / "speaker_f_103.flac").read_bytes())
    s3.put_object(Bucket=bucket, Key="uploads/globex/u1/talk.flac",
                  Body=(SPEECH / "speaker_f_103.flac").read_bytes())
    # (remote https:// URLs are fetched by the job workflow: tests/integration/test_transcription_urls.py)
    for url in ("http://169.254.169.254/latest/meta-data/",
                f"s3://{bucket}/uploads/globex/u1/talk.flac", "s3://someone-elses-bucket/uploads/acme/a"):
        resp = api.post(JOBS, headers=auth(key), json={"audio_urls": [url]})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "audio_url_not_allowed", url
    missing = api.post(JOBS, headers=auth(key), json={"audio_urls": [f"s3://{bucket}/uploads/acme/nope.wav"]})
    assert missing.json()["error"]["code"] == "audio_url_not_found"
    resp = api.post(JOBS, headers=auth(key), json={"audio_urls": [f"s3://{bucket}/uploads/acme/u1/talk.flac"],
                                                   "language": "en"})
    assert resp.status_code == 202, resp.text
    data = wait(api, key, resp.json()["data"]["job_id"])
    assert data["status"] == "COMPLETED"
    asked = next(r for r in node.requests if r["action"] == "transcribe")
    assert asked["audio"]["s3"] == {"bucket": bucket, "key": "uploads/acme/u1/talk.flac"}


def test_presigned_upload_slot(api: Any, aws: Any, key: str) -> None:
    resp = api.post(f"{JOBS}/uploads", headers=auth(key), json={"filename": "board meeting.wav"})
    assert resp.status_code == 201
    data = resp.json()["data"]
    assert data["audio_url"].startswith(f"s3://{aws.buckets[0]}/uploads/acme/upl_")
    assert data["audio_url"].endswith("/board_meeting.wav")
    fields = data["upload"]["fields"]
    assert fields["key"] == data["audio_url"].split("/", 3)[3]
    assert fields["x-amz-server-side-encryption"] == "aws:kms" and "policy" in fields


# ------------------------------------------------------------------ limits + idempotency
def test_size_and_duration_limits(api: Any, aws: Any, node: ContractNode, key: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_MAX_JOB_AUDIO_MB", "0.1")
    _reset_settings()
    resp = api.post(JOBS, headers=auth(key), **upload())
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "audio_too_large"
    monkeypatch.setenv("SCAIECHO_MAX_JOB_AUDIO_MB", "10")
    monkeypatch.setenv("SCAIECHO_MAX_JOB_DURATION_S", "10")
    _reset_settings()
    resp = api.post(JOBS, headers=auth(key), **upload())
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "audio_too_long"
    assert resp.json()["error"]["details"]["duration_s"] == pytest.approx(14.085)


def test_idempotency_key_returns_the_same_job(api: Any, node: ContractNode, key: str) -> None:
    headers = {**auth(key), "Idempotency-Key": "retry-1"}
    first = api.post(JOBS, headers=headers, **upload())
    again = api.post(JOBS, headers=headers, **upload())
    assert first.status_code == again.status_code == 202
    assert first.json()["data"]["job_id"] == again.json()["data"]["job_id"]
    other = api.post(JOBS, headers=headers, **upload(language="en"))
    assert other.json()["error"]["code"] == "idempotency_key_reused"
