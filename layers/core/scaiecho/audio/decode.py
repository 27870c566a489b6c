"""Decode any accepted upload (wav, mp3, flac, ogg, m4a) to 16 kHz mono float32.

PyAV (FFmpeg) does the work for every format, so one path serves them all; the container is
sniffed from the bytes, never trusted from the filename or Content-Type alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

from scaiecho.errors import AudioEmpty, AudioUndecodable, UnsupportedMediaType

TARGET_SAMPLE_RATE = 16_000
SUPPORTED_FORMATS = ("wav", "mp3", "flac", "ogg", "m4a")

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


def decode_audio(data: bytes, *, media_type: str | None = None) -> DecodedAudio:
    """Decode ``data`` to 16 kHz mono float32.

    Raises UnsupportedMediaType (415) for a declared or sniffed format we do not accept,
    AudioEmpty for zero bytes or zero samples, AudioUndecodable for corrupt data.
    """
    check_media_type(media_type)
    if not data:
        raise AudioEmpty("the audio upload is empty")
    fmt = detect_format(data)
    if fmt is None:
        raise UnsupportedMediaType(
            f"the upload is not a recognised audio file; send one of: {', '.join(SUPPORTED_FORMATS)}",
            details={"accepted": list(SUPPORTED_FORMATS)},
        )
    try:
        return _decode_with_av(data, fmt)
    except (AudioEmpty, AudioUndecodable):
        raise
    except (av.error.FFmpegError, ValueError, IndexError, EOFError) as exc:
        raise AudioUndecodable(f"the {fmt} audio could not be decoded: {exc}") from exc


def _decode_with_av(data: bytes, fmt: str) -> DecodedAudio:
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise AudioUndecodable(f"the {fmt} file holds no audio stream")
        stream = container.streams.audio[0]
        src_rate = int(stream.codec_context.sample_rate or 0)
        src_channels = int(stream.codec_context.channels or 0)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=TARGET_SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        clipped = 0
        total = 0
        for frame in container.decode(stream):
            raw = frame.to_ndarray()
            if raw.dtype.kind in "iu":
                info = np.iinfo(raw.dtype.type)  # type: ignore[type-var]
                scale = float(max(abs(info.min), info.max))
                raw_f = raw.astype(np.float32) / scale
            else:
                raw_f = raw.astype(np.float32, copy=False)
            clipped += int(np.count_nonzero(np.abs(raw_f) >= _CLIP_LEVEL))
            total += raw_f.size
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    samples = (
        np.concatenate(chunks).astype(np.float32, copy=False)
        if chunks
        else np.zeros(0, np.float32)
    )
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
