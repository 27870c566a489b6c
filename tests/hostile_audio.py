"""Hostile and malformed audio, generated in the test run (no files on disk): one definition for
the decoder's unit tests, the per-route hostile suite and the bench.

Each case names the error code every upload route must answer with; the bytes are small (most
under 1 KB) but several claim or decode to far more audio than any route allows.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soundfile as sf


def wav(*, tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16, frames: int = 300,
        block_align: int | None = None, fmt_extra: bytes = b"", data_size: int | None = None,
        payload: bytes | None = None) -> bytes:
    """A RIFF/WAVE file with every header field under the caller's control."""
    align = channels * bits // 8 if block_align is None else block_align
    body = struct.pack("<HHIIHH", tag, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits) + fmt_extra
    data = payload if payload is not None else b"\0" * (frames * max(align, 1))
    size = len(data) if data_size is None else data_size
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(body)) + body + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(riff)) + riff


def flac_silence(seconds: float, rate: int = 16000, *, hide_length: bool = False) -> bytes:
    """Digital silence compresses ~1000:1 in FLAC: a few KB that decode to minutes."""
    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(seconds * rate), np.int16), rate, format="FLAC")
    data = bytearray(buf.getvalue())
    if hide_length:
        # STREAMINFO's 36-bit total-samples field (bytes 21-25 of the file, low nibble of byte 21
        # onwards) = 0 means "unknown": the decoder must find the length by decoding.
        data[21] &= 0xF0
        data[22:26] = b"\0\0\0\0"
    return bytes(data)


def random_bytes(n: int, seed: int, prefix: bytes = b"") -> bytes:
    return prefix + np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    status: int
    code: str


def extensible_fmt(sub_tag: int) -> bytes:
    """The 24 bytes WAVE_FORMAT_EXTENSIBLE adds: cbSize, valid bits, channel mask, sub-format GUID
    (whose first two bytes are the real codec tag)."""
    guid = struct.pack("<H", sub_tag) + bytes.fromhex("000000001000800000aa00389b71")
    return struct.pack("<HHI", 22, 16, 4) + guid


def malformed_cases() -> list[Case]:
    """Every one is refused before or while decoding with a 4xx and this code, never a 500."""
    return [
        Case("wav_rate_1hz", lambda: wav(rate=1), 422, "audio_sample_rate_unsupported"),
        Case("wav_rate_0", lambda: wav(rate=0), 422, "audio_sample_rate_unsupported"),
        Case("wav_rate_3999", lambda: wav(rate=3999), 422, "audio_sample_rate_unsupported"),
        Case("wav_rate_huge", lambda: wav(rate=4_000_000_000), 422, "audio_sample_rate_unsupported"),
        Case("wav_unknown_codec_tag", lambda: wav(tag=0x1234), 415, "unsupported_audio_codec"),
        Case("wav_codec_tag_0", lambda: wav(tag=0), 415, "unsupported_audio_codec"),
        Case("wav_zero_bits", lambda: wav(bits=0, block_align=2), 422, "audio_undecodable"),
        Case("wav_odd_bits", lambda: wav(bits=13, block_align=2), 422, "audio_undecodable"),
        Case("wav_zero_channels", lambda: wav(channels=0, block_align=2), 422, "audio_undecodable"),
        Case("wav_65535_channels", lambda: wav(channels=65535, block_align=2), 422, "audio_undecodable"),
        Case("wav_block_align_0", lambda: wav(block_align=0), 422, "audio_undecodable"),
        Case("wav_extensible_short_fmt", lambda: wav(tag=0xFFFE), 422, "audio_undecodable"),
        Case("wav_extensible_fmt_18", lambda: wav(tag=0xFFFE, fmt_extra=b"\0\0"), 422,
             "audio_undecodable"),
        Case("wav_extensible_unknown_sub", lambda: wav(tag=0xFFFE, fmt_extra=extensible_fmt(0x4242)),
             415, "unsupported_audio_codec"),
        Case("wav_truncated_in_fmt", lambda: wav()[:30], 422, "audio_undecodable"),
        Case("wav_riff_only", lambda: wav()[:12], 422, "audio_undecodable"),
        Case("wav_no_samples", lambda: wav(frames=0), 422, "audio_empty"),
        Case("wav_float_nan", lambda: wav(tag=3, bits=32, payload=b"\0\0\xc0\x7f" * 400), 422,
             "audio_undecodable"),
        Case("flac_truncated", lambda: flac_silence(1.0)[:60], 422, "audio_undecodable"),
        Case("flac_magic_only", lambda: b"fLaC", 422, "audio_undecodable"),
        Case("ogg_magic_garbage", lambda: random_bytes(900, 1, b"OggS"), 422, "audio_undecodable"),
        Case("m4a_ftyp_garbage", lambda: random_bytes(900, 2, b"\0\0\0\x20ftypM4A "), 422,
             "audio_undecodable"),
        Case("mp3_id3_garbage", lambda: random_bytes(900, 3, b"ID3\x04\0\0\0\0\0\0"), 422,
             "audio_undecodable"),
        Case("random_bytes", lambda: random_bytes(1000, 4), 415, "unsupported_media_type"),
        Case("text", lambda: b"hello, this is not audio\n" * 40, 415, "unsupported_media_type"),
        Case("html", lambda: b"<html><body>" + b"x" * 900 + b"</body></html>", 415, "unsupported_media_type"),
    ]
