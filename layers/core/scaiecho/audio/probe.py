"""A recording's duration from its container header, without decoding the audio.

Used to refuse over-long jobs at submit time. Returns None when the bytes at hand cannot say
reliably; the workflow then enforces the limit once ASR has measured the audio.
"""

from __future__ import annotations

import io
import struct

import av

from scaiecho.audio.decode import detect_format

# Formats whose header states the length exactly even when only the object's head was read
# (WAV: byte rate + object size; FLAC: STREAMINFO's total samples). MP3/OGG/M4A headers are
# estimates or may sit at the end of the file.
_EXACT_FROM_HEAD = ("wav", "flac")


def _wav_byte_rate(head: bytes) -> int | None:
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if chunk == b"fmt " and pos + 20 <= len(head):
            rate: int = struct.unpack("<I", head[pos + 16:pos + 20])[0]
            return rate or None
        pos += 8 + size + (size & 1)
    return None


def probe_duration_s(data: bytes, total_bytes: int | None = None, *,
                     fmt: str | None = None) -> float | None:
    """Duration of ``data`` (the whole file, or its head when ``total_bytes`` says it is longer);
    ``fmt``: its container when already sniffed."""
    partial = total_bytes is not None and total_bytes > len(data)
    fmt = fmt or detect_format(data)
    if partial and fmt not in _EXACT_FROM_HEAD:
        return None
    if partial and fmt == "wav":
        rate = _wav_byte_rate(data)
        return (float(total_bytes or 0) - 44.0) / rate if rate else None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration:
                return float(container.duration) / av.time_base
            for stream in container.streams.audio:
                if stream.duration and stream.time_base:
                    return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, ValueError, IndexError, EOFError):
        return None
    return None
