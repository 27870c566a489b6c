"""Audio decoding shared by the API (preflight) and the node engine. No torch here."""

from scaiecho.audio.decode import (
    SUPPORTED_FORMATS,
    TARGET_SAMPLE_RATE,
    DecodedAudio,
    decode_audio,
    detect_format,
)

__all__ = [
    "SUPPORTED_FORMATS",
    "TARGET_SAMPLE_RATE",
    "DecodedAudio",
    "decode_audio",
    "detect_format",
]
