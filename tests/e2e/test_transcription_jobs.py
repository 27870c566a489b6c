"""`make run`'s stack over real HTTP: a transcription job over a real conversation, on real nodes.

Two LibriSpeech readers are enrolled from one part of their recordings; the job transcribes the
other parts, followed by a third, never-enrolled reader. Real pyannote diarization + identification
and real Whisper tiny.en: the enrolled voices come back named, with text; the third stays anonymous.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from scaiecho.local.stack import ALL_SCOPES, LocalStack
from tests.e2e.speech import FIXTURES, enroll_part, read, wav

pytestmark = pytest.mark.e2e
ENROLL_S = 7.0  # the first seconds enroll the speaker; the job hears only what follows






@pytest.fixture(scope="module")
def tenant_http(stack: LocalStack) -> Iterator[httpx.Client]:
    """A tenant of its own: no speaker enrolled by other e2e tests is a candidate here."""
    from scaiecho.services.keys import create_key

    key = create_key("jobs-e2e", ALL_SCOPES).api_key
    with httpx.Client(base_url=stack.api_url, timeout=300,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        yield client




def wait(http: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        data: dict[str, Any] = http.get(f"/transcribe/{job_id}").json()["data"]
        if data["status"] in ("COMPLETED", "FAILED"):
            return data
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish: {data}")


def test_enrolled_voices_are_named_and_a_third_stays_anonymous(tenant_http: httpx.Client) -> None:
    female = read(FIXTURES / "speech" / "speaker_f_103.flac")
    male = read(FIXTURES / "speech" / "speaker_m_1040.flac")
    third = read(FIXTURES / "audio" / "26-495-0000.flac")  # another reader, never enrolled
    cut = int(ENROLL_S * 16000)
    f_id = enroll_part(tenant_http, "Reader 103", female[:cut], reader="103")
    m_id = enroll_part(tenant_http, "Reader 1040", male[:cut], reader="1040")

    pause = np.zeros(8000, dtype=np.float32)
    parts = [female[cut:], pause, male[cut:], pause, third]
    bounds, t = [], 0.0
    for part in parts:
        bounds.append((t, t + len(part) / 16000))
        t += len(part) / 16000
    resp = tenant_http.post(
        "/transcribe",
        data={"diarize": "true", "language": "en", "diarization_config": '{"max_speakers": 4}'},
        files={"audio": ("conversation.wav", wav(np.concatenate(parts)), "audio/wav")},
    )
    assert resp.status_code == 202, resp.text
    data = wait(tenant_http, resp.json()["data"]["job_id"])
    assert data["status"] == "COMPLETED", data
    speech = [s for s in data["segments"] if s["type"] == "speech"]
    assert speech and sum(bool(s["text"]) for s in speech) >= len(speech) / 2
    # readable English: words separated by spaces, never glued together
    words = " ".join(s["text"] for s in speech).split()
    assert len(words) >= 30 and max(len(w) for w in words) < 20, words

    def spoken_in(window: tuple[float, float]) -> list[dict[str, Any]]:
        # segment times are strings with two decimals ("0.50"), as the job document writes them
        return [s for s in speech
                if window[0] <= (float(s["start_time"]) + float(s["end_time"])) / 2 < window[1]]

    named = {sid: [s for s in speech if s.get("speaker_id") == sid] for sid in (f_id, m_id)}
    assert named[f_id] and named[m_id], data
    assert {s["speaker_name"] for s in named[f_id]} == {"Reader 103"}
    # Each enrolled reader is named in their own part, with words.
    assert any(s.get("speaker_id") == f_id and s["text"] for s in spoken_in(bounds[0]))
    assert any(s.get("speaker_id") == m_id and s["text"] for s in spoken_in(bounds[2]))
    # The third voice: transcribed, labelled, never named.
    tail = spoken_in(bounds[4])
    assert tail and all(s["speaker"] for s in tail)
    assert all("speaker_id" not in s for s in tail), tail
    assert data["speakers"]["count"] >= 3
    assert data["speakers"]["labels"][:3] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]

    rttm = tenant_http.get(f"/transcribe/{data['job_id']}", params={"format": "rttm"})
    assert rttm.status_code == 200 and rttm.text.startswith(f"SPEAKER {data['job_id']} 1 ")
    # every diarized turn is in the RTTM, and in the transcript as a speech segment
    lines = rttm.text.splitlines()
    assert len(lines) == len(data["turns"]) >= data["speakers"]["count"]
    for turn in data["turns"]:
        # segment times are two-decimal strings, turns keep milliseconds
        assert any(s["speaker"] == turn["speaker"] and float(s["start_time"]) <= turn["start_time"] + 0.01
                   and float(s["end_time"]) >= turn["start_time"] - 0.005 for s in speech), turn
