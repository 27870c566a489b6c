"""Consent you can prove, one voice per speaker (issue 17), against moto and a scripted node.

The node (``speech_node``) says whose voice each recording is and what it says; the checks,
thresholds, storage and routes are the real ones. Real voices and ASR: tests/e2e.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.conftest import auth
from tests.contract_node import CONSENT_TEXT, SpeechScript
from tests.integration.test_enrollment import (
    SPEAKERS,
    SPEECH,
    fields,
    files,
    speaker_rows,
    stored_objects,
)

CONSENTS = "/v1/modules/scaiecho/consents"


@pytest.fixture
def enroll_key(make_key: Any) -> str:
    return str(make_key("acme", "scaiecho:enroll"))


def enroll(api: Any, key: str, **overrides: Any) -> Any:
    upload = overrides.pop("files", None) or files()
    return api.post(SPEAKERS, data=fields(**overrides), files=upload, headers=auth(key))


def test_genuine_consent_is_accepted_and_its_scores_stored(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript) -> None:
    resp = enroll(api, enroll_key)
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    assert data["enrollment_status"] == "ready"
    checks = data["consent_checks"]
    assert checks["voice"]["status"] == "passed" and checks["voice"]["score"] > 0.99
    assert checks["text"]["status"] == "passed" and checks["text"]["score"] == 1.0

    # The intake's node calls carried the audio inline (nothing was stored yet).
    inline = [r for r in speech_node.node.requests  # type: ignore[attr-defined]
              if r["action"] in ("embed", "transcribe") and "b64" in r["audio"]]
    assert sorted(r["action"] for r in inline) == ["embed", "embed", "transcribe"]

    evidence = api.get(f"{SPEAKERS}/{data['speaker_id']}/consent", headers=auth(enroll_key))
    assert evidence.status_code == 200, evidence.text
    record = evidence.json()["data"]
    assert record["consent_text"] == fields()["consent_text"]
    assert record["stated_purpose"] == fields()["consent_stated_purpose"]
    assert record["voice_check"]["score"] > 0.99
    assert record["text_check"]["heard"] == CONSENT_TEXT
    assert record["checked_on_node"] == "node-1"
    assert len(record["audio_sha256"]) == 64 and record["actor"]
    assert "X-Amz-Expires=300" in record["audio_url"] or "Expires=" in record["audio_url"]


def test_consent_in_another_voice_is_refused_and_nothing_stored(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript) -> None:
    other = (SPEECH / "consent_200.flac").read_bytes()
    speech_node.says(other, CONSENT_TEXT)  # the right words, in another reader's voice
    resp = enroll(api, enroll_key, files=files(consent=other))
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "consent_voice_mismatch"
    assert err["details"]["voice_check"]["score"] < 0.5
    assert stored_objects(aws) == [] and speaker_rows(aws) == []


def test_consent_saying_something_else_is_refused_with_what_was_heard(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript) -> None:
    resp = enroll(api, enroll_key,
                  consent_text="I, Karen Savage, consent to ScaiEcho using my voice for training models.")
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "consent_text_mismatch"
    assert err["details"]["heard"] == CONSENT_TEXT
    assert err["details"]["text_check"]["score"] < 0.5
    assert stored_objects(aws) == [] and speaker_rows(aws) == []
    # heard in Whisper's short window first; refused only once the full window agrees
    windows = [r["window"] for r in speech_node.node.requests if r["action"] == "transcribe"]  # type: ignore[attr-defined]
    assert windows == ["short", "full"]


def test_text_check_tolerates_case_punctuation_numbers_and_the_name(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript) -> None:
    consent = (SPEECH / "consent_103.flac").read_bytes()
    speech_node.says(consent, "i karen savitch agree on may third twenty twenty six that scaiecho "
                              "may store my voice")
    resp = enroll(api, enroll_key,
                  consent_text="I, Karen Savage, agree on May 3rd 2026 that ScaiEcho may store my voice.")
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["consent_checks"]["text"]["score"] >= 0.9


def test_a_language_the_asr_cannot_do_skips_the_text_check_and_says_why(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript) -> None:
    resp = enroll(api, enroll_key, language_primary="de", consent_text="Ich stimme zu.")
    assert resp.status_code == 201, resp.text
    text = resp.json()["data"]["consent_checks"]["text"]
    assert text["status"] == "skipped" and "asr_language_unsupported" in text["reason"]
    sid = resp.json()["data"]["speaker_id"]
    record = api.get(f"{SPEAKERS}/{sid}/consent", headers=auth(enroll_key)).json()["data"]
    assert record["text_check"]["status"] == "skipped" and record["voice_check"]["status"] == "passed"


def test_without_an_online_node_the_consent_cannot_be_checked_and_nothing_is_stored(
        api: Any, aws: Any, enroll_key: str) -> None:
    resp = enroll(api, enroll_key)
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "consent_check_unavailable"
    assert stored_objects(aws) == [] and speaker_rows(aws) == []


def test_a_second_enrollment_of_an_enrolled_voice_is_409_naming_the_first(
        api: Any, aws: Any, enroll_key: str, make_key: Any, speech_node: SpeechScript) -> None:
    first = enroll(api, enroll_key)
    assert first.status_code == 201, first.text
    first_id = first.json()["data"]["speaker_id"]
    before = (stored_objects(aws), len(speaker_rows(aws)))

    again = enroll(api, enroll_key, display_name="K. Savage")
    assert again.status_code == 409, again.text
    err = again.json()["error"]
    assert err["code"] == "voice_already_enrolled" and err["details"]["speaker_id"] == first_id
    assert (stored_objects(aws), len(speaker_rows(aws))) == before

    # Another tenant's speakers are not this tenant's business.
    other = enroll(api, make_key("globex", "scaiecho:enroll"))
    assert other.status_code == 201, other.text

    allowed = enroll(api, enroll_key, allow_duplicate_voice="true")
    assert allowed.status_code == 201, allowed.text
    assert allowed.json()["data"]["allow_duplicate_voice"] is True
    assert allowed.json()["data"]["duplicate_voice_of"] == first_id

    bad = enroll(api, enroll_key, allow_duplicate_voice="maybe")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_field"


def test_a_sample_in_another_voice_is_refused(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript) -> None:
    sid = enroll(api, enroll_key).json()["data"]["speaker_id"]
    own = api.post(f"{SPEAKERS}/{sid}/samples", headers=auth(enroll_key),
                   files={"reference": ("r.flac", (SPEECH / "speaker_f_103.flac").read_bytes(),
                                        "audio/flac")})
    assert own.status_code == 201, own.text
    assert own.json()["data"]["voice_check"]["status"] == "passed"
    before = stored_objects(aws)
    other = api.post(f"{SPEAKERS}/{sid}/samples", headers=auth(enroll_key),
                     files={"reference": ("r.flac", (SPEECH / "speaker_m_1040.flac").read_bytes(),
                                          "audio/flac")})
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "sample_voice_mismatch"
    assert stored_objects(aws) == before


def test_per_tenant_thresholds_override_the_defaults(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import _reset_settings

    monkeypatch.setenv("SCAIECHO_CONSENT_POLICY_BY_TENANT",
                       json.dumps({"acme": {"text_min_coverage": 1.01}}))
    _reset_settings()
    resp = enroll(api, enroll_key)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "consent_text_mismatch"


def test_consent_export_for_a_dpo_is_paginated_json_lines_or_csv(
        api: Any, aws: Any, enroll_key: str, make_key: Any, speech_node: SpeechScript) -> None:
    ids = []
    for n in range(3):
        consent = (SPEECH / "consent_103.flac").read_bytes()
        ref = (SPEECH / "speaker_f_103.flac").read_bytes()
        resp = enroll(api, enroll_key, display_name=f"Reader {n}", allow_duplicate_voice="true",
                      files=files(reference=ref, consent=consent))
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["data"]["speaker_id"])
    enroll(api, make_key("globex", "scaiecho:enroll"))  # another tenant: never exported here

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "from": "2020-01-01"}
        if cursor:
            params["cursor"] = cursor
        page = api.get(CONSENTS, params=params, headers=auth(enroll_key))
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("application/x-ndjson")
        seen += [json.loads(line) for line in page.text.splitlines()]
        cursor = page.headers.get("x-next-cursor")
        if not cursor:
            break
    assert sorted(r["speaker_id"] for r in seen) == sorted(ids)
    assert all(r["voice_check"]["status"] == "passed" for r in seen)

    as_csv = api.get(CONSENTS, headers={**auth(enroll_key), "Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert as_csv.headers["content-type"].startswith("text/csv") and len(rows) == 3
    assert {r["text_status"] for r in rows} == {"passed"}

    empty = api.get(CONSENTS, params={"to": "2020-01-01"}, headers=auth(enroll_key))
    assert empty.status_code == 200 and empty.text == ""
    bad = api.get(CONSENTS, params={"from": "yesterday"}, headers=auth(enroll_key))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_range"


def test_evidence_needs_the_enroll_scope_and_the_tenant(
        api: Any, aws: Any, enroll_key: str, make_key: Any, speech_node: SpeechScript) -> None:
    sid = enroll(api, enroll_key).json()["data"]["speaker_id"]
    assert api.get(f"{SPEAKERS}/{sid}/consent",
                   headers=auth(make_key("acme", "scaiecho:transcribe"))).status_code == 403
    assert api.get(f"{SPEAKERS}/{sid}/consent",
                   headers=auth(make_key("globex", "scaiecho:enroll"))).status_code == 404
    assert api.get(CONSENTS, headers=auth(make_key("acme", "scaiecho:transcribe"))).status_code == 403


def test_intake_checks_spread_over_the_online_nodes(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript) -> None:
    """Both voiceprints on one node (comparable), the consent transcribed on the other, and the
    first node drawn at random: concurrent intakes no longer queue on the first node."""
    from tests.contract_node import registered

    second = SpeechScript()
    with registered(second.answers(), node_id="node-2", online=True) as node_2:
        nodes = {"node-1": speech_node.node, "node-2": node_2}  # type: ignore[attr-defined]
        checked_on: set[str] = set()
        for _ in range(30):  # until both were drawn: all 30 on one node is 2**-29
            if len(checked_on) == 2:
                break
            for node in nodes.values():
                node.requests.clear()
            resp = enroll(api, enroll_key, allow_duplicate_voice="true")
            assert resp.status_code == 201, resp.text
            record = api.get(f"{SPEAKERS}/{resp.json()['data']['speaker_id']}/consent",
                             headers=auth(enroll_key)).json()["data"]
            embed_node = record["checked_on_node"]
            other = next(n for n in nodes if n != embed_node)
            inline = {n: sorted(r["action"] for r in node.requests if "b64" in r.get("audio", {}))
                      for n, node in nodes.items()}
            assert inline == {embed_node: ["embed", "embed"], other: ["transcribe"]}
            assert all(r["word_timestamps"] is False for r in nodes[other].requests
                       if r["action"] == "transcribe")
            checked_on.add(embed_node)
    assert checked_on == {"node-1", "node-2"}


@pytest.mark.parametrize("other_version", ["contract-1", "contract-2"])
def test_intake_records_the_consent_embedding_on_every_node_with_the_same_model(
        api: Any, aws: Any, enroll_key: str, speech_node: SpeechScript, other_version: str) -> None:
    """The consent check's reference embedding is the voiceprint on its node and on every online
    node running the same model version; only a node with another model embeds the reference
    itself (the fan-out, by S3 reference)."""
    from scaiecho.adapters.nodes import NodeStore
    from scaiecho.contracts.node import HealthResult
    from tests.contract_node import registered

    def health(version: str) -> Any:  # a node reports the model version its embeddings carry
        return 200, {"data": HealthResult(model_id="contract-node", model_version=version).model_dump()}

    second = SpeechScript(model_version=other_version)
    with registered({**second.answers(), "health": health(other_version)}, node_id="node-2",
                    online=True) as node_2:
        nodes = {"node-1": speech_node.node, "node-2": node_2}  # type: ignore[attr-defined]
        nodes["node-1"].answers["health"] = health("contract-1")
        for node_id, version in (("node-1", "contract-1"), ("node-2", other_version)):
            NodeStore().record_probe(node_id, online=True, error=None, health=HealthResult(
                model_id="contract-node", model_version=version))
        resp = enroll(api, enroll_key)
        assert resp.status_code == 201, resp.text
        data = resp.json()["data"]
        assert data["enrollment_status"] == "ready"
        assert sorted(data["enrolled_on"]) == ["node-1", "node-2"]
        fan_out = {n: [r for r in node.requests if r["action"] == "embed" and "s3" in r["audio"]]
                   for n, node in nodes.items()}
    checked_on = api.get(f"{SPEAKERS}/{data['speaker_id']}/consent",
                         headers=auth(enroll_key)).json()["data"]["checked_on_node"]
    other = "node-2" if checked_on == "node-1" else "node-1"
    assert fan_out[checked_on] == []
    assert len(fan_out[other]) == (0 if other_version == "contract-1" else 1)
