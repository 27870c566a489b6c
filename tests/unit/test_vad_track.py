"""The stream VAD track: frame by frame, it finds what detect_speech finds over the whole buffer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from scaiecho.domain.vad import detect_speech
from scaiecho.domain.vad_track import HOP, VadTrack

RATE = 16_000
SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def _whole(samples: np.ndarray) -> list[tuple[int, int]]:
    if not samples.size:
        return []
    return [(round(s * RATE), round(e * RATE)) for s, e in detect_speech(samples, RATE).segments()]


def _recording() -> np.ndarray:
    female, _ = sf.read(SPEECH / "speaker_f_103.flac", dtype="float32")
    rng = np.random.default_rng(3)
    noise = (0.002 * rng.standard_normal(RATE)).astype(np.float32)
    return np.concatenate([noise, female[: 6 * RATE], noise, 0.1 * female[6 * RATE: 9 * RATE]])


@pytest.mark.parametrize("chunk", [3200, 1601, 97, 512, 352])
def test_frame_by_frame_equals_the_whole_buffer(chunk: int) -> None:
    audio = _recording()
    track, buf, checked = VadTrack.empty(), np.zeros(0, dtype=np.float32), 0
    for i in range(0, audio.size, chunk):
        piece = audio[i:i + chunk]
        track, buf = track.extend(piece), np.concatenate([buf, piece])
        assert track.samples == buf.size
        if (i // chunk) % 7 == 0 or buf.size < 2048:  # every length class, without O(n^2) runtime
            assert track.speech() == _whole(buf), f"after {buf.size} samples"
            checked += 1
    assert checked >= 5 and track.speech()  # the recording has speech


def test_dropping_the_head_equals_the_shorter_buffer() -> None:
    audio = _recording()
    track = VadTrack.empty().extend(audio[: 5 * RATE])
    dropped = track.drop(120 * HOP)
    assert dropped.samples == 5 * RATE - 120 * HOP
    assert dropped.speech() == _whole(audio[120 * HOP: 5 * RATE])
    more = dropped.extend(audio[5 * RATE: 7 * RATE])
    assert more.speech() == _whole(audio[120 * HOP: 7 * RATE])
    with pytest.raises(ValueError):
        track.drop(HOP + 1)  # frames are aligned to the buffer's start


def test_empty_and_tiny_buffers() -> None:
    assert VadTrack.empty().speech() == []
    assert VadTrack.empty().extend(np.zeros(0, dtype=np.float32)).samples == 0
    tiny = np.full(100, 0.5, dtype=np.float32)
    assert VadTrack.empty().extend(tiny).speech() == _whole(tiny)
