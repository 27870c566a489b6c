"""``match_me=true`` on transcription jobs against moto: validation, the user gate, the profile read at
run time, and that the transcript carries ``voiceMatchScore`` and nothing else of the profile.

The node is the contract node (its identification answer is scripted); matching real voices with
the real models runs in tests/e2e/test_transcription_match.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scaiecho.adapters.nodes import NodeStore
from scaiecho.adapters.tables import utcnow
from scaiecho.adapters.voice_profiles import VoiceProfileStore
from scaiecho.adapters.voiceprints import VoiceprintCipher
from scaiecho.contracts.node import HealthResult
from scaiecho.domain.speakers import new_id
from scaiecho.domain.voice_profiles import VoiceProfile, subject_id
from tests.conftest import _reset_settings, auth
from tests.contract_node import ContractNode, registered
from tests.integration.test_transcription import (
    ALL,
    ASR,
    JOBS,
    diarization,
    submit,
    upload,
    wait,
)

PROFILE_VECTOR = [0.5, -0.5, 0.5, -0.5]  # orthogonal to the contract node's clusters ([0.1]*4, [0.2]*4)


@pytest.fixture
def node(aws: Any) -> Iterator[ContractNode]:
    with registered({"transcribe": (200, ASR), "diarize": (200, diarization({}))}) as contract:
        yield contract


@pytest.fixture
def alice(make_key: Callable[..., str]) -> str:
    return make_key("acme", ALL, user_id="alice")


def seed_profile(tenant: str = "acme", user: str = "alice", model_version: str | None = None) -> str:
    profile = VoiceProfile(
        tenant_id=tenant, user_id=user, profile_id=new_id("vp"), provider="pyannote",
        consent_version="2026-01", created_at=utcnow(), sample_duration_s=7.0, dim=4,
        model_id=None, model_version=model_version,
        sealed_embedding=VoiceprintCipher().seal(PROFILE_VECTOR, tenant_id=tenant,
                                                 subject_id=subject_id(user)),
    )
    VoiceProfileStore().put(profile)
    return profile.profile_id


def stored_texts(aws: Any) -> str:
    """Every object the jobs wrote to the bucket (step results and transcripts), as one string."""
    s3 = aws.session.client("s3")
    out = []
    for obj in s3.list_objects_v2(Bucket=aws.buckets[0], Prefix="tenant/").get("Contents", []):
        out.append(s3.get_object(Bucket=aws.buckets[0], Key=obj["Key"])["Body"].read().decode())
    return "\n".join(out)


def diarize_requests(node: ContractNode) -> list[dict[str, Any]]:
    return [r for r in node.requests if r["action"] == "diarize"]


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(("fields", "code"), [
    ({"match_me": "maybe", "diarize": "true"}, "invalid_match_me"),
    ({"match_me": "true"}, "match_me_needs_diarize"),
    ({"match_me": "true", "diarize": "false"}, "match_me_needs_diarize"),
])
def test_match_me_errors_are_specific_and_store_nothing(
    api: Any, aws: Any, node: ContractNode, alice: str, fields: dict[str, str], code: str
) -> None:
    resp = api.post(JOBS, headers=auth(alice), **upload(**fields))
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == code
    assert api.get(JOBS, headers=auth(alice)).json()["data"] == []
    s3 = aws.session.client("s3")
    assert s3.list_objects_v2(Bucket=aws.buckets[0], Prefix="uploads/").get("KeyCount") == 0


def test_match_me_in_json_must_be_a_boolean(api: Any, aws: Any, node: ContractNode, alice: str) -> None:
    url = f"s3://{aws.buckets[0]}/uploads/acme/x.flac"
    resp = api.post(JOBS, headers=auth(alice), json={"audio_urls": [url], "diarize": True, "match_me": 3})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_match_me"
    resp = api.post(JOBS, headers=auth(alice), json={"audio_urls": [url], "match_me": True})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "match_me_needs_diarize"


def test_a_key_without_a_user_is_403(api: Any, aws: Any, node: ContractNode,
                                     make_key: Callable[..., str]) -> None:
    no_user = make_key("acme", ALL)
    resp = api.post(JOBS, headers=auth(no_user), **upload(diarize="true", match_me="true"))
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "user_key_required"
    assert api.get(JOBS, headers=auth(no_user)).json()["data"] == []
    # the same key without match_me is fine
    assert api.post(JOBS, headers=auth(no_user), **upload(diarize="true")).status_code == 202


def test_feature_off_for_the_tenant_is_404(api: Any, node: ContractNode, alice: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_VOICE_PROFILES_ENABLED_BY_TENANT", json.dumps({"acme": False}))
    _reset_settings()
    resp = api.post(JOBS, headers=auth(alice), **upload(diarize="true", match_me="true"))
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "feature_not_available"
    assert api.get(JOBS, headers=auth(alice)).json()["data"] == []


# ------------------------------------------------------------------ run time
def test_no_profile_completes_with_a_warning_and_no_score(api: Any, aws: Any, node: ContractNode,
                                                          alice: str) -> None:
    data = wait(api, alice, submit(api, alice, diarize="true", match_me="true")["job_id"])
    assert data["status"] == "COMPLETED", data
    assert data["request"]["match_me"] is True
    assert any(w.startswith("voice_profile_unavailable:") for w in data["warnings"])
    assert all("voiceMatchScore" not in s for s in data["segments"])
    assert [s["speaker"] for s in data["segments"] if s["type"] == "speech"] == ["SPEAKER_00", "SPEAKER_01"]
    assert diarize_requests(node)[0]["candidates"] == []


def test_profile_needing_reconsent_is_not_used(api: Any, aws: Any, node: ContractNode, alice: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed_profile()
    monkeypatch.setenv("SCAIECHO_VOICE_CONSENT_VERSION", "2026-07")
    _reset_settings()
    data = wait(api, alice, submit(api, alice, diarize="true", match_me="true")["job_id"])
    assert any(w.startswith("voice_profile_unavailable:") for w in data["warnings"])
    assert all("voiceMatchScore" not in s for s in data["segments"])
    assert diarize_requests(node)[0]["candidates"] == []


def test_profile_of_another_model_is_not_sent(api: Any, aws: Any, node: ContractNode, alice: str) -> None:
    NodeStore().record_probe("node-1", online=True, health=HealthResult(model_id="m", model_version="2"),
                             error=None)
    seed_profile(model_version="1")
    data = wait(api, alice, submit(api, alice, diarize="true", match_me="true")["job_id"])
    assert any("another model version" in w for w in data["warnings"])
    assert diarize_requests(node)[0]["candidates"] == []


def test_matched_speaker_scores_high_the_other_low_and_nothing_else_leaks(
    api: Any, aws: Any, node: ContractNode, alice: str, make_key: Callable[..., str]
) -> None:
    profile_id = seed_profile()
    # The node attributes SPEAKER_01 (first words, "Hello there.") to the profile.
    node.answers["diarize"] = (200, diarization(
        {"SPEAKER_01": {"speaker_id": profile_id, "score": 0.93, "cosine": 0.6123}}))
    job = submit(api, alice, diarize="true", match_me="true")
    data = wait(api, alice, job["job_id"])
    assert data["status"] == "COMPLETED", data

    sent = diarize_requests(node)[0]["candidates"]
    assert [c["speaker_id"] for c in sent] == [profile_id]
    assert sent[0]["embedding"] == pytest.approx(PROFILE_VECTOR)

    speech = [s for s in data["segments"] if s["type"] == "speech"]
    assert [(s["text"], s["speaker"]) for s in speech] == [("Hello there.", "SPEAKER_00"),
                                                           ("General Kenobi.", "SPEAKER_01")]
    assert speech[0]["voiceMatchScore"] == 0.93
    assert 0.0 <= speech[1]["voiceMatchScore"] < 0.2
    # the profile never names a speaker, and silence carries no score
    assert all("speaker_id" not in s for s in data["segments"])
    assert all("voiceMatchScore" not in s for s in data["segments"] if s["type"] == "silence")
    assert not any("voice_profile" in w for w in data["warnings"])

    # Neither the response, its exports, nor anything stored mentions the profile's id or cosine.
    everything = json.dumps(data) + stored_texts(aws)
    for fmt in ("json", "srt", "vtt", "rttm"):
        everything += api.get(f"{JOBS}/{job['job_id']}", params={"format": fmt}, headers=auth(alice)).text
    assert profile_id not in everything and "0.6123" not in everything
    assert "alice" not in json.dumps(data)

    # another user of the same tenant sees the scores of alice's job, never her profile
    bob = make_key("acme", ALL, user_id="bob")
    other = api.get(f"{JOBS}/{job['job_id']}", headers=auth(bob)).json()["data"]
    assert profile_id not in json.dumps(other) and "alice" not in json.dumps(other)


def test_idempotency_key_is_per_user_with_match_me(api: Any, aws: Any, node: ContractNode, alice: str,
                                                   make_key: Callable[..., str]) -> None:
    headers = {**auth(alice), "Idempotency-Key": "k1"}
    first = api.post(JOBS, headers=headers, **upload(diarize="true", match_me="true"))
    again = api.post(JOBS, headers=headers, **upload(diarize="true", match_me="true"))
    assert first.status_code == again.status_code == 202
    assert first.json()["data"]["job_id"] == again.json()["data"]["job_id"]
    bob = make_key("acme", ALL, user_id="bob")
    resp = api.post(JOBS, headers={**auth(bob), "Idempotency-Key": "k1"},
                    **upload(diarize="true", match_me="true"))
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "idempotency_key_reused"
