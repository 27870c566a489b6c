"""Voice profiles on `make run`'s stack over real HTTP: the table provisioned from the template,
the route served by uvicorn, the embedding from a real node process through the SageMaker
runtime contract; nothing written to S3."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from scaiecho.local.stack import LocalStack

pytestmark = pytest.mark.e2e
SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
PROFILE = "/users/me/voice-profile"


def wav_sample(seconds: float = 7.0) -> bytes:
    samples, sr = sf.read(SPEECH / "speaker_m_1040.flac", dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples[: int(seconds * sr)]), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_voice_profile_lifecycle_over_http(stack: LocalStack) -> None:
    import boto3

    from scaiecho.services.keys import create_key
    from scaiecho.services.voice_profiles import match_candidate

    key = create_key("e2e-voice", "scaiecho:transcribe", user_id="dana").api_key
    s3, bucket = boto3.client("s3"), stack.provisioned.buckets[0]

    def objects() -> list[str]:
        listed = s3.list_object_versions(Bucket=bucket)
        return sorted(v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []))

    before = objects()
    with httpx.Client(base_url=stack.api_url, timeout=300,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        assert http.get(f"{PROFILE}/status").json() == {"data": {"status": "MISSING"}}
        created = http.post(PROFILE, files={"file": ("me.wav", wav_sample(), "audio/wav")})
        assert created.status_code == 201, created.text
        assert created.json()["data"]["status"] == "ACTIVE"
        assert http.get(f"{PROFILE}/status").json()["data"] == created.json()["data"]

        candidate = match_candidate("e2e-voice", "dana")
        assert candidate is not None and len(candidate.embedding) == 192

        assert objects() == before  # the sample never went to S3

        assert http.delete(PROFILE).status_code == 204
        assert http.delete(PROFILE).status_code == 204
        assert http.get(f"{PROFILE}/status").json() == {"data": {"status": "MISSING"}}
        assert match_candidate("e2e-voice", "dana") is None
