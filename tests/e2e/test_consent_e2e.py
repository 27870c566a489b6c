"""Consent you can prove, one voice per speaker: the local stack, real nodes, real recordings.

Reader 103 (LibriSpeech): the first 7 s of the utterance is the reference, the rest is her
consent recording, and its words are the consent text. Reader 1040 is "another person".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scaiecho.local.stack import LocalStack
from tests.e2e.speech import CONSENTS, FIXTURES, RATE, consent_form, read, wav

pytestmark = pytest.mark.e2e
SPEECH = FIXTURES / "speech"


@pytest.fixture(scope="module")
def dpo_http(stack: LocalStack) -> Iterator[httpx.Client]:
    """A tenant of its own, so no other e2e test's speakers count as duplicates here."""
    from scaiecho.services.keys import create_key

    key = create_key("consent-e2e", "scaiecho:enroll").api_key
    with httpx.Client(base_url=stack.api_url, timeout=300,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def enroll(http: httpx.Client, *, reference_reader: str = "103", consent: bytes | None = None,
           consent_text: str | None = None, **extra: str) -> httpx.Response:
    own_consent, own_text = consent_form("103")
    source = SPEECH / ("speaker_f_103.flac" if reference_reader == "103" else "speaker_m_1040.flac")
    data = {"display_name": "Reader 103", "language_primary": "en",
            "consent_user_full_name": "Reader One Hundred Three",
            "consent_stated_purpose": "name me in meeting transcripts",
            "consent_text": consent_text or own_text, **extra}
    files = {"reference": ("reference.wav", wav(read(source)[: 7 * RATE]), "audio/wav"),
             "consent": ("consent.flac", consent or own_consent, "audio/flac")}
    return http.post("/speakers", data=data, files=files)


def tenant_speakers(http: httpx.Client) -> list[dict[str, Any]]:
    return list(http.get("/speakers", params={"limit": 200}).json()["data"])


def consents(http: httpx.Client) -> list[str]:
    return http.get("/consents").text.splitlines()


@pytest.fixture(scope="module")
def genuine(dpo_http: httpx.Client) -> dict[str, Any]:
    resp = enroll(dpo_http)
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["data"])


def test_a_genuine_consent_is_accepted_with_its_scores(genuine: dict[str, Any]) -> None:
    checks = genuine["consent_checks"]
    assert checks["voice"]["status"] == "passed" and checks["voice"]["score"] > 0.5, checks
    assert checks["text"]["status"] == "passed" and checks["text"]["score"] >= 0.5, checks
    assert genuine["enrollment_status"] == "ready"


def test_a_consent_read_by_another_person_is_refused_and_nothing_stored(
        dpo_http: httpx.Client, genuine: dict[str, Any]) -> None:
    before = (tenant_speakers(dpo_http), consents(dpo_http))
    # Reader 1040's voice as the reference, reader 103 reading the consent text.
    resp = enroll(dpo_http, reference_reader="1040")
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "consent_voice_mismatch" and err["details"]["voice_check"]["score"] < 0.5
    assert (tenant_speakers(dpo_http), consents(dpo_http)) == before


def test_a_consent_saying_something_else_is_refused_with_what_was_heard(
        dpo_http: httpx.Client, genuine: dict[str, Any]) -> None:
    before = (tenant_speakers(dpo_http), consents(dpo_http))
    resp = enroll(dpo_http, consent_text=CONSENTS["1040"][1])
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "consent_text_mismatch"
    assert "hollow" in err["details"]["heard"].lower()  # what she actually said
    assert (tenant_speakers(dpo_http), consents(dpo_http)) == before


def test_a_second_enrollment_of_an_enrolled_voice_names_the_first(
        dpo_http: httpx.Client, genuine: dict[str, Any]) -> None:
    resp = enroll(dpo_http, display_name="Someone Else")
    assert resp.status_code == 409, resp.text
    err = resp.json()["error"]
    assert err["code"] == "voice_already_enrolled"
    assert err["details"]["speaker_id"] == genuine["speaker_id"]
    assert [s["speaker_id"] for s in tenant_speakers(dpo_http)] == [genuine["speaker_id"]]


def test_the_evidence_route_returns_the_scores_and_a_working_url(
        dpo_http: httpx.Client, genuine: dict[str, Any]) -> None:
    resp = dpo_http.get(f"/speakers/{genuine['speaker_id']}/consent")
    assert resp.status_code == 200, resp.text
    record = resp.json()["data"]
    assert record["consent_text"] == CONSENTS["103"][1]
    assert record["voice_check"]["score"] == genuine["consent_checks"]["voice"]["score"]
    assert record["text_check"]["heard"]
    audio = httpx.get(record["audio_url"], timeout=30)
    assert audio.status_code == 200
    assert hashlib.sha256(audio.content).hexdigest() == record["audio_sha256"]
    assert audio.content == consent_form("103")[0]

    exported = dpo_http.get("/consents", params={"format": "csv"})
    assert exported.status_code == 200 and genuine["speaker_id"] in exported.text
