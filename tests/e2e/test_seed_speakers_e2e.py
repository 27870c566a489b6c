"""The speaker-side seed documents' own example requests against `make run`'s stack: real pyannote
nodes, real consent checks, real HTTP.

* ScaiEcho's tutorial ("Enroll a speaker for diarization"): its curl, httpx and fetch enrollments
  (run as written by curl, Python and Node), warm inspection and re-warm, the lifecycle it
  describes (pending → ready when a node comes online, ready → evicted when the nodes holding the
  speaker are gone, → ready once re-warmed), and delete.
* The JSON enroll-and-delete API: its ``data.json`` body with base64 audio, enrolled three times
  ("Success" until "Complete"), then deleted by the client's speaker id.
* The speaker-id document: a client-chosen ``speakerId`` (an extension id), the 409 on reuse,
  12 s completeness, ``speakerIds`` restricting identification, the id in transcripts and in
  streamed deltas.

What differs from the documents, and why: host names and keys; keys travel in a header, never in
the query string (``?apikey=`` is refused: URLs end up in logs); the consent fields this platform
requires are added, and ``consent_text`` is the sentence the fixture consent recording actually
says (the text check hears it; the documents' sample sentences were never recorded); the delete
is ``DELETE /speakers/by-external-id/{speakerId}`` instead of a POST to another API's path.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from scaiecho.local.stack import ALL_SCOPES, LocalStack
from scaiecho.local.stream_client import stream_samples
from tests.e2e.conftest import COMPLETENESS_TENANT, restart_node
from tests.e2e.speech import CONSENTS, FIXTURES, RATE, consent_form, read, wav
from tests.e2e.test_transcription_jobs import wait

pytestmark = pytest.mark.e2e
SPEECH = FIXTURES / "speech"
FEMALE, MALE = SPEECH / "speaker_f_103.flac", SPEECH / "speaker_m_1040.flac"


def client(stack: LocalStack, tenant: str) -> httpx.Client:
    from scaiecho.services.keys import create_key

    key = create_key(tenant, ALL_SCOPES).api_key
    return httpx.Client(base_url=stack.api_url, timeout=300, headers={"Authorization": f"Bearer {key}"})


def host(stack: LocalStack) -> str:
    return stack.api_url.removesuffix("/v1/modules/scaiecho")


def flac(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, RATE, format="FLAC")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def poll(http: httpx.Client, path: str, done: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = http.get(path).json()["data"]
        if done(data) or time.monotonic() > deadline:
            return data
        time.sleep(2)


# ================================================================== the tutorial
CURL = r'''curl -X POST "$SCAIGRID_HOST/v1/modules/scaiecho/speakers" \
  -H "Authorization: Bearer $SCAIGRID_API_KEY" \
  -F "display_name=Alice Example" \
  -F "language_primary=en" \
  -F "description=Customer success lead" \
  -F "consent_user_full_name=Alice Example" \
  -F "consent_stated_purpose=Meeting transcription diarization for the support team" \
  -F "consent_text=I, Alice Example, consent to ScaiEcho enrolling my voice for diarization." \
  -F "reference=@alice-reference.wav" \
  -F "consent=@alice-consent.wav"'''

HTTPX = '''import httpx, os

with open("alice-reference.wav", "rb") as ref, open("alice-consent.wav", "rb") as cons:
    resp = httpx.post(
        f"{os.environ['SCAIGRID_HOST']}/v1/modules/scaiecho/speakers",
        headers={"Authorization": f"Bearer {os.environ['SCAIGRID_API_KEY']}"},
        files={
            "reference": ("alice-reference.wav", ref, "audio/wav"),
            "consent": ("alice-consent.wav", cons, "audio/wav"),
        },
        data={
            "display_name": "Alice Example",
            "language_primary": "en",
            "consent_user_full_name": "Alice Example",
            "consent_stated_purpose": "Meeting transcription diarization",
            "consent_text": "I consent to enrollment for diarization.",
        },
        timeout=120.0,
    )
print(resp.json()["data"])
'''

FETCH = '''import fs from "node:fs";

const form = new FormData();
form.append("reference", new Blob([fs.readFileSync("alice-reference.wav")]), "alice-reference.wav");
form.append("consent", new Blob([fs.readFileSync("alice-consent.wav")]), "alice-consent.wav");
form.append("display_name", "Alice Example");
form.append("language_primary", "en");
form.append("consent_user_full_name", "Alice Example");
form.append("consent_stated_purpose", "Meeting transcription diarization");
form.append("consent_text", "I consent to enrollment for diarization.");

const res = await fetch(`${process.env.SCAIGRID_HOST}/v1/modules/scaiecho/speakers`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.SCAIGRID_API_KEY}` },
  body: form,
});
console.log(await res.json());
'''
TUTORIAL_TEXTS = ("I, Alice Example, consent to ScaiEcho enrolling my voice for diarization.",
                  "I consent to enrollment for diarization.")


def alice_files(directory: Path) -> str:
    """alice-reference.wav (reader 103) and alice-consent.wav (reader 103 reading the consent)
    in ``directory``; returns what the consent recording says."""
    consent, text = consent_form("103")
    (directory / "alice-reference.wav").write_bytes(wav(read(FEMALE)))
    samples, _ = sf.read(io.BytesIO(consent), dtype="float32")
    (directory / "alice-consent.wav").write_bytes(wav(samples))
    return text


def said(example: str, text: str) -> str:
    for sample in TUTORIAL_TEXTS:
        example = example.replace(sample, text.replace('"', "'"))
    return example


@pytest.fixture(scope="module")
def alice(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The tutorial's curl enrollment, run by curl (tenant of its own: one voice per tenant)."""
    from scaiecho.services.keys import create_key

    directory = tmp_path_factory.mktemp("alice")
    text = alice_files(directory)
    key = create_key("seed-tutorial-curl", ALL_SCOPES).api_key
    done = subprocess.run(["bash", "-c", said(CURL, text)], cwd=directory, capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "SCAIGRID_HOST": host(stack), "SCAIGRID_API_KEY": key})
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    with httpx.Client(base_url=stack.api_url, timeout=300,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        yield {"body": body, "http": http}


def test_tutorial_curl_enrollment(alice: dict[str, Any]) -> None:
    data = alice["body"]["data"]
    assert data["enrollment_status"] == "ready", data
    assert data["enrolled_on"] == ["node-1", "node-2"]
    assert data["preflight"]["passed"] is True
    assert data["display_name"] == "Alice Example" and "note" not in data


def test_tutorial_httpx_and_fetch_enrollments(stack: LocalStack, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from scaiecho.services.keys import create_key

    text = alice_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCAIGRID_HOST", host(stack))
    monkeypatch.setenv("SCAIGRID_API_KEY", create_key("seed-tutorial-httpx", ALL_SCOPES).api_key)
    namespace: dict[str, Any] = {}
    exec(compile(said(HTTPX, text), "tutorial-httpx.py", "exec"), namespace)
    resp = namespace["resp"]
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["enrollment_status"] == "ready"

    (tmp_path / "enroll.mjs").write_text(said(FETCH, text))
    env = {**os.environ, "SCAIGRID_API_KEY": create_key("seed-tutorial-fetch", ALL_SCOPES).api_key}
    done = subprocess.run(["node", "enroll.mjs"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "enrollment_status: 'ready'" in done.stdout, done.stdout


def test_tutorial_warm_inspection_and_rewarm(alice: dict[str, Any]) -> None:
    http, sid = alice["http"], alice["body"]["data"]["speaker_id"]
    warm = http.get(f"/speakers/{sid}/warm").json()["data"]
    assert warm["warm_node_ids"] == warm["candidate_node_ids"] == ["node-1", "node-2"]
    assert warm["stale_node_ids"] == []
    again = http.post(f"/speakers/{sid}/warm", headers={"Content-Type": "application/json"},
                      content='{"node_ids": []}')
    assert again.status_code == 200, again.text
    assert again.json()["data"]["enrollment_status"] == "ready"


def test_tutorial_lifecycle_pending_ready_evicted_ready(stack: LocalStack, alice: dict[str, Any]) -> None:
    """Nodes leave: the probe marks the ready speaker evicted. A speaker stored while no node was
    online is pending (intake refuses without a node for the consent checks, so that state is
    written here as intake's fan-out would leave it). Nodes return: the probe enrolls both."""
    from scaiecho.adapters.speakers import SpeakerStore, WarmRegistry
    from scaiecho.domain.speakers import EnrollmentStatus
    from scaiecho.services.enrollment_tasks import NO_NODE_NOTE

    http, sid = alice["http"], alice["body"]["data"]["speaker_id"]
    with client(stack, "seed-tutorial-pending") as other:
        resp = other.post("/speakers", json={
            "content": b64(flac(read(MALE)[: 7 * RATE])), "encoding": "FLAC",
            "consent_user_full_name": "Ben Example", "consent_stated_purpose": "diarization",
            "consent_text": CONSENTS["1040"][1], "consent_content": b64(consent_form("1040")[0]),
        })
        assert resp.status_code == 201, resp.text
        pending_id = resp.json()["data"]["speaker_id"]
        try:
            for node in stack.nodes:
                node.stop()
            stack.probe_nodes()
            evicted = http.get(f"/speakers/{sid}").json()["data"]
            assert evicted["enrollment_status"] == "evicted", evicted
            assert evicted["enrolled_on"] == [] and "node probe" in evicted["note"]

            WarmRegistry().delete_for_speaker("seed-tutorial-pending", pending_id)
            SpeakerStore().set_enrollment("seed-tutorial-pending", pending_id,
                                          status=EnrollmentStatus.PENDING, enrolled_on=[],
                                          note=NO_NODE_NOTE)
            assert other.get(f"/speakers/{pending_id}").json()["data"]["enrollment_status"] == "pending"
        finally:
            restart_node(stack, 0)
            restart_node(stack, 1)
            stack.probe_nodes()
        for api, speaker in ((http, sid), (other, pending_id)):
            data = poll(api, f"/speakers/{speaker}",
                        lambda d: d["enrollment_status"] == "ready" and len(d["enrolled_on"]) == 2)
            assert data["enrollment_status"] == "ready", data
            assert data["enrolled_on"] == ["node-1", "node-2"] and "note" not in data


def test_tutorial_delete(alice: dict[str, Any]) -> None:
    http, sid = alice["http"], alice["body"]["data"]["speaker_id"]
    resp = http.delete(f"/speakers/{sid}")
    assert resp.status_code == 200, resp.text
    report = resp.json()["data"]
    assert report["audit_id"] and report["blob_bytes_deleted"] > 0 and report["status"] == "complete"
    assert "error_summary" in report
    assert http.get(f"/speakers/{sid}").status_code == 404


# ================================================================== the JSON enroll/delete API
def test_json_enroll_three_times_then_delete_by_speaker_id(stack: LocalStack) -> None:
    female = read(FEMALE)
    consent, text = consent_form("103")
    consent_fields = {"consent_user_full_name": "User One", "consent_text": text,
                      "consent_stated_purpose": "speaker identification",
                      "consent_content": b64(consent), "consent_encoding": "FLAC"}
    with client(stack, "seed-json") as http:
        key = http.headers["Authorization"].removeprefix("Bearer ")
        # data.json as the document writes it (its FLAC carries its own rate; sampleRate is
        # what the client believes), plus the consent.
        data_json = {"content": b64(flac(female[: 7 * RATE])), "sampleRate": 8000, "encoding": "FLAC",
                     "languageCode": "en-US", "speakerId": "user1", **consent_fields}
        # The document's ?apikey= is refused: the key goes in a header.
        refused = httpx.post(f"{stack.api_url}/speakers?apikey={key}", json=data_json, timeout=60)
        assert refused.status_code == 401

        first = http.post("/speakers", headers={"content-type": "application/json"},
                          content=json.dumps(data_json))
        assert first.status_code == 201, first.text
        one = first.json()["data"]
        assert one["external_id"] == "user1" and one["language_primary"] == "en-US"
        assert one["enrollment_status"] == "ready"
        assert one["message"] == "Success" and one["enrollment_complete"] is False

        # "Enroll a user at least thrice with 3 different audio": headerless PCM, then a WAV.
        pcm = (np.clip(female[7 * RATE:], -1, 1) * 32767).astype("<i2").tobytes()
        more = [{"content": b64(pcm), "encoding": "LINEAR16", "sampleRate": RATE},
                {"content": b64(wav(female[3 * RATE: 11 * RATE])), "encoding": "WAV"}]
        answers = []
        for body in more:
            resp = http.post("/speakers", json={**body, "languageCode": "en-US", "speakerId": "user1"})
            assert resp.status_code == 200, resp.text
            answers.append(resp.json()["data"])
        assert [len(a["samples"]) for a in answers] == [2, 3]
        assert all(a["speaker_id"] == one["speaker_id"] for a in answers)
        assert all(a["message"] == ("Complete" if a["enrollment_complete"] else "Success")
                   for a in answers)
        assert answers[-1]["enrollment_complete"] is True and answers[-1]["message"] == "Complete"
        assert answers[-1]["total_speech_s"] >= 12

        deleted = http.delete("/speakers/by-external-id/user1")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["data"]["speaker_id"] == one["speaker_id"]
        assert http.get("/speakers", params={"external_id": "user1"}).json()["data"] == []
        assert http.delete("/speakers/by-external-id/user1").status_code == 404


# ================================================================== client-chosen speaker ids
def test_speaker_id_flow_completeness_and_identification(stack: LocalStack) -> None:
    female, male = read(FEMALE), read(MALE)
    extension = "595860001"  # a user's extension id, as the document recommends
    with client(stack, COMPLETENESS_TENANT) as http:
        # "It checks if a speaker id exists, then update the enrollment, otherwise it creates".
        assert http.get("/speakers", params={"external_id": extension}).json()["data"] == []
        consent, text = consent_form("103")
        created = http.post("/speakers", json={
            "content": b64(wav(female[: 6 * RATE])), "encoding": "WAV", "speakerId": extension,
            "consent_user_full_name": "Agent 1200", "consent_stated_purpose": "name me in calls",
            "consent_text": text, "consent_content": b64(consent),
        })
        assert created.status_code == 201, created.text
        speaker = created.json()["data"]
        sid = speaker["speaker_id"]
        assert speaker["enrollment_complete"] is False and speaker["total_speech_s"] < 12
        assert speaker["total_enroll_duration_s"] == pytest.approx(6.0, abs=0.1)
        assert speaker["enrollment_quality"] in ("poor", "average", "good", "high")

        bad = http.post("/speakers", json={"content": b64(wav(female)), "speakerId": "59586-xxxx"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_external_id")

        # The same id for another person: 409 naming the speaker that holds it.
        m_consent, m_text = consent_form("1040")
        taken = http.post("/speakers", data={
            "display_name": "Agent 1300", "language_primary": "en", "external_id": extension,
            "consent_user_full_name": "Agent 1300", "consent_stated_purpose": "name me in calls",
            "consent_text": m_text,
        }, files={"reference": ("r.wav", wav(male[: 7 * RATE]), "audio/wav"),
                  "consent": ("c.flac", m_consent, "audio/flac")})
        assert taken.status_code == 409, taken.text
        assert taken.json()["error"]["details"]["speaker_id"] == sid

        # Reader 1040 under its own id, incomplete (7 s): no identification candidate.
        other = http.post("/speakers", data={
            "display_name": "Agent 1300", "language_primary": "en", "external_id": "595860002",
            "consent_user_full_name": "Agent 1300", "consent_stated_purpose": "name me in calls",
            "consent_text": m_text,
        }, files={"reference": ("r.wav", wav(male[: 7 * RATE]), "audio/wav"),
                  "consent": ("c.flac", m_consent, "audio/flac")})
        assert other.status_code == 201, other.text
        assert other.json()["data"]["enrollment_complete"] is False

        incomplete = http.post("/transcribe", data={"diarize": "true", "language": "en",
                                                    "speaker_ids": json.dumps([extension])},
                               files={"audio": ("call.wav", wav(female[7 * RATE:]), "audio/wav")})
        assert (incomplete.status_code, incomplete.json()["error"]["code"]) == (422, "enrollment_incomplete")

        # "Update the enrollment" of that speaker id until it is complete.
        for part in (female[6 * RATE:], female[2 * RATE: 10 * RATE]):
            speaker = http.post(f"/speakers/by-external-id/{extension}/samples",
                                files={"reference": ("more.wav", wav(part), "audio/wav")}).json()["data"]
            if speaker["enrollment_complete"]:
                break
        assert speaker["enrollment_complete"] is True, speaker
        assert speaker["total_enroll_duration_s"] >= speaker["total_speech_s"] >= 12
        speaker = poll(http, f"/speakers/{sid}", lambda d: d["enrollment_status"] == "ready")
        assert speaker["enrollment_status"] == "ready"

        # speakerIds restriction by the client's ids: the incomplete one is refused by name.
        both = http.post("/transcribe", data={"diarize": "true", "language": "en",
                                              "speaker_ids": json.dumps([extension, "595860002"])},
                         files={"audio": ("call.wav", wav(female[7 * RATE:]), "audio/wav")})
        assert both.status_code == 422
        assert both.json()["error"]["details"]["speaker_ids"] == ["595860002"]

        # A call: agent 1200 (complete) then agent 1300 (incomplete). Only the complete
        # enrollment is a candidate; its segments carry the extension id.
        pause = np.zeros(RATE // 2, dtype=np.float32)
        call = np.concatenate([female[7 * RATE:], pause, male[7 * RATE:]])
        first_end = len(female[7 * RATE:]) / RATE
        job = http.post("/transcribe", data={"diarize": "true", "language": "en",
                                             "speaker_ids": json.dumps([extension])},
                        files={"audio": ("call.wav", wav(call), "audio/wav")})
        assert job.status_code == 202, job.text
        result = wait(http, job.json()["data"]["job_id"])
        assert result["status"] == "COMPLETED", result
        speech = [s for s in result["segments"] if s["type"] == "speech"]
        named = [s for s in speech if s.get("speaker_id")]
        assert named and {(s["speaker_id"], s["external_id"]) for s in named} == {(sid, extension)}
        assert all(float(s["start_time"]) < first_end + 0.5 for s in named), named

        unrestricted = http.post("/transcribe", data={"diarize": "true", "language": "en"},
                                 files={"audio": ("call.wav", wav(male[7 * RATE:]), "audio/wav")})
        assert unrestricted.status_code == 202, unrestricted.text
        plain = wait(http, unrestricted.json()["data"]["job_id"])
        assert plain["status"] == "COMPLETED", plain
        assert not any(s.get("speaker_id") for s in plain["segments"]), plain["segments"]

        # The same call streamed: agent 1200's deltas carry the extension id; agent 1300's
        # incomplete enrollment names nobody (session labels only).
        key = http.headers["Authorization"].removeprefix("Bearer ")
        live = stream_samples(stack.stream_url, key, call, diarize=True, language="en", speed=0)
    assert not live.problems, live.problems  # falling_behind is timing: the bench measures it
    mine = [d for d in live.deltas if (d["start"] + d["end"]) / 2 < first_end]
    theirs = [d for d in live.deltas if (d["start"] + d["end"]) / 2 > first_end + 0.5]
    assert mine and theirs, live.deltas
    assert {(d.get("speaker_label"), d.get("external_id")) for d in mine} == {(sid, extension)}, mine
    assert all("external_id" not in d and str(d.get("speaker_label", "")) != sid for d in theirs), theirs
