"""Streamed audio → 16 kHz mono 16-bit PCM, one frame at a time, with serialisable state.

Lambda is stateless, so everything carried from one frame to the next (a WAV header still
arriving, half a sample, the resampler's phase) lives in :class:`PcmState`, which the session row
stores. ``audio/wav`` streams start with a RIFF header (its sizes are ignored: a live stream does
not know them) followed by 16-bit PCM; ``audio/pcm`` is raw 16-bit little-endian mono.

Resampling to 16 kHz is linear interpolation carried across frame boundaries (no clicks at frame
edges). It does not low-pass before decimating, so content above 8 kHz aliases; speech has little
energy there and the nodes' models are trained on 16 kHz audio anyway.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass, replace

import numpy as np

from scaiecho.domain.streaming import MAX_SAMPLE_RATE, MEDIA_WAV, MIN_SAMPLE_RATE, StreamError

TARGET_RATE = 16_000
MAX_WAV_HEADER_BYTES = 4096
_PCM = 1
_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True)
class PcmState:
    media_type: str
    sample_rate: int  # of the source (audio/wav: 0 until the header is read)
    channels: int = 1
    header: bytes = b""  # audio/wav: bytes of a header still arriving
    header_done: bool = False
    carry: bytes = b""  # bytes of an incomplete sample frame
    prev: int | None = None  # resampler: last source sample of the previous frame
    pos: float = 0.0  # resampler: next output position, in source samples after ``prev``

    @classmethod
    def start(cls, media_type: str, sample_rate: int) -> PcmState:
        if media_type == MEDIA_WAV:
            return cls(media_type=media_type, sample_rate=0)
        return cls(media_type=media_type, sample_rate=sample_rate, header_done=True)


def feed(state: PcmState, data: bytes) -> tuple[PcmState, bytes]:
    """Consume one frame; returns the new state and the 16 kHz mono int16 LE bytes it yields."""
    if not state.header_done:
        state, data = _read_header(state, data)
        if not state.header_done:
            return state, b""
    data = state.carry + data
    frame_bytes = 2 * state.channels
    usable = len(data) - len(data) % frame_bytes
    state = replace(state, carry=data[usable:])
    if usable == 0:
        return state, b""
    samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float64)
    if state.channels > 1:
        samples = samples.reshape(-1, state.channels).mean(axis=1)
    if state.sample_rate == TARGET_RATE:
        return state, _to_int16(samples)
    return _resample(state, samples)


def _resample(state: PcmState, x: np.ndarray) -> tuple[PcmState, bytes]:
    ratio = state.sample_rate / TARGET_RATE
    buf = x if state.prev is None else np.concatenate(([float(state.prev)], x))
    last = len(buf) - 1
    count = int(np.floor((last - state.pos) / ratio)) + 1 if state.pos <= last else 0
    t = state.pos + ratio * np.arange(count)
    out = np.interp(t, np.arange(len(buf)), buf) if count else np.zeros(0)
    next_pos = (state.pos + ratio * count) - last
    return replace(state, prev=int(np.rint(buf[-1])), pos=float(next_pos)), _to_int16(out)


def _to_int16(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def _read_header(state: PcmState, data: bytes) -> tuple[PcmState, bytes]:
    """Accumulate the RIFF header until the ``data`` chunk starts; the rest is PCM."""
    buf = state.header + data
    if len(buf) >= 12 and (buf[:4] != b"RIFF" or buf[8:12] != b"WAVE"):
        raise StreamError("invalid_wav_header", "audio/wav streams must start with a RIFF/WAVE header",
                          fatal=True)
    offset, channels, rate = 12, 0, 0
    while len(buf) >= offset + 8:
        chunk_id, size = buf[offset:offset + 4], struct.unpack("<I", buf[offset + 4:offset + 8])[0]
        body = offset + 8
        if chunk_id == b"data":
            if not channels:
                raise StreamError("invalid_wav_header", "the WAV header has no fmt chunk", fatal=True)
            done = replace(state, header=b"", header_done=True, channels=channels, sample_rate=rate)
            return done, buf[body:]
        if len(buf) < body + size:
            break
        if chunk_id == b"fmt ":
            channels, rate = _parse_fmt(buf[body:body + size])
        offset = body + size + (size & 1)  # chunks are word aligned
    if len(buf) > MAX_WAV_HEADER_BYTES:
        raise StreamError("invalid_wav_header",
                          f"no WAV data chunk within the first {MAX_WAV_HEADER_BYTES} bytes", fatal=True)
    return replace(state, header=buf), b""


def _parse_fmt(fmt: bytes) -> tuple[int, int]:
    if len(fmt) < 16:
        raise StreamError("invalid_wav_header", "the WAV fmt chunk is truncated", fatal=True)
    audio_format, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if audio_format not in (_PCM, _EXTENSIBLE) or bits != 16:
        raise StreamError("unsupported_wav_format",
                          "audio/wav streams must be 16-bit integer PCM", fatal=True)
    if not 1 <= channels <= 8 or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise StreamError("unsupported_wav_format",
                          f"WAV streams need 1-8 channels at {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
                          fatal=True)
    return channels, rate


def wav_bytes(pcm16: bytes, sample_rate: int = TARGET_RATE) -> bytes:
    """A complete mono 16-bit WAV file around ``pcm16`` (what the nodes are sent)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16)
    return out.getvalue()


def pcm_to_float(pcm16: bytes) -> np.ndarray:
    return np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0


def to_record(state: PcmState) -> tuple[dict[str, object], bytes]:
    """(JSON-able fields, bytes) for the session row: the bytes are the header or the carry."""
    fields = {"media_type": state.media_type, "sample_rate": state.sample_rate,
              "channels": state.channels, "header_done": state.header_done, "prev": state.prev,
              "pos": state.pos}
    return fields, (state.carry if state.header_done else state.header)


def from_record(fields: dict[str, object], data: bytes) -> PcmState:
    header_done = bool(fields["header_done"])
    prev = fields.get("prev")
    return PcmState(
        media_type=str(fields["media_type"]), sample_rate=int(str(fields["sample_rate"])),
        channels=int(str(fields["channels"])), header_done=header_done,
        header=b"" if header_done else data, carry=data if header_done else b"",
        prev=None if prev is None else int(str(prev)), pos=float(str(fields.get("pos") or 0.0)),
    )
