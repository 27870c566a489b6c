"""Speaker intake against moto: validation, consent, storage, compensation, idempotency, reads.

The node-backed path with real voices runs in tests/e2e against real pyannote nodes; here one
scripted contract node (``speech_node``: reader 103's reference and consent, saying the consent
text) answers the consent checks and the fan-out, so a valid enrollment settles as ``ready``.
Without any node see tests/integration/test_consent_checks.py (503, nothing stored).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from scaiecho.adapters.blobs import BlobStore
from tests.conftest import FIXTURES, auth

SPEAKERS = "/v1/modules/scaiecho/speakers"
SPEECH = FIXTURES / "speech"


def wav_bytes(samples: np.ndarray, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def fields(**overrides: Any) -> dict[str, str]:
    base = {
        "display_name": "Karen Savage",
        "language_primary": "en",
        "description": "narrator",
        "consent_user_full_name": "Karen Savage",
        "consent_stated_purpose": "identify me in meeting transcripts",
        "consent_text": "I agree that ScaiEcho may create and store a voiceprint of my voice.",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def files(reference: bytes | None = None, consent: bytes | None = None,
          ref_type: str = "audio/flac") -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["reference"] = ("reference.flac", reference if reference is not None
                        else (SPEECH / "speaker_f_103.flac").read_bytes(), ref_type)
    out["consent"] = ("consent.flac", consent if consent is not None
                      else (SPEECH / "consent_103.flac").read_bytes(), "audio/flac")
    return out


def stored_objects(aws: Any) -> list[str]:
    s3 = aws.session.client("s3")
    resp = s3.list_object_versions(Bucket=aws.buckets[0])
    return [v["Key"] for v in resp.get("Versions", [])]


def speaker_rows(aws: Any) -> list[dict[str, Any]]:
    ddb = aws.session.client("dynamodb")
    rows = []
    for table in ("scaiecho-local-speakers", "scaiecho-local-consents", "scaiecho-local-warm-registry"):
        rows += ddb.scan(TableName=table)["Items"]
    return rows


def create(api: Any, key: str) -> str:
    """A speaker for tests about something else: the one fixture voice (reader 103), so several
    in one tenant are allowed duplicates (the duplicate check: tests/integration/test_consent_checks.py)."""
    resp = api.post(SPEAKERS, data=fields(allow_duplicate_voice="true"), files=files(), headers=auth(key))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["data"]["speaker_id"])


pytestmark = pytest.mark.usefixtures("speech_node")


@pytest.fixture
def enroll_key(make_key: Any) -> str:
    return str(make_key("acme", "scaiecho:enroll"))


def test_enrollment_is_checked_stored_and_ready(api: Any, aws: Any, enroll_key: str) -> None:
    resp = api.post(SPEAKERS, data=fields(external_id="emp_1"), files=files(), headers=auth(enroll_key))
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["enrollment_status"] == "ready"
    assert data["enrolled_on"] == ["node-1"]
    assert "note" not in data
    assert data["consent_checks"]["voice"]["status"] == "passed"
    assert data["preflight"]["passed"] is True
    assert data["external_id"] == "emp_1"
    assert data["consent"]["consent_version"]
    assert data["total_speech_s"] > 8

    keys = stored_objects(aws)
    sid = data["speaker_id"]
    assert sorted(k.split("/")[4] for k in keys) == ["consent", "reference"]
    assert all(k.startswith(f"tenant/acme/speakers/{sid}/") for k in keys)
    head = aws.session.client("s3").head_object(Bucket=aws.buckets[0], Key=keys[0])
    assert head["ServerSideEncryption"] == "aws:kms"

    consent = aws.session.client("dynamodb").scan(TableName="scaiecho-local-consents")["Items"][0]
    assert consent["consent_text"]["S"].startswith("I agree")
    assert len(consent["audio_sha256"]["S"]) == 64

    got = api.get(f"{SPEAKERS}/{sid}", headers=auth(enroll_key)).json()["data"]
    assert got["enrollment_status"] == "ready"
    assert got["display_name"] == "Karen Savage"


@pytest.mark.parametrize("missing", ["display_name", "consent_text", "consent_user_full_name",
                                     "consent_stated_purpose", "language_primary"])
def test_missing_fields_are_422_and_store_nothing(api: Any, aws: Any, enroll_key: str, missing: str) -> None:
    resp = api.post(SPEAKERS, data=fields(**{missing: None}), files=files(), headers=auth(enroll_key))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "missing_field"
    assert missing in resp.json()["error"]["details"]["fields"]
    assert stored_objects(aws) == [] and speaker_rows(aws) == []


def test_missing_audio_part_is_422(api: Any, aws: Any, enroll_key: str) -> None:
    only_ref = {"reference": files()["reference"]}
    resp = api.post(SPEAKERS, data=fields(), files=only_ref, headers=auth(enroll_key))
    assert resp.status_code == 422
    assert resp.json()["error"]["details"]["fields"] == ["consent"]


@pytest.mark.parametrize(
    ("reference", "status", "code"),
    [
        (b"", 422, "audio_empty"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt garbage-garbage-garbage", 422, "audio_undecodable"),
        (b"this is not audio at all", 415, "unsupported_media_type"),
        (wav_bytes(np.zeros(16000, np.float32)), 422, "preflight_failed"),
        (wav_bytes(np.zeros(16000 * 6, np.float32)), 422, "preflight_failed"),
    ],
    ids=["empty", "corrupt", "not-audio", "one-second", "silence"],
)
def test_bad_reference_audio_is_rejected_and_nothing_stored(
    api: Any, aws: Any, enroll_key: str, reference: bytes, status: int, code: str
) -> None:
    resp = api.post(SPEAKERS, data=fields(), files=files(reference=reference), headers=auth(enroll_key))
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert stored_objects(aws) == [] and speaker_rows(aws) == []


def test_one_second_and_silence_name_their_reasons(api: Any, enroll_key: str) -> None:
    short = api.post(SPEAKERS, data=fields(), headers=auth(enroll_key),
                     files=files(reference=wav_bytes(np.zeros(16000, np.float32))))
    assert "too_short" in short.json()["error"]["details"]["reasons"]
    silent = api.post(SPEAKERS, data=fields(), headers=auth(enroll_key),
                      files=files(reference=wav_bytes(np.zeros(16000 * 6, np.float32))))
    assert "no_speech" in silent.json()["error"]["details"]["reasons"]


def test_declared_non_audio_media_type_is_415(api: Any, aws: Any, enroll_key: str) -> None:
    resp = api.post(SPEAKERS, data=fields(), files=files(ref_type="text/plain"), headers=auth(enroll_key))
    assert resp.status_code == 415
    assert stored_objects(aws) == []


def test_oversize_upload_is_413(api: Any, aws: Any, enroll_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import _reset_settings

    monkeypatch.setenv("SCAIECHO_MAX_UPLOAD_MB", "0.1")
    _reset_settings()
    resp = api.post(SPEAKERS, data=fields(), files=files(), headers=auth(enroll_key))
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "audio_too_large"
    assert stored_objects(aws) == [] and speaker_rows(aws) == []


def test_silent_consent_recording_is_rejected(api: Any, aws: Any, enroll_key: str) -> None:
    resp = api.post(SPEAKERS, data=fields(), headers=auth(enroll_key),
                    files=files(consent=wav_bytes(np.zeros(16000 * 3, np.float32))))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "consent_audio_no_speech"
    assert stored_objects(aws) == []


def test_transcribe_only_key_cannot_enroll(api: Any, aws: Any, make_key: Any) -> None:
    key = make_key("acme", "scaiecho:transcribe,scaiecho:diarize")
    resp = api.post(SPEAKERS, data=fields(), files=files(), headers=auth(key))
    assert resp.status_code == 403
    assert api.get(SPEAKERS, headers=auth(key)).status_code == 403
    assert stored_objects(aws) == []


def test_other_tenants_speaker_is_404_everywhere(api: Any, make_key: Any) -> None:
    mine, theirs = make_key("acme", "scaiecho:enroll"), make_key("globex", "scaiecho:enroll")
    sid = api.post(SPEAKERS, data=fields(), files=files(), headers=auth(mine)).json()["data"]["speaker_id"]
    for method, path in [("get", f"{SPEAKERS}/{sid}"), ("get", f"{SPEAKERS}/{sid}/warm"),
                         ("post", f"{SPEAKERS}/{sid}/warm")]:
        resp = getattr(api, method)(path, headers=auth(theirs))
        assert resp.status_code == 404, path
        assert resp.json()["error"]["code"] == "speaker_not_found"
    sample = api.post(f"{SPEAKERS}/{sid}/samples", headers=auth(theirs),
                      files={"reference": files()["reference"]})
    assert sample.status_code == 404
    assert api.get(SPEAKERS, headers=auth(theirs)).json()["data"] == []


def test_external_id_reuse_is_409_and_stores_nothing(api: Any, aws: Any, enroll_key: str) -> None:
    first = api.post(SPEAKERS, data=fields(external_id="emp_7"), files=files(), headers=auth(enroll_key))
    assert first.status_code == 201
    before = sorted(stored_objects(aws))
    again = api.post(SPEAKERS, data=fields(external_id="emp_7"), files=files(), headers=auth(enroll_key))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "speaker_exists"
    assert sorted(stored_objects(aws)) == before


def test_external_id_is_unique_per_tenant_only(api: Any, make_key: Any) -> None:
    for tenant in ("acme", "globex"):
        resp = api.post(SPEAKERS, data=fields(external_id="emp_1"), files=files(),
                        headers=auth(make_key(tenant, "scaiecho:enroll")))
        assert resp.status_code == 201


def test_storage_failure_midway_leaves_no_blob_or_row(api: Any, aws: Any, enroll_key: str) -> None:
    aws.session.client("dynamodb").delete_table(TableName="scaiecho-local-consents")
    resp = api.post(SPEAKERS, data=fields(external_id="emp_9"), files=files(), headers=auth(enroll_key))
    assert resp.status_code == 502
    assert resp.json()["error"]["code"] == "storage_error"
    assert aws.session.client("dynamodb").scan(TableName="scaiecho-local-speakers")["Items"] == []
    # API functions cannot delete audio: what intake staged stays tagged pending, which the
    # bucket's lifecycle rule expires (every version); nothing was committed.
    staged = stored_objects(aws)
    assert len(staged) == 2
    assert {BlobStore(aws.session.client("s3"), aws.buckets[0]).state(k) for k in staged} == {"pending"}
    rules = aws.session.client("s3").get_bucket_lifecycle_configuration(Bucket=aws.buckets[0])["Rules"]
    assert any(r["Filter"].get("Tag") == {"Key": "scaiecho-state", "Value": "pending"}
               and r["Expiration"]["Days"] == 1 and r["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
               for r in rules)


def test_committed_enrollment_audio_is_kept_by_the_lifecycle(api: Any, aws: Any, enroll_key: str) -> None:
    resp = api.post(SPEAKERS, data=fields(), files=files(), headers=auth(enroll_key))
    assert resp.status_code == 201
    blobs = BlobStore(aws.session.client("s3"), aws.buckets[0])
    keys = stored_objects(aws)
    assert len(keys) == 2 and {blobs.state(k) for k in keys} == {"committed"}


def test_idempotent_retry_returns_the_first_result(api: Any, aws: Any, enroll_key: str) -> None:
    headers = {**auth(enroll_key), "Idempotency-Key": "req-42"}
    first = api.post(SPEAKERS, data=fields(), files=files(), headers=headers)
    again = api.post(SPEAKERS, data=fields(), files=files(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.content == first.content  # the replay answers the first answer's bytes
    assert len(aws.session.client("dynamodb").scan(TableName="scaiecho-local-speakers")["Items"]) == 1

    changed = api.post(SPEAKERS, data=fields(display_name="Someone Else"), files=files(), headers=headers)
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"


def test_listing_is_paginated_and_tenant_scoped(api: Any, make_key: Any) -> None:
    key = make_key("acme", "scaiecho:enroll")
    # One consent fixture voice: the copies are allowed duplicates (the voice check is elsewhere).
    ids = {api.post(SPEAKERS, data=fields(display_name=f"S{i}", allow_duplicate_voice="true"),
                    files=files(), headers=auth(key))
           .json()["data"]["speaker_id"] for i in range(3)}
    page1 = api.get(SPEAKERS, params={"limit": 2}, headers=auth(key)).json()
    assert len(page1["data"]) == 2 and page1["next_cursor"]
    page2 = api.get(SPEAKERS, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=auth(key)).json()
    assert {s["speaker_id"] for s in page1["data"] + page2["data"]} == ids
    assert api.get(SPEAKERS, params={"limit": 0}, headers=auth(key)).status_code == 422

    other = make_key("globex", "scaiecho:enroll")
    stolen = api.get(SPEAKERS, params={"cursor": page1["next_cursor"]}, headers=auth(other))
    assert stolen.status_code == 400
    assert stolen.json()["error"]["code"] == "invalid_cursor"


def test_adding_a_sample_grows_speech_and_reports_completeness(api: Any, enroll_key: str) -> None:
    sid = create(api, enroll_key)
    before = api.get(f"{SPEAKERS}/{sid}", headers=auth(enroll_key)).json()["data"]["total_speech_s"]
    resp = api.post(f"{SPEAKERS}/{sid}/samples", headers=auth(enroll_key),
                    files={"reference": files()["reference"]})
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["total_speech_s"] == pytest.approx(before + data["sample"]["speech_s"], abs=0.05)
    assert len(data["samples"]) == 2
    assert data["enrollment_complete"] is (data["total_speech_s"] >= 12.0)
    assert data["enrollment_complete_threshold_s"] == 12.0


def test_warm_inspection_and_unknown_node(api: Any, enroll_key: str) -> None:
    sid = create(api, enroll_key)
    warm = api.get(f"{SPEAKERS}/{sid}/warm", headers=auth(enroll_key)).json()["data"]
    assert warm["warm_node_ids"] == warm["candidate_node_ids"] == ["node-1"]
    assert warm["stale_node_ids"] == []
    bad = api.post(f"{SPEAKERS}/{sid}/warm", json={"node_ids": ["node-404"]}, headers=auth(enroll_key))
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "unknown_node"
    again = api.post(f"{SPEAKERS}/{sid}/warm", json={"node_ids": []}, headers=auth(enroll_key))
    assert again.status_code == 200
    assert again.json()["data"]["enrollment_status"] == "ready"


def test_enrollment_racing_an_erasure_leaves_no_voiceprint(api: Any, aws: Any, enroll_key: str) -> None:
    from scaiecho.adapters.speakers import WarmRegistry
    from scaiecho.adapters.voiceprints import VoiceprintCipher

    sid = create(api, enroll_key)
    sealed = VoiceprintCipher().seal([0.6, 0.8], tenant_id="acme", subject_id=sid)
    registry = WarmRegistry()
    assert registry.put(tenant_id="acme", speaker_id=sid, node_id="node-1", sealed=sealed, dim=2,
                        model_id=None, model_version=None, sample_ids=[]) is True
    assert api.delete(f"{SPEAKERS}/{sid}", headers=auth(enroll_key)).status_code == 200
    late = registry.put(tenant_id="acme", speaker_id=sid, node_id="node-2", sealed=sealed, dim=2,
                        model_id=None, model_version=None, sample_ids=[])
    assert late is False
    assert registry.for_speaker("acme", sid) == []
    ghost = registry.put(tenant_id="acme", speaker_id="spk_never", node_id="node-1", sealed=sealed,
                         dim=2, model_id=None, model_version=None, sample_ids=[])
    assert ghost is False
