"""Streaming protocol parsing, the streamed-audio decoder, endpointing and session clusters (pure)."""

from __future__ import annotations

import base64
import io
import json
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from scaiecho.audio.stream import PcmState, feed, from_record, to_record
from scaiecho.domain.endpointing import EndpointConfig, endpoint
from scaiecho.domain.identification import Candidate as IdCandidate
from scaiecho.domain.identification import assign_session_cluster, best_match
from scaiecho.domain.streaming import (
    MAX_FRAME_BYTES,
    AudioFrame,
    CloseFrame,
    Delta,
    OpenFrame,
    StreamError,
    parse_frame,
)

RATE = 16_000
SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def text(obj: object) -> str:
    return json.dumps(obj)


# ---------------------------------------------------------------- frames


def test_open_frame_defaults_and_fields() -> None:
    frame = parse_frame(text({"type": "open", "media_type": "audio/pcm"}), binary=False)
    assert isinstance(frame, OpenFrame)
    assert frame.params.serialize() == {"language_hint": None, "media_type": "audio/pcm",
                                        "diarize": False, "sample_rate": 16000, "match_me": False}
    full = parse_frame(text({"type": "open", "media_type": "audio/wav", "language_hint": "en-GB",
                             "diarize": True, "sample_rate": 8000}), binary=False)
    assert isinstance(full, OpenFrame) and full.params.diarize and full.params.language_hint == "en-GB"


@pytest.mark.parametrize(
    ("message", "code", "fatal"),
    [
        ({"type": "open", "media_type": "audio/mpeg"}, "unsupported_media_type", True),
        ({"type": "open"}, "unsupported_media_type", True),
        ({"type": "open", "media_type": "audio/pcm", "sample_rate": 44100.5}, "invalid_sample_rate", True),
        ({"type": "open", "media_type": "audio/pcm", "sample_rate": True}, "invalid_sample_rate", True),
        ({"type": "open", "media_type": "audio/pcm", "sample_rate": 4000}, "invalid_sample_rate", True),
        ({"type": "open", "media_type": "audio/pcm", "diarize": "yes"}, "invalid_open", True),
        ({"type": "open", "media_type": "audio/pcm", "language_hint": "English!"}, "invalid_open", True),
        ({"type": "audio"}, "invalid_audio_encoding", False),
        ({"type": "audio", "data": "***"}, "invalid_audio_encoding", False),
        ({"type": "hello"}, "unknown_type", False),
        ({"kind": "open"}, "unknown_type", False),
        ([1, 2], "invalid_json", False),
    ],
)
def test_bad_frames(message: object, code: str, fatal: bool) -> None:
    with pytest.raises(StreamError) as err:
        parse_frame(text(message), binary=False)
    assert err.value.code == code and err.value.fatal is fatal
    assert err.value.frame() == {"type": "error", "code": code, "message": err.value.message}


def test_audio_close_binary_and_limits() -> None:
    data = base64.b64encode(b"\x01\x02").decode()
    assert parse_frame(text({"type": "audio", "data": data}), binary=False) == AudioFrame(b"\x01\x02")
    assert parse_frame(b"\x00\x01", binary=True) == AudioFrame(b"\x00\x01")
    assert isinstance(parse_frame(text({"type": "close"}), binary=False), CloseFrame)
    assert parse_frame(b"\x00" * MAX_FRAME_BYTES, binary=True) == AudioFrame(b"\x00" * MAX_FRAME_BYTES)
    with pytest.raises(StreamError) as big:
        parse_frame(b"\x00" * (MAX_FRAME_BYTES + 1), binary=True)
    assert big.value.code == "frame_too_large" and big.value.fatal
    with pytest.raises(StreamError) as empty:
        parse_frame(b"", binary=True)
    assert empty.value.code == "empty_frame"
    with pytest.raises(StreamError) as bad:
        parse_frame("{not json", binary=False)
    assert bad.value.code == "invalid_json"


def test_delta_frame_omits_absent_labels() -> None:
    plain = Delta("hello", 1.23456, 2.0).frame(3)
    assert plain == {"type": "delta", "seq": 3, "text": "hello", "start": 1.235, "end": 2.0, "final": True}
    named = Delta("hi", 0, 1, speaker_label="spk_x", speaker_name="Ann", match_score=0.91234).frame(0)
    assert named["speaker_label"] == "spk_x" and named["speaker_name"] == "Ann"
    assert named["match_score"] == 0.9123


# ---------------------------------------------------------------- streamed audio


def _wav(samples: np.ndarray, rate: int, channels: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return out.getvalue()


def _feed_in_chunks(state: PcmState, data: bytes, sizes: list[int]) -> bytes:
    out, i, k = b"", 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        fields, raw = to_record(state)  # as the session row stores it between frames
        state, pcm = feed(from_record(json.loads(json.dumps(fields)), raw), data[i:i + n])
        out += pcm
        i, k = i + n, k + 1
    return out


def test_wav_stream_split_anywhere_equals_the_whole() -> None:
    t = np.arange(48_000) / 48_000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    data = _wav(stereo, 48_000, 2)
    whole = feed(PcmState.start("audio/wav", 0), data)[1]
    chunked = _feed_in_chunks(PcmState.start("audio/wav", 0), data, [7, 1001, 3, 4096])
    assert chunked == whole
    out = np.frombuffer(whole, dtype="<i2") / 32767
    assert abs(out.size - 16_000) <= 1
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(out.size) / 16_000)
    assert np.max(np.abs(out - ref)) < 0.01  # linear interpolation of a 440 Hz tone


def test_pcm_at_16k_passes_through_and_odd_bytes_carry() -> None:
    data = (np.arange(100, dtype="<i2") * 3).tobytes()
    assert _feed_in_chunks(PcmState.start("audio/pcm", 16_000), data, [3, 5, 7]) == data


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"OggS" + b"\x00" * 60, "invalid_wav_header"),
        (b"RIFF\x00\x00\x00\x00WAVEdata" + b"\x00" * 8, "invalid_wav_header"),  # data before fmt
        (b"RIFF\x00\x00\x00\x00WAVEjunk\x00\x10\x00\x00" + b"\x00" * 5000, "invalid_wav_header"),
    ],
)
def test_bad_wav_streams(data: bytes, code: str) -> None:
    with pytest.raises(StreamError) as err:
        feed(PcmState.start("audio/wav", 0), data)
    assert err.value.code == code and err.value.fatal


def test_float_wav_is_refused() -> None:
    out = io.BytesIO()
    sf.write(out, np.zeros(1600, dtype=np.float32), RATE, format="WAV", subtype="FLOAT")
    with pytest.raises(StreamError) as err:
        feed(PcmState.start("audio/wav", 0), out.getvalue())
    assert err.value.code == "unsupported_wav_format"


# ---------------------------------------------------------------- endpointing


def _stream_through(
    samples: np.ndarray, cfg: EndpointConfig, hop: int = 1600
) -> list[tuple[float, float, bool]]:
    buf, consumed, start, out = np.zeros(0, dtype=np.float32), 0, 0, []
    for i in range(0, samples.size, hop):
        buf = np.concatenate([buf, samples[i:i + hop]])
        cut = endpoint(buf, consumed, flush=False, cfg=cfg)
        out += [((start + u.start) / RATE, (start + u.end) / RATE, u.forced) for u in cut.utterances]
        consumed, buf, start = cut.consumed - cut.drop, buf[cut.drop:], start + cut.drop
        assert buf.size <= (cfg.max_utterance_s + cfg.context_s) * RATE + hop  # bounded buffer
    cut = endpoint(buf, consumed, flush=True, cfg=cfg)
    out += [((start + u.start) / RATE, (start + u.end) / RATE, u.forced) for u in cut.utterances]
    return out


def test_pauses_end_utterances_on_real_speech() -> None:
    female, _ = sf.read(SPEECH / "speaker_f_103.flac", dtype="float32")
    male, _ = sf.read(SPEECH / "speaker_m_1040.flac", dtype="float32")
    gap = np.zeros(RATE, dtype=np.float32)
    recording = np.concatenate([gap, female[: 4 * RATE], gap, male[: 4 * RATE], gap])
    utterances = _stream_through(recording, EndpointConfig())
    assert len(utterances) >= 2
    # no utterance spans the 1 s pause between the two readers (at 5.0-6.0 s)
    assert not [u for u in utterances if u[0] < 5.0 and u[1] > 6.0]
    assert utterances[0][0] >= 0.7 and utterances[-1][1] <= 10.2
    assert not any(forced for *_, forced in utterances)


def test_long_speech_is_cut_and_silence_yields_nothing() -> None:
    female, _ = sf.read(SPEECH / "speaker_f_103.flac", dtype="float32")
    cut = _stream_through(female, EndpointConfig(endpoint_silence_s=2.0, max_utterance_s=3.0))
    assert any(forced for *_, forced in cut)
    assert all(end - start <= 3.0 + 0.11 for start, end, _ in cut)
    noise = (0.003 * np.random.default_rng(0).standard_normal(5 * RATE)).astype(np.float32)
    assert _stream_through(noise, EndpointConfig()) == []


# ---------------------------------------------------------------- identification


def test_best_match_and_session_clusters() -> None:
    rng = np.random.default_rng(1)
    a, b, c = (v / np.linalg.norm(v) for v in rng.standard_normal((3, 192)))
    candidates = [IdCandidate("spk_ann", a), IdCandidate("spk_bob", b)]
    match = best_match(a + 0.3 * c, candidates)
    assert match is not None and match.speaker_id == "spk_ann" and match.score > 0.5
    assert best_match(c, candidates) is None
    assert best_match(a, []) is None

    idx, cents, counts = assign_session_cluster(a, None, [])
    assert idx == 0 and counts == [1]
    idx, cents, counts = assign_session_cluster(b, cents, counts)
    assert idx == 1 and counts == [1, 1]
    idx, cents, counts = assign_session_cluster(a + 0.2 * c, cents, counts)
    assert idx == 0 and counts == [2, 1]
    idx, cents, counts = assign_session_cluster(c, cents, counts, max_clusters=2)
    assert idx in (0, 1) and sum(counts) == 4 and len(counts) == 2  # full: joins the nearest


def test_delta_frame_carries_the_enrolled_speakers_external_id() -> None:
    named = Delta("hi", 0, 1, speaker_label="spk_x", speaker_name="Ann", external_id="ext_1").frame(0)
    assert named["external_id"] == "ext_1"
    assert "external_id" not in Delta("hi", 0, 1, speaker_label="spk_0").frame(1)
