"""Real speech for the e2e tests: read fixtures, encode WAV, enroll one part of a reader."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RATE = 16_000


def read(path: Path) -> np.ndarray:
    samples, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    return np.asarray(samples)


def wav(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, samples, RATE, format="WAV", subtype="PCM_16")
    return out.getvalue()


# A consent recording per fixture reader (the second half of its utterance: 7.0 s onwards) and
# the words it says, from the book the reader reads (LibriSpeech; see fixtures/speech/CREDITS.md).
CONSENTS = {
    "103": ("consent_103.flac", "The Avonlea main road dipped down into a little hollow, fringed with "
                                "alders and ladies' eardrops and traversed by a brook."),
    "1040": ("consent_1040.flac", "They were waiting below to give Wendy time to explain about them, "
                                  "and when they had counted five hundred they went up."),
}


def consent_form(reader: str) -> tuple[bytes, str]:
    """(the consent recording, its text) of a fixture reader."""
    name, text = CONSENTS[reader]
    return (FIXTURES / "speech" / name).read_bytes(), text


def enroll_part(http: httpx.Client, name: str, samples: np.ndarray, *, reader: str,
                purpose: str = "name me in transcripts") -> str:
    """Enroll ``samples`` (a part of fixture reader ``reader`` before 7.0 s) as speaker ``name``,
    with that reader's consent recording, and wait until it is ready; its speaker id. Other
    tests may have enrolled the same reader in this tenant: duplicates are allowed here."""
    consent, text = consent_form(reader)
    resp = http.post(
        "/speakers",
        data={"display_name": name, "language_primary": "en",
              "consent_user_full_name": name, "consent_stated_purpose": purpose,
              "consent_text": text, "allow_duplicate_voice": "true"},
        files={"reference": ("reference.wav", wav(samples), "audio/wav"),
               "consent": ("consent.flac", consent, "audio/flac")},
    )
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    deadline = time.monotonic() + 240
    while data["enrollment_status"] == "pending" and time.monotonic() < deadline:
        time.sleep(2)
        data = http.get(f"/speakers/{data['speaker_id']}").json()["data"]
    assert data["enrollment_status"] == "ready", data
    return str(data["speaker_id"])
