"""Personal voice profiles against moto: every status and error code, the flag, re-upload in place,
idempotent DELETE with best-effort eviction, tenant isolation, re-consent, and no S3 writes.

Where the embedding matters the profile is computed by a real pyannote node (in-process engine
behind the node's own HTTP shell, marker ``model``); failure paths use tests/contract_node.py.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from scaiecho.adapters.nodes import NodeStore
from scaiecho.local import moto_patches
from tests.conftest import FIXTURES, _reset_settings, auth
from tests.contract_node import ContractNode
from tests.events import lambda_context, load_event, load_handler

PROFILE = "/v1/modules/scaiecho/users/me/voice-profile"
STATUS = f"{PROFILE}/status"
SPEECH = FIXTURES / "speech"
TABLE = "scaiecho-local-voice-profiles"


# ------------------------------------------------------------------------------ audio helpers
def speech(name: str, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
    samples, sr = sf.read(SPEECH / name, dtype="float32")
    assert sr == 16000
    return np.asarray(samples[int(start_s * sr): None if end_s is None else int(end_s * sr)])


def wav(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def sample_file(data: bytes, media_type: str = "audio/wav", name: str = "me.wav") -> dict[str, Any]:
    return {"file": (name, data, media_type)}


F_SAMPLE = wav(speech("speaker_f_103.flac", 0.0, 7.0))


# ------------------------------------------------------------------------------ fixtures
def enable(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _reset_settings()


@pytest.fixture
def user_key(make_key: Any) -> str:
    return str(make_key("acme", "scaiecho:transcribe", user_id="alice"))


@pytest.fixture
def contract_node(aws: Any) -> Iterator[ContractNode]:
    node = ContractNode()
    NodeStore().register("node-c", "scaiecho-local-node-c")
    moto_patches.register_endpoint("scaiecho-local-node-c", node.url)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def real_node_url() -> Iterator[str]:
    """A real pyannote engine behind the node's own HTTP shell, shared by this module's tests."""
    pytest.importorskip("torch")
    pytest.importorskip("pyannote.audio")
    from scaiecho_node.engine import Engine
    from scaiecho_node.invocation import Dispatcher
    from scaiecho_node.serve import NodeState, make_handler
    from scaiecho_node.settings import NodeSettings, resolve_model_dir

    settings = NodeSettings(model_dir=resolve_model_dir(), node_id="node-real")
    state = NodeState(settings)
    state.dispatcher = Dispatcher(Engine(settings))
    state.ready.set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def real_node(aws: Any, real_node_url: str) -> str:
    NodeStore().register("node-real", "scaiecho-local-node-real")
    moto_patches.register_endpoint("scaiecho-local-node-real", real_node_url)
    return "node-real"


def rows(aws: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws.session.client("dynamodb").scan(TableName=TABLE)["Items"]
    return items


def s3_objects(aws: Any) -> list[str]:
    resp = aws.session.client("s3").list_object_versions(Bucket=aws.buckets[0])
    return [v["Key"] for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])]


def error_code(resp: Any) -> str:
    return str(resp.json()["error"]["code"])


# ------------------------------------------------------------------------------ gates
def test_flag_off_for_the_deployment_hides_every_route(
    api: Any, user_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    enable(monkeypatch, SCAIECHO_VOICE_PROFILES_ENABLED="false")
    for resp in (
        api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(user_key)),
        api.get(STATUS, headers=auth(user_key)),
        api.delete(PROFILE, headers=auth(user_key)),
    ):
        assert resp.status_code == 404, resp.text
        assert error_code(resp) == "feature_not_available"


def test_flag_per_tenant_overrides_the_deployment(
    api: Any, make_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme, beta = make_key("acme", "scaiecho:transcribe", "u1"), make_key("beta", "scaiecho:transcribe", "u1")
    enable(monkeypatch, SCAIECHO_VOICE_PROFILES_ENABLED="true",
           SCAIECHO_VOICE_PROFILES_ENABLED_BY_TENANT='{"beta": false}')
    assert api.get(STATUS, headers=auth(acme)).json() == {"data": {"status": "MISSING"}}
    off = api.get(STATUS, headers=auth(beta))
    assert off.status_code == 404 and error_code(off) == "feature_not_available"
    assert api.delete(PROFILE, headers=auth(beta)).status_code == 404

    enable(monkeypatch, SCAIECHO_VOICE_PROFILES_ENABLED="false",
           SCAIECHO_VOICE_PROFILES_ENABLED_BY_TENANT='{"beta": true}')
    assert api.get(STATUS, headers=auth(beta)).status_code == 200
    assert error_code(api.get(STATUS, headers=auth(acme))) == "feature_not_available"


def test_a_key_without_a_user_is_403_and_no_key_is_401(api: Any, make_key: Any) -> None:
    tenant_key = make_key("acme", "scaiecho:transcribe")
    for resp in (
        api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(tenant_key)),
        api.get(STATUS, headers=auth(tenant_key)),
        api.delete(PROFILE, headers=auth(tenant_key)),
    ):
        assert resp.status_code == 403 and error_code(resp) == "user_key_required"
    anonymous = api.get(STATUS)
    assert anonymous.status_code == 401


# ------------------------------------------------------------------------------ sample checks
def test_missing_file_part_is_422(api: Any, user_key: str) -> None:
    resp = api.post(PROFILE, data={"note": "x"}, headers=auth(user_key))
    assert resp.status_code == 422 and error_code(resp) == "missing_field"


def test_too_large_is_413(api: Any, aws: Any, user_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    enable(monkeypatch, SCAIECHO_VOICE_SAMPLE_MAX_MB="0.1")
    resp = api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(user_key))
    assert resp.status_code == 413 and error_code(resp) == "voice_sample_too_large"
    assert resp.json()["error"]["details"]["limit_bytes"] == int(0.1 * 1024 * 1024)
    assert rows(aws) == []


@pytest.mark.parametrize(("data", "media_type"), [
    ((SPEECH / "speaker_f_103.flac").read_bytes(), "audio/flac"),  # audio, but not WAV/MP3/M4A
    ((SPEECH / "speaker_f_103.flac").read_bytes(), "application/octet-stream"),  # sniffed: FLAC
    (F_SAMPLE, "text/plain"),  # declared as not audio
    (b"hello, this is not audio at all" * 100, "application/octet-stream"),
])
def test_unsupported_media_type_is_415(
    api: Any, aws: Any, user_key: str, data: bytes, media_type: str
) -> None:
    resp = api.post(PROFILE, files=sample_file(data, media_type), headers=auth(user_key))
    assert resp.status_code == 415, resp.text
    assert error_code(resp) == "unsupported_media_type"
    assert rows(aws) == []


def test_too_short_and_too_long_are_400(
    api: Any, aws: Any, user_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = api.post(PROFILE, files=sample_file(wav(speech("speaker_f_103.flac", 0, 3.0))),
                     headers=auth(user_key))
    assert short.status_code == 400 and error_code(short) == "voice_sample_too_short"
    assert short.json()["error"]["details"]["min_s"] == 5.0

    enable(monkeypatch, SCAIECHO_VOICE_SAMPLE_MAX_S="6")
    long = api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(user_key))
    assert long.status_code == 400 and error_code(long) == "voice_sample_too_long"
    assert long.json()["error"]["details"] == {"duration_s": 7.0, "max_s": 6.0}
    assert rows(aws) == []


def test_silence_is_422_no_speech(api: Any, aws: Any, user_key: str) -> None:
    silence = wav(np.zeros(16000 * 6, dtype="float32"))
    resp = api.post(PROFILE, files=sample_file(silence), headers=auth(user_key))
    assert resp.status_code == 422 and error_code(resp) == "voice_sample_no_speech"


# ------------------------------------------------------------------------------ provider failures
def test_no_node_online_is_502(api: Any, aws: Any, user_key: str) -> None:
    NodeStore().register("node-gone", "scaiecho-local-node-gone")  # registered, not running
    resp = api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(user_key))
    assert resp.status_code == 502 and error_code(resp) == "voice_provider_error"
    assert rows(aws) == [] and s3_objects(aws) == []


def test_a_failing_node_is_502_and_stores_nothing(
    api: Any, aws: Any, user_key: str, contract_node: ContractNode
) -> None:
    # The contract node is online (answers health) but rejects embed, as a broken node would.
    resp = api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(user_key))
    assert resp.status_code == 502 and error_code(resp) == "voice_provider_error"
    assert resp.json()["error"]["details"] == {"failed_nodes": ["node-c"]}
    assert rows(aws) == [] and s3_objects(aws) == []
    assert api.get(STATUS, headers=auth(user_key)).json()["data"] == {"status": "MISSING"}


# ------------------------------------------------------------------------------ DELETE
def seed_profile(tenant: str, user: str) -> str:
    """A stored profile without a node (the API path with a real node is tested below)."""
    from scaiecho.adapters.tables import utcnow
    from scaiecho.adapters.voice_profiles import VoiceProfileStore
    from scaiecho.adapters.voiceprints import VoiceprintCipher
    from scaiecho.domain.speakers import new_id
    from scaiecho.domain.voice_profiles import VoiceProfile, subject_id

    raw = np.random.default_rng(0).standard_normal(192)
    vector = (raw / np.linalg.norm(raw)).tolist()
    profile = VoiceProfile(
        tenant_id=tenant, user_id=user, profile_id=new_id("vp"), provider="pyannote",
        consent_version="2026-01", created_at=utcnow(), sample_duration_s=7.0, dim=192,
        model_id=None, model_version=None,
        sealed_embedding=VoiceprintCipher().seal(vector, tenant_id=tenant, subject_id=subject_id(user)),
    )
    VoiceProfileStore().put(profile)
    return profile.profile_id


def test_delete_is_idempotent_and_evicts_best_effort(
    api: Any, aws: Any, user_key: str, contract_node: ContractNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaiecho.services import voice_profiles

    monkeypatch.setattr(voice_profiles, "EVICT_BACKOFF_S", (0.0,))
    NodeStore().register("node-gone", "scaiecho-local-node-gone")  # eviction there fails every time
    profile_id = seed_profile("acme", "alice")
    assert api.get(STATUS, headers=auth(user_key)).json()["data"]["status"] == "ACTIVE"

    first = api.delete(PROFILE, headers=auth(user_key))
    assert first.status_code == 204 and first.content == b""
    assert rows(aws) == []
    assert contract_node.evicted == [profile_id]  # the node that answers was asked once
    assert api.get(STATUS, headers=auth(user_key)).json() == {"data": {"status": "MISSING"}}

    second = api.delete(PROFILE, headers=auth(user_key))
    assert second.status_code == 204
    assert contract_node.evicted == [profile_id]  # nothing left to evict


def test_eviction_retries_then_gives_up_quietly(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from scaiecho.services import voice_profiles

    monkeypatch.setattr(voice_profiles, "EVICT_BACKOFF_S", (0.0,))
    NodeStore().register("node-gone", "scaiecho-local-node-gone")
    calls: list[str] = []
    real_invoke = voice_profiles.NodeClient._invoke

    def counting(self: Any, endpoint: str, request: Any, reply: Any) -> Any:
        calls.append(endpoint)
        return real_invoke(self, endpoint, request, reply)

    monkeypatch.setattr(voice_profiles.NodeClient, "_invoke", counting)
    assert voice_profiles.evict_everywhere("vp_x") == {"node-gone": False}
    assert calls == ["scaiecho-local-node-gone"] * voice_profiles.EVICT_ATTEMPTS


def test_tenant_isolation(api: Any, aws: Any, make_key: Any) -> None:
    from scaiecho.services.voice_profiles import match_candidate

    seed_profile("acme", "alice")
    beta_alice = make_key("beta", "scaiecho:transcribe", "alice")  # same user id, other tenant
    assert api.get(STATUS, headers=auth(beta_alice)).json()["data"] == {"status": "MISSING"}
    assert api.delete(PROFILE, headers=auth(beta_alice)).status_code == 204
    assert len(rows(aws)) == 1  # acme's row survives beta's DELETE
    assert match_candidate("beta", "alice") is None
    assert match_candidate("acme", "alice") is not None


def test_sealed_embedding_is_bound_to_tenant_and_user(aws: Any) -> None:
    from scaiecho.adapters.voice_profiles import VoiceProfileStore
    from scaiecho.adapters.voiceprints import VoiceprintCipher
    from scaiecho.domain.voice_profiles import subject_id
    from scaiecho.errors import StorageError

    seed_profile("acme", "alice")
    stored = VoiceProfileStore().get("acme", "alice")
    assert stored is not None
    cipher = VoiceprintCipher()
    assert len(cipher.open(stored.sealed_embedding, tenant_id="acme", subject_id=subject_id("alice"))) == 192
    with pytest.raises(StorageError):
        cipher.open(stored.sealed_embedding, tenant_id="acme", subject_id=subject_id("bob"))
    with pytest.raises(StorageError):
        cipher.open(stored.sealed_embedding, tenant_id="beta", subject_id=subject_id("alice"))


def test_requires_reconsent_when_the_consent_version_changes(
    api: Any, aws: Any, user_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaiecho.services.voice_profiles import match_candidate

    seed_profile("acme", "alice")
    assert match_candidate("acme", "alice") is not None
    enable(monkeypatch, SCAIECHO_VOICE_CONSENT_VERSION="2026-07")
    data = api.get(STATUS, headers=auth(user_key)).json()["data"]
    assert data["status"] == "REQUIRES_RECONSENT" and data["consentVersion"] == "2026-01"
    assert match_candidate("acme", "alice") is None  # excluded from matching until re-uploaded


def test_match_candidate_respects_the_flag_and_the_user(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from scaiecho.services.voice_profiles import match_candidate

    profile_id = seed_profile("acme", "alice")
    candidate = match_candidate("acme", "alice")
    assert candidate is not None and candidate.candidate_id == profile_id
    assert "alice" not in candidate.candidate_id and "acme" not in repr(candidate)
    assert candidate.node_candidate().speaker_id == profile_id
    assert abs(float(np.linalg.norm(candidate.embedding)) - 1.0) < 1e-5
    assert match_candidate("acme", None) is None and match_candidate("acme", "bob") is None
    enable(monkeypatch, SCAIECHO_VOICE_PROFILES_ENABLED_BY_TENANT='{"acme": false}')
    assert match_candidate("acme", "alice") is None


# ------------------------------------------------------------------------------ with a real node
@pytest.mark.model
def test_create_then_replace_in_place(api: Any, aws: Any, user_key: str, real_node: str) -> None:
    from scaiecho.services.voice_profiles import match_candidate

    created = api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(user_key))
    assert created.status_code == 201, created.text
    first = created.json()["data"]
    assert set(first) == {"status", "provider", "consentVersion", "createdAt", "sampleDurationSeconds"}
    assert first["status"] == "ACTIVE" and first["provider"] == "pyannote"
    assert first["consentVersion"] == "2026-01" and first["sampleDurationSeconds"] == 7.0
    assert api.get(STATUS, headers=auth(user_key)).json()["data"] == first
    (row,) = rows(aws)
    candidate = match_candidate("acme", "alice")
    assert candidate is not None and len(candidate.embedding) == int(row["dim"]["N"]) == 192
    # Only ciphertext is stored: the clear float32 bytes of the voiceprint do not appear in it.
    clear = np.asarray(candidate.embedding, dtype="<f4").tobytes()
    assert clear[:64] not in row["sealed_embedding"]["B"]

    replaced = api.post(PROFILE, files=sample_file(wav(speech("speaker_f_103.flac", 5.0, 14.0))),
                        headers=auth(user_key))
    assert replaced.status_code == 201, replaced.text
    second = replaced.json()["data"]
    assert second["sampleDurationSeconds"] == 9.0 and second["createdAt"] > first["createdAt"]
    (row2,) = rows(aws)  # the same (tenant, user) row, replaced
    assert (row2["tenant_id"], row2["user_id"]) == (row["tenant_id"], row["user_id"])
    assert row2["profile_id"] != row["profile_id"]
    after = match_candidate("acme", "alice")
    assert after is not None
    # Same voice, other words: the new voiceprint is close to the old one, but not the same.
    cos = float(np.dot(after.embedding, candidate.embedding))
    assert 0.6 < cos < 0.9999
    assert s3_objects(aws) == []  # the sample never went to S3


@pytest.mark.model
def test_reupload_after_reconsent_is_active_again(
    api: Any, aws: Any, user_key: str, real_node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(user_key)).status_code == 201
    enable(monkeypatch, SCAIECHO_VOICE_CONSENT_VERSION="2026-07")
    assert api.get(STATUS, headers=auth(user_key)).json()["data"]["status"] == "REQUIRES_RECONSENT"
    again = api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(user_key))
    assert again.status_code == 201
    assert again.json()["data"]["status"] == "ACTIVE" and again.json()["data"]["consentVersion"] == "2026-07"
    assert len(rows(aws)) == 1
    assert api.delete(PROFILE, headers=auth(user_key)).status_code == 204
    assert api.delete(PROFILE, headers=auth(user_key)).status_code == 204
    assert rows(aws) == [] and s3_objects(aws) == []


# ------------------------------------------------------------------------------ Lambda + CLI


def test_lambda_events_replay(aws: Any) -> None:
    handler = load_handler("voice_profile")

    def call(name: str) -> tuple[int, Any]:
        resp = handler(load_event("voice_profile", name), lambda_context("voice_profile"))
        return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None

    assert call("get_status") == (200, {"data": {"status": "MISSING"}})
    assert call("delete_profile")[0] == 204
    status, body = call("post_key_without_user")
    assert status == 403 and body["error"]["code"] == "user_key_required"
    status, body = call("post_unsupported_media")
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"


def test_cli_binds_a_key_to_a_user(aws: Any, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from scaiecho.cli import main
    from scaiecho.services.keys import authenticate

    monkeypatch.setenv("SCAIECHO_NO_LOCAL_STACK", "1")
    assert main(["keys", "create", "--tenant", "acme", "--scopes", "scaiecho:transcribe",
                 "--user", "alice", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["user_id"] == "alice"
    assert authenticate(created["api_key"]).user_id == "alice"


def test_the_voice_profile_function_cannot_touch_s3_or_open_voiceprints() -> None:
    """Privacy by policy: the sample path has no S3 action at all, and it only seals (kms:Encrypt)."""
    from scaiecho.local.template import load_template
    from tests.integration.test_template_policies import TEMPLATE, policy_templates, sam_policies

    props = load_template(TEMPLATE)["Resources"]["VoiceProfileFunction"]["Properties"]
    actions: list[str] = []
    for kind, value in sam_policies(props):
        if kind == "inline":
            actions += [str(a) for a in (value["Action"] if isinstance(value["Action"], list)
                                         else [value["Action"]])]
        elif kind == "template":
            actions += list(policy_templates()[value[0]])
        else:
            pytest.fail(f"unexpected managed policy {value}")
    assert actions and not [a for a in actions if a.lower().startswith("s3:")]
    assert [a for a in actions if a.startswith("kms:")] == ["kms:Encrypt"]


def encoded(samples: np.ndarray, container: str, codec: str) -> bytes:
    """Speech encoded with FFmpeg (PyAV), as a phone or browser would upload it."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=16000)
        stream.layout = "mono"
        size = 1152 if codec == "libmp3lame" else 1024
        for start in range(0, len(samples), size):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start: start + size].astype(np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 16000
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.mark.model
@pytest.mark.parametrize(("container", "codec", "media_type"), [
    ("mp3", "libmp3lame", "audio/mpeg"),
    ("ipod", "aac", "audio/mp4"),  # .m4a
])
def test_mp3_and_m4a_samples_are_accepted(
    api: Any, aws: Any, user_key: str, real_node: str, container: str, codec: str, media_type: str
) -> None:
    data = encoded(speech("speaker_f_103.flac", 0.0, 7.0), container, codec)
    resp = api.post(PROFILE, files=sample_file(data, media_type, "me.bin"), headers=auth(user_key))
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["sampleDurationSeconds"] == pytest.approx(7.0, abs=0.1)
    assert len(rows(aws)) == 1 and s3_objects(aws) == []


def test_a_profile_in_another_users_voice_is_refused_unless_allowed(
        api: Any, aws: Any, make_key: Any, speech_node: Any) -> None:
    """One voice, one profile per tenant: bob's sample in alice's voice is 409 (alice unnamed)."""
    speech_node.same_voice(F_SAMPLE, "reader-103")
    later = wav(speech("speaker_f_103.flac", 7.0))
    speech_node.same_voice(later, "reader-103")
    alice = make_key("acme", "scaiecho:transcribe", user_id="alice")
    bob = make_key("acme", "scaiecho:transcribe", user_id="bob")
    assert api.post(PROFILE, files=sample_file(F_SAMPLE), headers=auth(alice)).status_code == 201
    # Alice replacing her own profile is no duplicate.
    assert api.post(PROFILE, files=sample_file(later), headers=auth(alice)).status_code == 201

    refused = api.post(PROFILE, files=sample_file(later), headers=auth(bob))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "voice_already_enrolled"
    assert "alice" not in refused.text
    assert api.get(STATUS, headers=auth(bob)).json()["data"]["status"] == "MISSING"

    allowed = api.post(PROFILE, files=sample_file(later), data={"allow_duplicate_voice": "true"},
                       headers=auth(bob))
    assert allowed.status_code == 201, allowed.text
    # Another tenant's profiles are not compared.
    carol = make_key("globex", "scaiecho:transcribe", user_id="carol")
    assert api.post(PROFILE, files=sample_file(later), headers=auth(carol)).status_code == 201
