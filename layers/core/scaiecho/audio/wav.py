"""What a WAV file's RIFF header declares, read (and checked) before any decoding.

FFmpeg trusts a WAV header a lot: a 1 Hz sample rate is resampled to hours of audio, and a codec
tag it does not know opens no decoder at all. This module reads the ``fmt `` and ``data`` chunks
itself so the decoder can refuse such files with a specific error before it allocates anything.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scaiecho.errors import AudioHeaderInvalid, UnsupportedAudioCodec

PCM = 0x0001
IEEE_FLOAT = 0x0003
ALAW = 0x0006
MULAW = 0x0007
EXTENSIBLE = 0xFFFE
# Compressed codecs FFmpeg decodes from WAV that clients do send (ADPCM from recorders and phones,
# GSM from telephony, MPEG audio in a RIFF wrapper).
_COMPRESSED = {0x0002: "ms_adpcm", 0x0011: "ima_adpcm", 0x0031: "gsm_ms", 0x0050: "mp2", 0x0055: "mp3"}
# Linear codecs: bits per sample each may have, so duration = data bytes / block_align is exact.
_LINEAR_BITS = {PCM: (8, 16, 24, 32), IEEE_FLOAT: (32, 64), ALAW: (8,), MULAW: (8,)}
_EXTENSIBLE_FMT_BYTES = 40
MAX_CHANNELS = 32
MAX_HEADER_SCAN_BYTES = 1024 * 1024  # chunks before ``data`` (LIST, bext, …) are small


@dataclass(frozen=True)
class WavFormat:
    codec: int  # the effective codec tag (WAVE_FORMAT_EXTENSIBLE resolved to its sub-format)
    channels: int
    sample_rate: int
    bits_per_sample: int
    block_align: int
    data_bytes: int | None  # bytes of the data chunk present in the file; None: no data chunk seen

    @property
    def linear(self) -> bool:
        return self.codec in _LINEAR_BITS

    @property
    def duration_s(self) -> float | None:
        """Exact for linear codecs (what is in the file, whatever the header's size field says)."""
        if not self.linear or self.data_bytes is None:
            return None
        return self.data_bytes / self.block_align / self.sample_rate


def read_wav_format(data: bytes) -> WavFormat:
    """Parse and check the header of the RIFF/WAVE file ``data`` (the caller sniffed the magic)."""
    fmt: bytes | None = None
    data_bytes: int | None = None
    pos = 12
    limit = min(len(data), MAX_HEADER_SCAN_BYTES)
    while pos + 8 <= limit:
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt ":
            fmt = data[body:body + size]
            if len(fmt) < size:
                raise AudioHeaderInvalid("the WAV fmt chunk is truncated")
        elif chunk == b"data":
            # Streaming writers leave the size at 0 or 0xFFFFFFFF: what is present counts.
            present = len(data) - body
            data_bytes = present if size in (0, 0xFFFFFFFF) else min(size, present)
            break
        pos = body + size + (size & 1)  # chunks are word aligned
    if fmt is None:
        raise AudioHeaderInvalid("the WAV file has no fmt chunk before its audio data")
    return _parse_fmt(fmt, data_bytes)


def _parse_fmt(fmt: bytes, data_bytes: int | None) -> WavFormat:
    if len(fmt) < 16:
        raise AudioHeaderInvalid(f"the WAV fmt chunk is {len(fmt)} bytes; at least 16 are needed")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    codec = tag
    if tag == EXTENSIBLE:
        if len(fmt) < _EXTENSIBLE_FMT_BYTES:
            raise AudioHeaderInvalid(
                f"a WAVE_FORMAT_EXTENSIBLE fmt chunk needs {_EXTENSIBLE_FMT_BYTES} bytes, "
                f"this one has {len(fmt)}")
        codec = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the sub-format GUID
    if codec not in _LINEAR_BITS and codec not in _COMPRESSED:
        raise UnsupportedAudioCodec(
            f"the WAV codec tag 0x{codec:04x} is not supported; use PCM, float, A-law, mu-law or ADPCM",
            details={"codec_tag": f"0x{codec:04x}"})
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioHeaderInvalid(f"the WAV header declares {channels} channels (1-{MAX_CHANNELS})",
                                 details={"channels": channels})
    if codec in _LINEAR_BITS:
        if bits not in _LINEAR_BITS[codec]:
            raise AudioHeaderInvalid(f"the WAV header declares {bits} bits per sample",
                                     details={"bits_per_sample": bits})
        if block_align != channels * bits // 8:
            raise AudioHeaderInvalid("the WAV header's block alignment does not match its format",
                                     details={"block_align": block_align})
    elif block_align == 0:
        raise AudioHeaderInvalid("the WAV header declares a block alignment of 0")
    return WavFormat(codec=codec, channels=channels, sample_rate=rate, bits_per_sample=bits,
                     block_align=block_align, data_bytes=data_bytes)
