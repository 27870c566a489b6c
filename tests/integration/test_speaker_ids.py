"""Client-chosen speaker ids (external_id / speakerId), JSON enrollment with base64 audio, and
which enrollments identify speakers (12 s completeness), against moto and a contract node.

The seeds' own example requests run against the real stack in tests/e2e/test_seed_speakers_e2e.py.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import soundfile as sf

from scaiecho.errors import ValidationFailed
from tests.conftest import _reset_settings, auth
from tests.integration.test_enrollment import SPEAKERS, SPEECH, fields, files, speaker_rows, stored_objects

pytestmark = pytest.mark.usefixtures("speech_node")

REFERENCE = (SPEECH / "speaker_f_103.flac").read_bytes()
CONSENT = (SPEECH / "consent_103.flac").read_bytes()
CONSENT_TEXT = fields()["consent_text"]


@pytest.fixture
def key(make_key: Any) -> str:
    return str(make_key("acme", "scaiecho:enroll,scaiecho:transcribe,scaiecho:diarize"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def json_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "content": b64(REFERENCE), "encoding": "FLAC", "sampleRate": 16000, "languageCode": "en-US",
        "speakerId": "user1",
        "consent_user_full_name": "Karen Savage",
        "consent_stated_purpose": "identify me in meeting transcripts",
        "consent_text": CONSENT_TEXT,
        "consent_content": b64(CONSENT),
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def enroll(api: Any, key: str, external_id: str) -> dict[str, Any]:
    resp = api.post(SPEAKERS, data=fields(external_id=external_id, allow_duplicate_voice="true"),
                    files=files(), headers=auth(key))
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["data"])


def same_voice_wav(speech_node: Any) -> bytes:
    """Reader 103's reference as 16-bit WAV: other bytes, the same voice to the contract node."""
    import io

    samples, rate = sf.read(SPEECH / "speaker_f_103.flac", dtype="float32")
    out = io.BytesIO()
    sf.write(out, samples, rate, format="WAV", subtype="PCM_16")
    speech_node.same_voice(out.getvalue(), "reader-103")
    return out.getvalue()


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    _reset_settings()


# ------------------------------------------------------------------ the id rule
@pytest.mark.parametrize("bad", ["emp-1", "a b", "ü", "x" * 65, "spk_0123456789abcdef0123"])
def test_external_id_must_be_letters_digits_underscore(api: Any, aws: Any, key: str, bad: str) -> None:
    resp = api.post(SPEAKERS, data=fields(external_id=bad), files=files(), headers=auth(key))
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_external_id"
    assert stored_objects(aws) == [] and speaker_rows(aws) == []


def test_lookup_by_external_id_and_409_names_the_holder(api: Any, make_key: Any, key: str) -> None:
    first = enroll(api, key, "ext_59586")
    assert first["total_enroll_duration_s"] >= first["total_speech_s"] > 0

    found = api.get(SPEAKERS, params={"external_id": "ext_59586"}, headers=auth(key)).json()
    assert [s["speaker_id"] for s in found["data"]] == [first["speaker_id"]]
    assert api.get(SPEAKERS, params={"external_id": "nobody"}, headers=auth(key)).json()["data"] == []
    bad = api.get(SPEAKERS, params={"external_id": "a-b"}, headers=auth(key))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_external_id"
    by_path = api.get(f"{SPEAKERS}/by-external-id/ext_59586", headers=auth(key)).json()["data"]
    assert by_path["speaker_id"] == first["speaker_id"]

    again = api.post(SPEAKERS, data=fields(external_id="ext_59586", allow_duplicate_voice="true"),
                     files=files(), headers=auth(key))
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "speaker_exists"
    assert error["details"] == {"external_id": "ext_59586", "speaker_id": first["speaker_id"]}

    # Another tenant neither sees it nor is blocked by it.
    other = make_key("globex", "scaiecho:enroll")
    assert api.get(f"{SPEAKERS}/by-external-id/ext_59586", headers=auth(other)).status_code == 404
    assert api.get(SPEAKERS, params={"external_id": "ext_59586"},
                   headers=auth(other)).json()["data"] == []


def test_samples_and_erasure_by_external_id(api: Any, key: str) -> None:
    speaker = enroll(api, key, "ext_7")
    sample = api.post(f"{SPEAKERS}/by-external-id/ext_7/samples", files={"reference": files()["reference"]},
                      headers=auth(key))
    assert sample.status_code == 201, sample.text
    assert len(sample.json()["data"]["samples"]) == 2
    assert api.post(f"{SPEAKERS}/by-external-id/ext_8/samples", files={"reference": files()["reference"]},
                    headers=auth(key)).json()["error"]["code"] == "speaker_not_found"

    erased = api.delete(f"{SPEAKERS}/by-external-id/ext_7", headers=auth(key))
    assert erased.status_code == 200, erased.text
    assert erased.json()["data"]["speaker_id"] == speaker["speaker_id"]
    assert erased.json()["data"]["status"] == "complete"
    assert api.get(f"{SPEAKERS}/by-external-id/ext_7", headers=auth(key)).status_code == 404
    assert api.delete(f"{SPEAKERS}/by-external-id/ext_7", headers=auth(key)).status_code == 404
    enroll(api, key, "ext_7")  # the id is free again


# ------------------------------------------------------------------ JSON enrollment
def test_json_enrollment_then_more_audio_for_the_same_speaker_id(
    api: Any, key: str, speech_node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(monkeypatch, SCAIECHO_ENROLLMENT_COMPLETE_SPEECH_S="20")
    created = api.post(SPEAKERS, json=json_doc(), headers=auth(key))
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["external_id"] == "user1" and data["display_name"] == "user1"
    assert data["language_primary"] == "en-US"
    assert data["enrollment_status"] == "ready"
    assert data["enrollment_complete"] is False and data["message"] == "Success"

    more = api.post(SPEAKERS, json=json_doc(content=b64(same_voice_wav(speech_node)), encoding="WAV",
                                            consent_content=None), headers=auth(key))
    assert more.status_code == 200, more.text
    again = more.json()["data"]
    assert again["speaker_id"] == data["speaker_id"] and len(again["samples"]) == 2
    assert again["enrollment_complete"] is True and again["message"] == "Complete"
    assert again["total_speech_s"] >= 20

    # The same audio once more (a retry) adds nothing.
    retry = api.post(SPEAKERS, json=json_doc(content=b64(same_voice_wav(speech_node)), encoding="WAV"),
                     headers=auth(key))
    assert retry.status_code == 200 and retry.json()["data"]["duplicate_sample"] is True
    assert len(retry.json()["data"]["samples"]) == 2


def test_json_linear16_is_headerless_pcm_at_sample_rate(api: Any, key: str, speech_node: Any) -> None:
    samples, _ = sf.read(SPEECH / "speaker_f_103.flac", dtype="int16")
    pcm = samples.tobytes()
    import io
    import wave

    out = io.BytesIO()  # what the platform stores: the PCM in a WAV header
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    speech_node.same_voice(out.getvalue(), "reader-103")
    resp = api.post(SPEAKERS, json=json_doc(content=b64(pcm), encoding="LINEAR16", sampleRate=16000),
                    headers=auth(key))
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["samples"][0]["duration_s"] == pytest.approx(len(pcm) / 32000, abs=0.05)


@pytest.mark.parametrize(("overrides", "status", "code"), [
    ({"content": "not base64!"}, 422, "invalid_base64"),
    ({"consent_content": "@@@"}, 422, "invalid_base64"),
    ({"content": None}, 422, "missing_field"),
    ({"consent_content": None}, 422, "missing_field"),
    ({"consent_text": None}, 422, "missing_field"),
    ({"encoding": "LINEAR16", "sampleRate": None}, 422, "missing_field"),
    ({"encoding": "LINEAR16", "sampleRate": 1}, 422, "audio_sample_rate_unsupported"),
    ({"encoding": "LINEAR16", "content": b64(b"\x00\x01\x02")}, 422, "audio_undecodable"),
    ({"encoding": "AMR"}, 415, "unsupported_media_type"),
    ({"sampleRate": "16000"}, 422, "invalid_field"),
    ({"speakerId": "user-1"}, 422, "invalid_external_id"),
    ({"speakerId": 7}, 422, "invalid_field"),
    ({"apikey": "x"}, 422, "unknown_field"),
    ({"content": b64(b"\x00" * 64), "encoding": None}, 415, "unsupported_media_type"),
])
def test_json_enrollment_refusals_store_nothing(
    api: Any, aws: Any, key: str, overrides: dict[str, Any], status: int, code: str
) -> None:
    doc = json_doc(**{k: v for k, v in overrides.items() if v is not None})
    for name in (k for k, v in overrides.items() if v is None):
        doc.pop(name, None)
    resp = api.post(SPEAKERS, json=doc, headers=auth(key))
    assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
    assert stored_objects(aws) == [] and speaker_rows(aws) == []


def test_json_enrollment_size_limits(api: Any, aws: Any, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, SCAIECHO_MAX_UPLOAD_MB="0.1")
    big = api.post(SPEAKERS, json=json_doc(), headers=auth(key))  # the FLAC is ~240 KB
    assert big.status_code == 413
    assert big.json()["error"]["code"] in ("audio_too_large", "request_too_large")
    # The body's own cap: both recordings in base64 at the limit, plus 1 MB for the fields.
    whole = api.post(SPEAKERS, content=b'{"content": "' + b"A" * 2_000_000 + b'"}',
                     headers={**auth(key), "Content-Type": "application/json"})
    assert (whole.status_code, whole.json()["error"]["code"]) == (413, "request_too_large")
    assert stored_objects(aws) == [] and speaker_rows(aws) == []


def test_json_body_must_be_an_object(api: Any, key: str) -> None:
    resp = api.post(SPEAKERS, json=["content"], headers=auth(key))
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "invalid_json")


# ------------------------------------------------------------------ identification candidates
def test_speaker_ids_accept_external_ids_and_refuse_incomplete_enrollments(
    api: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaiecho.services.transcription import _require_speakers

    set_env(monkeypatch, SCAIECHO_ENROLLMENT_COMPLETE_SPEECH_S="10")  # reader 103's: 11.7 s
    speaker = enroll(api, key, "agent_1200")
    sid = speaker["speaker_id"]
    assert speaker["enrollment_complete"] is True
    assert _require_speakers("acme", ("agent_1200", sid)) == (sid,)
    with pytest.raises(ValidationFailed) as unknown:
        _require_speakers("acme", ("agent_404",))
    assert unknown.value.code == "invalid_speaker_ids"

    set_env(monkeypatch, SCAIECHO_ENROLLMENT_COMPLETE_SPEECH_S="60")
    resp = api.post("/v1/modules/scaiecho/transcribe", headers=auth(key),
                    data={"diarize": "true", "speaker_ids": '["agent_1200"]'},
                    files={"audio": ("a.flac", REFERENCE, "audio/flac")})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "enrollment_incomplete"
    assert error["details"]["speaker_ids"] == ["agent_1200"]

    set_env(monkeypatch, SCAIECHO_IDENTIFY_INCOMPLETE_ENROLLMENTS_BY_TENANT='{"acme": true}')
    assert _require_speakers("acme", ("agent_1200",)) == (sid,)


def test_incomplete_enrollments_are_no_candidates_unless_the_tenant_opts_in(
    api: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaiecho.adapters.candidates import TenantVoiceprints
    from scaiecho.services.transcription_tasks import _tenant_ready_speakers

    set_env(monkeypatch, SCAIECHO_ENROLLMENT_COMPLETE_SPEECH_S="10")  # reader 103's: 11.7 s
    sid = enroll(api, key, "agent_1")["speaker_id"]
    assert _tenant_ready_speakers("acme", []) == [sid]
    def on_node() -> list[Any]:
        from scaiecho.settings import get_settings

        floor = get_settings().identification_min_speech_s("acme")
        return TenantVoiceprints().on_node("acme", "node-1", min_speech_s=floor)

    assert [(v.speaker_id, v.external_id) for v in on_node()] == [(sid, "agent_1")]

    set_env(monkeypatch, SCAIECHO_ENROLLMENT_COMPLETE_SPEECH_S="60")
    assert _tenant_ready_speakers("acme", []) == []
    assert _tenant_ready_speakers("acme", [sid]) == []
    assert on_node() == []
    assert len(TenantVoiceprints().on_node("acme", "node-1")) == 1  # the duplicate check sees it

    set_env(monkeypatch, SCAIECHO_IDENTIFY_INCOMPLETE_ENROLLMENTS="true")
    assert _tenant_ready_speakers("acme", []) == [sid]
    assert len(on_node()) == 1
    set_env(monkeypatch, SCAIECHO_IDENTIFY_INCOMPLETE_ENROLLMENTS_BY_TENANT='{"acme": false}')
    assert on_node() == []
