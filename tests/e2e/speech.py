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


def enroll_part(http: httpx.Client, name: str, samples: np.ndarray, *,
                purpose: str = "name me in transcripts") -> str:
    """Enroll ``samples`` as speaker ``name`` and wait until it is ready; its speaker id."""
    resp = http.post(
        "/speakers",
        data={"display_name": name, "language_primary": "en",
              "consent_user_full_name": name, "consent_stated_purpose": purpose,
              "consent_text": "I agree that ScaiEcho may store a voiceprint of my voice."},
        files={"reference": ("reference.wav", wav(samples), "audio/wav"),
               "consent": ("consent.flac", (FIXTURES / "speech" / "consent_200.flac").read_bytes(),
                           "audio/flac")},
    )
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    deadline = time.monotonic() + 240
    while data["enrollment_status"] == "pending" and time.monotonic() < deadline:
        time.sleep(2)
        data = http.get(f"/speakers/{data['speaker_id']}").json()["data"]
    assert data["enrollment_status"] == "ready", data
    return str(data["speaker_id"])
