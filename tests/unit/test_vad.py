"""VAD, pitch tracking and the voice-change score on generated and real speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scaiecho.audio.decode import decode_audio
from scaiecho.domain.pitch import track_pitch
from scaiecho.domain.vad import detect_speech, frame_signal
from scaiecho.domain.voice_change import detect_voice_change

SR = 16_000
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "preflight"


def voiced(duration_s: float, f0_start: float, f0_end: float, *, level: float = 0.2) -> np.ndarray:
    """A harmonic 'vowel' with a gliding pitch and a 4 Hz syllable envelope."""
    n = round(duration_s * SR)
    f0 = np.linspace(f0_start, f0_end, n)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    t = np.arange(n) / SR
    envelope = 0.55 - 0.45 * np.cos(2 * np.pi * 4.0 * t)
    return (level * envelope * x / 2.0).astype(np.float32)


def bursts(n: int, speech_s: float, pause_s: float, rng: np.random.Generator) -> np.ndarray:
    parts = []
    for i in range(n):
        parts.append(np.zeros(round(pause_s * SR), np.float32))
        f0 = 110.0 + 10.0 * i
        parts.append(voiced(speech_s, f0, f0 * 1.2))
    parts.append(np.zeros(round(pause_s * SR), np.float32))
    x = np.concatenate(parts)
    return x + rng.normal(0, 10 ** (-60 / 20), x.size).astype(np.float32)


def load(name: str) -> np.ndarray:
    return decode_audio((FIXTURES / f"{name}.flac").read_bytes()).samples


def test_frame_signal_shapes_and_padding():
    frames = frame_signal(np.arange(1000, dtype=np.float32), 400, 160)
    assert frames.shape == (5, 400)
    assert frames[1, 0] == 160
    assert frame_signal(np.zeros(10, np.float32), 400, 160).shape == (1, 400)


def test_silence_has_no_speech():
    result = detect_speech(np.zeros(3 * SR, np.float32), SR)
    assert result.speech_s == 0.0
    assert result.segments() == []


def test_stationary_white_noise_is_not_speech():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.1, 5 * SR).astype(np.float32)
    assert detect_speech(noise, SR).speech_s < 0.3


def test_bursts_are_found_with_hangover():
    # 4 bursts of 1.0 s separated by 0.6 s pauses: 4.0 s of speech
    x = bursts(4, 1.0, 0.6, np.random.default_rng(2))
    result = detect_speech(x, SR)
    segments = result.segments()
    assert len(segments) == 4
    # each burst gains the 50 ms onset pad, the 200 ms hangover and a frame of smear (~0.28 s)
    assert 4.6 <= result.speech_s <= 5.3
    first_start, first_end = segments[0]
    assert 0.45 <= first_start <= 0.7
    assert 1.5 <= first_end <= 1.9


def test_bursts_in_moderate_noise_are_still_found():
    rng = np.random.default_rng(3)
    x = bursts(4, 1.0, 0.6, rng)
    noisy = x + rng.normal(0, 0.01, x.size).astype(np.float32)  # about 16 dB below the bursts
    result = detect_speech(noisy, SR)
    assert len(result.segments()) == 4
    assert 3.3 <= result.speech_s <= 5.2


def test_real_speech_fixture_speech_seconds():
    result = detect_speech(load("female_5163_a"), SR)
    # 8 s of continuous reading with short pauses (webrtcvad mode 2 finds about 7.2 s)
    assert 6.5 <= result.speech_s <= 8.0


@pytest.mark.parametrize("f0", [90.0, 120.0, 200.0, 280.0])
def test_pitch_of_harmonic_signal(f0):
    track = track_pitch(voiced(2.0, f0, f0), SR)
    values = track.f0[~np.isnan(track.f0)]
    assert values.size > 0.8 * track.f0.size
    assert np.median(values) == pytest.approx(f0, rel=0.01)


def test_pitch_follows_a_glide():
    track = track_pitch(voiced(2.0, 100.0, 200.0), SR)
    values = track.f0[~np.isnan(track.f0)]
    assert values[:5].mean() == pytest.approx(100.0, rel=0.05)
    assert values[-5:].mean() == pytest.approx(200.0, rel=0.05)
    assert np.all(np.diff(values) > -2.0)  # no octave jumps downwards


def test_white_noise_is_mostly_unvoiced():
    noise = np.random.default_rng(4).normal(0, 0.1, 2 * SR).astype(np.float32)
    track = track_pitch(noise, SR)
    assert np.count_nonzero(~np.isnan(track.f0)) < 0.1 * track.f0.size


def test_voice_change_scores_real_readers():
    female = np.concatenate([load("female_5163_a"), load("female_5163_b")])
    mixed = np.concatenate([load("female_5163_a"), load("male_1081")])
    one = detect_voice_change(female, SR, detect_speech(female, SR).speech)
    two = detect_voice_change(mixed, SR, detect_speech(mixed, SR).speech)
    assert one.blocks >= 12 and two.blocks >= 12
    assert not one.suspected and one.score < 4.0
    assert two.suspected and two.score > 15.0
    assert two.change_s is not None and 6.0 <= two.change_s <= 10.0


def test_voice_change_needs_enough_blocks():
    x = voiced(3.0, 120.0, 130.0)
    result = detect_voice_change(x, SR, detect_speech(x, SR).speech)
    assert result.suspected is False
    assert result.score == 0.0
    assert result.change_s is None
