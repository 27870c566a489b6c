"""`make run`'s stack over real HTTP: ``match_me=true`` scores the caller's own voice in a job.

The user records a voice profile from the first seconds of one LibriSpeech reader; the job hears
the rest of that reader followed by another reader. Real pyannote diarization + embeddings, real
Whisper: the user's segments score high, the other voice's low, and nothing else about the
profile (its id, the user) appears in the transcript or in what the job stored.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest

from scaiecho.local.stack import ALL_SCOPES, LocalStack
from tests.e2e.speech import FIXTURES, read, wav
from tests.e2e.test_transcription_jobs import ENROLL_S, wait

pytestmark = pytest.mark.e2e
TENANT, USER = "match-e2e", "erin"


def test_match_me_scores_the_users_segments_high_and_the_other_voice_low(stack: LocalStack) -> None:
    import boto3

    from scaiecho.services.keys import create_key
    from scaiecho.services.voice_profiles import match_candidate

    female = read(FIXTURES / "speech" / "speaker_f_103.flac")
    male = read(FIXTURES / "speech" / "speaker_m_1040.flac")
    cut = int(ENROLL_S * 16000)
    key = create_key(TENANT, ALL_SCOPES, user_id=USER).api_key
    with httpx.Client(base_url=stack.api_url, timeout=300,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        made = http.post("/users/me/voice-profile",
                         files={"file": ("me.wav", wav(female[:cut]), "audio/wav")})
        assert made.status_code == 201, made.text
        profile = match_candidate(TENANT, USER)
        assert profile is not None

        pause = np.zeros(8000, dtype=np.float32)
        parts = [female[cut:], pause, male[cut:]]
        user_part = (0.0, len(female[cut:]) / 16000)
        other_part = (user_part[1] + 0.5, user_part[1] + 0.5 + len(male[cut:]) / 16000)
        resp = http.post(
            "/transcribe",
            data={"diarize": "true", "language": "en", "match_me": "true"},
            files={"audio": ("mixed.wav", wav(np.concatenate(parts)), "audio/wav")},
        )
        assert resp.status_code == 202, resp.text
        data = wait(http, resp.json()["data"]["job_id"])
    assert data["status"] == "COMPLETED", data
    assert not any(w.startswith("voice_profile_unavailable") for w in data["warnings"]), data["warnings"]
    speech = [s for s in data["segments"] if s["type"] == "speech"]

    def spoken_in(window: tuple[float, float]) -> list[dict[str, Any]]:
        # segment times are strings with two decimals ("0.50"), as the job document writes them
        return [s for s in speech
                if window[0] <= (float(s["start_time"]) + float(s["end_time"])) / 2 < window[1]]

    mine, theirs = spoken_in(user_part), spoken_in(other_part)
    assert mine and theirs, data
    scores_mine = [s["voiceMatchScore"] for s in mine]
    scores_theirs = [s["voiceMatchScore"] for s in theirs]
    assert all(score >= 0.8 for score in scores_mine), (scores_mine, scores_theirs)
    assert all(score <= 0.2 for score in scores_theirs), (scores_mine, scores_theirs)
    assert all("speaker_id" not in s for s in speech)  # the profile never names a speaker

    # Nothing else of the profile: not in the transcript, not in the job's stored step results.
    s3, bucket = boto3.client("s3"), stack.provisioned.buckets[0]
    prefix = f"tenant/{TENANT}/jobs/{data['job_id']}/"
    stored = [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
              for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    assert len(stored) == 3  # asr, diarization, transcript
    for text in [json.dumps(data), *stored]:
        assert profile.candidate_id not in text and USER not in text
    assert '"embedding"' not in "".join(stored)
    print("voiceMatchScore user:", scores_mine, "other:", scores_theirs)
