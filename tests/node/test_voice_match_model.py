"""voiceMatchScore end to end on the real engine: a user's profile from one recording of their
voice, a conversation mixing other words of that voice with another reader; the user's segments
score high, the other voice's low (LibriSpeech readers 103 (F) and 1040 (M), CC BY 4.0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scaiecho.audio.decode import DecodedAudio, decode_audio
from scaiecho.domain import voice_match

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
SR = 16000


def _speech(name: str) -> np.ndarray:
    audio = decode_audio((SPEECH / name).read_bytes())
    assert audio.sample_rate == SR
    return audio.samples


def _audio(samples: np.ndarray) -> DecodedAudio:
    return DecodedAudio(samples=samples.astype(np.float32), sample_rate=SR, source_format="wav",
                        source_channels=1, source_sample_rate=SR, clipped_ratio=0.0)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


@pytest.mark.model
def test_user_segments_score_high_and_the_other_voice_low(engine: Any) -> None:
    from scaiecho_node.engine import CandidateInput

    user, other = _speech("speaker_f_103.flac"), _speech("speaker_m_1040.flac")
    # The profile: the user's first 6 s, embedded exactly as the voice-profile route does.
    profile = engine.embed(_audio(user[: 6 * SR])).serialize()
    embedding = np.asarray(profile["embedding"]) / np.linalg.norm(profile["embedding"])
    candidate_id = "vp_0123456789abcdef0123"

    # The conversation: other 7 s | user's remaining ~8 s (words not in the profile) | other 7.6 s.
    parts = [other[: 7 * SR], user[6 * SR:], other[7 * SR:]]
    bounds, t = [], 0.0
    for part in parts:
        bounds.append((t, t + len(part) / SR))
        t += len(part) / SR
    truth = {"user": [bounds[1]], "other": [bounds[0], bounds[2]]}
    result = engine.diarize(
        _audio(np.concatenate(parts)),
        [CandidateInput(candidate_id, embedding.tolist())],
        min_speakers=1, max_speakers=4,
    ).serialize()

    scores = voice_match.voice_match_scores(result, candidate_id=candidate_id, embedding=embedding.tolist())
    assert set(scores) == {s["label"] for s in result["speakers"]}
    assert all(0.0 <= s <= 1.0 for s in scores.values())

    # Score every diarized turn by who really spoke most of it.
    user_turns: list[tuple[tuple[float, float], float]] = []
    other_turns: list[tuple[tuple[float, float], float]] = []
    for turn in result["turns"]:
        span = (turn["start"], turn["end"])
        mine = sum(_overlap(span, b) for b in truth["user"])
        theirs = sum(_overlap(span, b) for b in truth["other"])
        if max(mine, theirs) < 0.5 * (span[1] - span[0]):
            continue  # a turn straddling the boundary says little either way
        (user_turns if mine > theirs else other_turns).append((span, scores[turn["speaker"]]))
    assert user_turns and other_turns
    user_speech = sum(e - s for (s, e), _ in user_turns)
    high = sum(e - s for (s, e), score in user_turns if score >= 0.8)
    assert high >= 0.9 * user_speech, user_turns
    assert all(score <= 0.2 for _, score in other_turns), other_turns

    # The profile never names a speaker in the transcript's identification map.
    assert candidate_id in {i["speaker_id"] for i in result["identified"].values()}
    assert voice_match.without_profile(result["identified"], candidate_id) == {}
