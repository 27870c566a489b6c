"""No audio that decodes crashes diarization: generated signals through the real node.

Each case is encoded as a real file (WAV/FLAC bytes), sent through the node's dispatcher (decode →
real pyannote engine) and must come back 200 with well-formed turns, or 4xx with a specific code —
never a 5xx / ``node_failure``. Speech comes from the LibriSpeech fixtures (CC BY 4.0, see
tests/fixtures/audio/CREDITS.md).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from tests.node.conftest import AUDIO

pytestmark = pytest.mark.model
SR = 16000


def speech(name: str = "103-1240-0000.flac") -> np.ndarray:
    samples, rate = sf.read(AUDIO / name, dtype="float32")
    assert rate == SR
    return samples


def encode(samples: np.ndarray, rate: int = SR, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def islands() -> bytes:
    """50-300 ms slices of speech, each alone between a second of silence."""
    src = speech()
    parts = []
    for k, ms in enumerate(range(50, 301, 50)):
        start = SR * (2 + k)
        parts += [np.zeros(SR, np.float32), src[start : start + SR * ms // 1000]]
    return encode(np.concatenate([*parts, np.zeros(SR, np.float32)]))


def clicks() -> bytes:
    x = np.zeros(SR * 8, np.float32)
    x[:: SR // 3] = 0.9
    x[SR * 4 : SR * 4 + 3] = -0.9
    return encode(x)


def one_short_word() -> bytes:
    x = np.zeros(SR * 10, np.float32)
    word = speech()[SR * 3 : SR * 3 + int(0.3 * SR)]
    x[SR * 5 : SR * 5 + len(word)] = word
    return encode(x)


def dc_offset() -> bytes:
    return encode(np.clip(speech()[: SR * 8] * 0.5 + 0.4, -1, 1))


def very_quiet() -> bytes:
    x = speech()[: SR * 8]
    return encode(x * (10 ** (-50 / 20)) / float(np.max(np.abs(x))), subtype="PCM_24")


def clipped() -> bytes:
    return encode(np.clip(speech()[: SR * 8] * 25.0, -1.0, 1.0))


def telephone() -> bytes:
    from scipy.signal import butter, resample_poly, sosfilt

    x = resample_poly(speech()[: SR * 10], 1, 2)
    sos = butter(4, [300, 3400], btype="band", fs=8000, output="sos")
    return encode(sosfilt(sos, x).astype(np.float32), rate=8000)


def stereo_two_voices() -> bytes:
    a, b = (np.resize(speech(n), SR * 8) for n in ("103-1240-0000.flac", "26-495-0000.flac"))
    left = np.concatenate([a, np.zeros(SR * 8, np.float32)])
    right = np.concatenate([np.zeros(SR * 8, np.float32), b])
    return encode(np.stack([left, right], axis=1), fmt="FLAC")


def digital_silence() -> bytes:
    return encode(np.zeros(SR * 5, np.float32), fmt="FLAC")


def ten_ms() -> bytes:
    return encode(speech()[SR * 2 : SR * 2 + 160])


def white_noise() -> bytes:
    return encode(np.random.default_rng(0).standard_normal(SR * 6).astype(np.float32) * 0.3)


CASES: dict[str, tuple[Callable[[], bytes], bool]] = {
    # name: (signal, whether it holds enough speech that a speaker must be found)
    "speech_islands_50_300ms": (islands, False),
    "clicks": (clicks, False),
    "silence_with_one_short_word": (one_short_word, False),
    "dc_offset": (dc_offset, True),
    "minus_50_dbfs": (very_quiet, False),
    "clipped": (clipped, True),
    "telephone_8khz": (telephone, True),
    "stereo_different_channels": (stereo_two_voices, True),
    "digital_silence": (digital_silence, False),
    "ten_milliseconds": (ten_ms, False),
    "white_noise": (white_noise, False),
}


def _check(status: int, body: dict[str, Any], must_find_speaker: bool) -> None:
    assert status < 500, body
    if status != 200:
        assert 400 <= status < 500 and body["error"]["code"] not in {"node_failure", "bad_request"}, body
        assert not must_find_speaker
        return
    data = body["data"]
    for turn in data["turns"] + data["exclusive_turns"]:
        assert 0.0 <= turn["start"] < turn["end"] <= data["duration_s"] + 0.05, turn
    assert data["num_speakers"] == len({t["speaker"] for t in data["turns"]})
    if must_find_speaker:
        assert data["num_speakers"] >= 1, data


@pytest.fixture(scope="module")
def dispatcher(engine: Any) -> Any:
    from scaiecho_node.invocation import Dispatcher

    return Dispatcher(engine)


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_signal_is_diarized_or_refused_clearly(dispatcher: Any, name: str) -> None:
    make, must_find_speaker = CASES[name]
    payload = {"action": "diarize", "audio": {"b64": base64.b64encode(make()).decode()}}
    status, body = dispatcher.handle(payload)
    _check(status, body, must_find_speaker)


@pytest.mark.parametrize("name", ["speech_islands_50_300ms", "clicks", "ten_milliseconds",
                                  "silence_with_one_short_word"])
def test_generated_signal_embed_never_fails_on_the_node(dispatcher: Any, name: str) -> None:
    make, _ = CASES[name]
    status, body = dispatcher.handle({"action": "embed", "audio": {"b64": base64.b64encode(make()).decode()}})
    assert status < 500, body


def test_an_hour_of_sparse_speech_is_diarized_in_windows(engine: Any) -> None:
    """1 h of audio (crosses the engine's window length): speech islands in room noise."""
    from scaiecho.audio.decode import DecodedAudio

    rng = np.random.default_rng(1)
    total = SR * 3600
    x = (rng.standard_normal(total) * 0.001).astype(np.float32)
    a, b = speech("103-1240-0000.flac"), speech("26-495-0000.flac")
    for minute in range(0, 60, 6):
        src = a if (minute // 6) % 2 == 0 else b
        at = SR * 60 * minute
        x[at : at + len(src)] += src
    result = engine.diarize(DecodedAudio(x, SR, "wav", SR, 1, 0.0), max_speakers=2)
    assert result.duration_s == pytest.approx(3600, abs=0.1)
    assert 1 <= len(result.speakers) <= 2
    assert any(t.start > 3000 for t in result.turns)  # the last windows were diarized too
