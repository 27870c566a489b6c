"""decode_audio on every accepted format, generated with PyAV (FFmpeg) in the test."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from scaiecho.audio.decode import TARGET_SAMPLE_RATE, decode_audio
from scaiecho.errors import AudioUndecodable, UnsupportedMediaType

# container format, codec, sample format, media type
FORMATS = [
    ("wav", "pcm_s16le", "s16", "audio/wav"),
    ("flac", "flac", "s16", "audio/flac"),
    ("mp3", "libmp3lame", "fltp", "audio/mpeg"),
    ("ogg", "libvorbis" if "libvorbis" in av.codecs_available else "libopus", "fltp", "audio/ogg"),
    ("ipod", "aac", "fltp", "audio/mp4"),  # .m4a
]


def encode(container: str, codec: str, sample_fmt: str, *, rate: int = 44100, channels: int = 2,
           seconds: float = 1.5) -> bytes:
    """A 440 Hz tone (left) / 660 Hz (right) encoded with FFmpeg."""
    if codec == "libopus":
        rate = 48000
    t = np.arange(int(rate * seconds)) / rate
    tone = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)])[:channels]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "stereo" if channels == 2 else "mono"
        frame_size = 1152 if codec == "libmp3lame" else 1024
        for start in range(0, tone.shape[1], frame_size):
            chunk = tone[:, start : start + frame_size]
            if sample_fmt == "s16":
                data = (chunk.T.reshape(1, -1) * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(data, format="s16", layout=stream.layout.name)
            else:
                frame = av.AudioFrame.from_ndarray(
                    chunk.astype(np.float32), format="fltp", layout=stream.layout.name
                )
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.mark.parametrize(("container", "codec", "sample_fmt", "media_type"), FORMATS)
def test_every_accepted_format_decodes_to_16k_mono(
    container: str, codec: str, sample_fmt: str, media_type: str
) -> None:
    data = encode(container, codec, sample_fmt)
    audio = decode_audio(data, media_type=media_type)
    assert audio.sample_rate == TARGET_SAMPLE_RATE and audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(1.5, abs=0.1)  # codec priming/padding
    assert audio.source_channels == 2
    assert 0.05 < float(np.sqrt(np.mean(audio.samples**2))) < 0.4
    assert audio.clipped_ratio == 0.0


def test_media_type_mismatch_and_garbage() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_audio(encode("wav", "pcm_s16le", "s16"), media_type="video/mp4")
    for container, codec, fmt, cut in (("flac", "flac", "s16", 60), ("flac", "flac", "s16", 2000),
                                       ("mp3", "libmp3lame", "fltp", 300)):
        with pytest.raises(AudioUndecodable):
            decode_audio(encode(container, codec, fmt)[:cut])
