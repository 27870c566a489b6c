"""Decode any accepted upload (wav, mp3, flac, ogg, m4a) to 16 kHz mono float32.

PyAV (FFmpeg) does the work for every format, so one path serves them all; the container is
sniffed from the bytes, never trusted from the filename or Content-Type alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from scaiecho.audio.wav import MAX_CHANNELS, read_wav_format
from scaiecho.errors import (
    AudioEmpty,
    AudioHeaderInvalid,
    AudioSampleRateUnsupported,
    AudioTooLong,
    AudioUndecodable,
    ScaiEchoError,
    UnsupportedAudioCodec,
    UnsupportedMediaType,
)

TARGET_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AudioFormat:
    name: str
    extension: str  # of the stored object
    media_type: str  # the stored object's Content-Type


# The one table of accepted containers: how each is named, stored and served.
FORMATS: dict[str, AudioFormat] = {f.name: f for f in (
    AudioFormat("wav", "wav", "audio/wav"),
    AudioFormat("mp3", "mp3", "audio/mpeg"),
    AudioFormat("flac", "flac", "audio/flac"),
    AudioFormat("ogg", "ogg", "audio/ogg"),
    AudioFormat("m4a", "m4a", "audio/mp4"),
)}
SUPPORTED_FORMATS = tuple(FORMATS)

# Media types clients send for the accepted formats (browsers disagree on several of them).
MEDIA_TYPES: dict[str, str] = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mp4": "m4a",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "m4a",
}
# Sample rates real recordings have (telephony 4-8 kHz up to studio 192 kHz). Outside this range a
# header is either broken or an attack: 1 Hz turns 600 bytes into 300 s of 16 kHz float32.
MIN_SOURCE_RATE = 4_000
MAX_SOURCE_RATE = 192_000
# Codec frames and container rounding make a recording at exactly the limit read slightly longer.
_LIMIT_SLACK_S = 0.5
# Clipping: a sample at (or within 1 LSB of 16-bit) full scale.
_CLIP_LEVEL = 1.0 - 2.0 / 32768.0


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded audio plus what preflight needs to know about the source."""

    samples: np.ndarray  # float32, mono, TARGET_SAMPLE_RATE, in [-1, 1]
    sample_rate: int
    source_format: str
    source_sample_rate: int
    source_channels: int
    clipped_ratio: float  # fraction of source samples at full scale, before mixing

    @property
    def duration_s(self) -> float:
        return float(len(self.samples)) / self.sample_rate


def detect_format(data: bytes) -> str | None:
    """Return the container format from magic bytes, or None when it is not one we accept."""
    head = data[:64]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "mp3"
    return None


def check_media_type(media_type: str | None) -> None:
    """Reject a declared media type that is clearly not audio we accept (415)."""
    if not media_type:
        return
    base = media_type.split(";", 1)[0].strip().lower()
    # Generic types carry no information; the bytes decide.
    if base in ("", "application/octet-stream", "binary/octet-stream"):
        return
    if base not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"media type {base!r} is not accepted; send one of: {', '.join(SUPPORTED_FORMATS)}",
            details={"media_type": base, "accepted": list(SUPPORTED_FORMATS)},
        )


def decode_audio(
    data: bytes, *, media_type: str | None = None, max_duration_s: float | None = None
) -> DecodedAudio:
    """Decode ``data`` to 16 kHz mono float32, never more than ``max_duration_s`` of it.

    The work is bounded by the caller's limit, not by what the file claims: the declared sample
    rate and duration are checked before decoding, and decoding stops as soon as the decoded
    audio passes the limit (a header may understate the length).

    Raises UnsupportedMediaType / UnsupportedAudioCodec (415) for a format or codec we do not
    accept, AudioHeaderInvalid / AudioSampleRateUnsupported / AudioTooLong / AudioEmpty /
    AudioUndecodable (422) for everything else that is wrong with the bytes.
    """
    fmt = sniff_format(data, media_type)
    _check_declared(check_header(data, fmt), max_duration_s)
    try:
        return _decode_with_av(data, fmt, max_duration_s)
    except ScaiEchoError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError, EOFError, AttributeError, TypeError) as exc:
        # FFmpeg's own text names internals ('avcodec_open2(...)'); the type is enough to act on.
        raise AudioUndecodable(f"the {fmt} audio could not be decoded ({type(exc).__name__})") from exc


def sniff_format(data: bytes, media_type: str | None = None) -> str:
    """The container format of ``data`` (its head is enough): refused here when the declared
    media type is not audio (415), the bytes are empty (422) or not audio we accept (415)."""
    check_media_type(media_type)
    if not data:
        raise AudioEmpty("the audio upload is empty")
    fmt = detect_format(data)
    if fmt is None:
        raise UnsupportedMediaType(
            f"the upload is not a recognised audio file; send one of: {', '.join(SUPPORTED_FORMATS)}",
            details={"accepted": list(SUPPORTED_FORMATS)},
        )
    return fmt


def check_decodable(data: bytes, fmt: str, *, seconds: float = 1.0) -> None:
    """The first ``seconds`` of ``data`` (sniffed as ``fmt``, header checked) actually decoded:
    for recordings too long to decode in an API request (jobs)."""
    try:
        _decode_with_av(data, fmt, None, stop_after_s=seconds)
    except ScaiEchoError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError, EOFError, AttributeError, TypeError) as exc:
        raise AudioUndecodable(f"the {fmt} audio could not be decoded ({type(exc).__name__})") from exc


def check_header(data: bytes, fmt: str) -> float | None:
    """Refuse a malformed or implausible WAV header without decoding; its exact duration if known.

    ``data`` may be only the head of a larger object (the fmt chunk comes first).
    """
    if fmt != "wav":
        return None
    header = read_wav_format(data)
    check_sample_rate(header.sample_rate)
    return header.duration_s


def check_sample_rate(rate: int) -> None:
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise AudioSampleRateUnsupported(
            f"the audio declares a sample rate of {rate} Hz; "
            f"accepted: {MIN_SOURCE_RATE}-{MAX_SOURCE_RATE} Hz",
            details={"sample_rate": rate, "min": MIN_SOURCE_RATE, "max": MAX_SOURCE_RATE},
        )


def _too_long(limit_s: float, duration_s: float | None = None) -> AudioTooLong:
    details: dict[str, float] = {"limit_s": limit_s}
    said = f"lasts {duration_s:.1f} s" if duration_s is not None else "is longer than that"
    if duration_s is not None:
        details["duration_s"] = round(duration_s, 3)
    return AudioTooLong(f"the recording {said}; at most {limit_s:g} s is accepted here", details=details)


def _check_declared(duration_s: float | None, limit_s: float | None) -> None:
    if limit_s is not None and duration_s is not None and duration_s > limit_s + _LIMIT_SLACK_S:
        raise _too_long(limit_s, duration_s)


def _declared_duration_s(container: Any, stream: Any, fmt: str) -> float | None:
    # MP3 durations are bitrate estimates (VBR without a Xing header): only the decode counts.
    if fmt == "mp3":
        return None
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration) / av.time_base
    return None


def _decode_with_av(
    data: bytes, fmt: str, max_duration_s: float | None, *, stop_after_s: float | None = None
) -> DecodedAudio:
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise AudioUndecodable(f"the {fmt} file holds no audio stream")
        stream = container.streams.audio[0]
        codec = stream.codec_context
        if codec is None:  # FFmpeg found the stream but has no decoder for its codec
            raise UnsupportedAudioCodec(f"the {fmt} file's audio codec is not supported")
        src_rate = int(codec.sample_rate or 0)
        src_channels = int(codec.channels or 0)
        check_sample_rate(src_rate)
        if not 1 <= src_channels <= MAX_CHANNELS:
            raise AudioHeaderInvalid(f"the {fmt} file declares {src_channels} channels",
                                     details={"channels": src_channels})
        declared_s = _declared_duration_s(container, stream, fmt)
        _check_declared(declared_s, max_duration_s)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=TARGET_SAMPLE_RATE)
        output = _Output(declared_s, max_duration_s)
        clipped = 0
        total = 0
        decoded_s = 0.0
        for frame in container.decode(stream):
            # Rates may change mid-stream (chained Ogg, MP3): every frame is checked, and the
            # limit counts source time, so the output can never outgrow it.
            check_sample_rate(int(frame.sample_rate or 0))
            decoded_s += frame.samples / frame.sample_rate
            if max_duration_s is not None and decoded_s > max_duration_s + _LIMIT_SLACK_S:
                raise _too_long(max_duration_s)
            if stop_after_s is not None and total and decoded_s > stop_after_s:
                break
            raw = frame.to_ndarray()
            if raw.dtype.kind in "iu":
                info = np.iinfo(raw.dtype.type)  # type: ignore[type-var]
                scale = float(max(abs(info.min), info.max))
                raw_f = raw.astype(np.float32) / scale
            else:
                raw_f = raw.astype(np.float32, copy=False)
                if not np.isfinite(raw_f).all():  # NaN/Inf would poison every metric downstream
                    raise AudioUndecodable(f"the {fmt} audio holds non-finite (NaN or infinite) samples")
            clipped += int(np.count_nonzero(np.abs(raw_f) >= _CLIP_LEVEL))
            total += raw_f.size
            for out in resampler.resample(frame):
                output.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            output.append(out.to_ndarray().reshape(-1))
    samples = output.finish()
    if samples.size == 0 or total == 0:
        raise AudioEmpty(f"the {fmt} file decodes to no audio samples")
    np.clip(samples, -1.0, 1.0, out=samples)
    return DecodedAudio(
        samples=samples,
        sample_rate=TARGET_SAMPLE_RATE,
        source_format=fmt,
        source_sample_rate=src_rate,
        source_channels=src_channels,
        clipped_ratio=clipped / total,
    )


class _Output:
    """The 16 kHz float32 output, written in place into one buffer.

    Sized from the declared length when there is one, grown geometrically otherwise, and trimmed
    at the end with ``ndarray.resize`` (realloc: large blocks are remapped, not copied), so the
    peak stays near the audio's own size instead of twice it (a list of chunks + concatenate).
    """

    _MIN_CAPACITY = TARGET_SAMPLE_RATE * 10

    def __init__(self, declared_s: float | None, limit_s: float | None) -> None:
        # Never more than the limit allows (plus resampler slack), whatever the file claims.
        self._cap = (None if limit_s is None
                     else int((limit_s + _LIMIT_SLACK_S + 1.0) * TARGET_SAMPLE_RATE))
        hint = max(int((declared_s or 0.0) * TARGET_SAMPLE_RATE * 1.02) + TARGET_SAMPLE_RATE,
                   self._MIN_CAPACITY)
        self._buf = np.empty(hint if self._cap is None else min(hint, self._cap), np.float32)
        self._size = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self._size + chunk.size
        if end > self._buf.size:
            grown = max(end, int(self._buf.size * 1.5))
            self._buf.resize(grown if self._cap is None else max(end, min(grown, self._cap)),
                             refcheck=False)
        self._buf[self._size:end] = chunk
        self._size = end

    def finish(self) -> np.ndarray:
        self._buf.resize(self._size, refcheck=False)
        return self._buf
