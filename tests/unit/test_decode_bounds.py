"""Decoding is bounded by the caller's limit, not by what a (tiny, hostile) file claims."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from scaiecho.audio.decode import TARGET_SAMPLE_RATE, decode_audio
from scaiecho.errors import AudioTooLong, ScaiEchoError
from tests.hostile_audio import Case, extensible_fmt, flac_silence, malformed_cases, wav

BYTES_PER_SECOND = TARGET_SAMPLE_RATE * 4  # float32 output


@pytest.mark.parametrize("case", malformed_cases(), ids=lambda c: c.name)
def test_malformed_audio_gets_its_specific_4xx(case: Case) -> None:
    with pytest.raises(ScaiEchoError) as err:
        decode_audio(case.make(), max_duration_s=600)
    assert (err.value.status, err.value.code) == (case.status, case.code)
    assert "avcodec" not in err.value.message  # FFmpeg internals stay in the logs


def test_a_wav_declaring_one_hertz_is_refused_before_decoding() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ScaiEchoError) as err:
            decode_audio(wav(rate=1), max_duration_s=600)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.code == "audio_sample_rate_unsupported"
    assert peak < 1_000_000  # nothing was decoded (it used to be 300 s: ~38 MB)


def test_declared_length_over_the_limit_is_refused_before_decoding() -> None:
    data = flac_silence(600.0)  # ~28 KB of FLAC
    tracemalloc.start()
    try:
        with pytest.raises(AudioTooLong) as err:
            decode_audio(data, max_duration_s=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.details["limit_s"] == 60 and err.value.details["duration_s"] == pytest.approx(600)
    assert peak < 2_000_000


def test_a_file_hiding_its_length_is_cut_off_while_decoding() -> None:
    data = flac_silence(600.0, hide_length=True)
    assert len(data) < 64 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(AudioTooLong) as err:
            decode_audio(data, max_duration_s=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "duration_s" not in err.value.details  # found by decoding, not declared
    # Peak memory is the limit's own output (60 s = 3.84 MB of float32), not the 600 s the file
    # holds (38.4 MB of output, ~77 MB peak before the bound).
    assert peak < 1.25 * 60 * BYTES_PER_SECOND


def test_peak_memory_of_audio_at_the_limit_is_its_own_size_not_twice_it() -> None:
    data = flac_silence(59.0)
    tracemalloc.start()
    try:
        audio = decode_audio(data, max_duration_s=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert audio.samples.nbytes == pytest.approx(59 * BYTES_PER_SECOND, rel=0.01)
    assert peak < 1.25 * audio.samples.nbytes  # written in place: no chunk list + concatenate


def test_a_wav_whose_data_size_understates_is_cut_off_while_decoding() -> None:
    # Streaming writers put 0 in the data size; the samples present are what counts.
    data = wav(frames=16000 * 90, data_size=0)
    with pytest.raises(AudioTooLong):
        decode_audio(data, max_duration_s=60)


def test_audio_within_the_limit_decodes_unchanged() -> None:
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000 * 3) / 16000) * 32767).astype("<i2")
    audio = decode_audio(wav(payload=tone.tobytes()), max_duration_s=3.0)
    assert audio.duration_s == pytest.approx(3.0, abs=0.01)
    assert decode_audio(flac_silence(59.0), max_duration_s=60).duration_s == pytest.approx(59.0, abs=0.1)


def test_legitimate_rates_and_codecs_still_decode() -> None:
    for rate in (8000, 44100, 96000, 192000):
        assert decode_audio(wav(rate=rate, frames=rate // 2)).source_sample_rate == rate
    alaw = decode_audio(wav(tag=6, bits=8, frames=8000, rate=8000))
    assert alaw.duration_s == pytest.approx(1.0, abs=0.01)
    f32 = decode_audio(wav(tag=3, bits=32, frames=16000))
    assert f32.duration_s == pytest.approx(1.0, abs=0.01)
    extensible = decode_audio(wav(tag=0xFFFE, fmt_extra=extensible_fmt(1), frames=16000))
    assert extensible.duration_s == pytest.approx(1.0, abs=0.01)
