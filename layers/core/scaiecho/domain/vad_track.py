"""The stream VAD's state between frames, so each frame analyses only its new audio.

:func:`scaiecho.domain.vad.detect_speech` over the whole pending buffer, on every 200 ms frame,
costs time in proportion to the buffer (up to ``max_utterance_s`` + context). The expensive part
is per analysis frame (a windowed FFT) and does not depend on later audio, so a stream keeps each
complete frame's in-band power and the few samples after the last one: a new chunk of audio is
framed on its own, and the decision (noise floor, thresholds, runs) is made again over the stored
powers, which is cheap. Frames are aligned to the buffer's start, so the head may only be dropped
in whole hops. The result equals ``detect_speech`` on the whole buffer (tests/unit/test_vad_track.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaiecho.domain.vad import FRAME_S, HOP_S, VadConfig, band_powers, decide, frame_signal, runs

RATE = 16_000
FRAME = round(FRAME_S * RATE)
HOP = round(HOP_S * RATE)
_CFG = VadConfig()


@dataclass(frozen=True)
class VadTrack:
    band: np.ndarray  # float32 in-band power of each complete frame of the buffer
    tail: np.ndarray  # float32 samples from the first incomplete frame's start to the buffer's end

    @staticmethod
    def empty() -> VadTrack:
        return VadTrack(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32))

    @property
    def samples(self) -> int:
        """Length of the buffer the track describes."""
        return self.band.size * HOP + self.tail.size

    def extend(self, new: np.ndarray) -> VadTrack:
        """The track of the buffer with ``new`` (16 kHz mono float) appended."""
        if new.size == 0:
            return self
        buf = np.concatenate([self.tail, np.asarray(new, dtype=np.float32)])
        complete = (buf.size - FRAME) // HOP + 1 if buf.size >= FRAME else 0
        if not complete:
            return VadTrack(self.band, buf)
        frames = frame_signal(buf[: (complete - 1) * HOP + FRAME], FRAME, HOP)
        band = band_powers(frames, RATE, _CFG.band_hz)
        return VadTrack(np.concatenate([self.band, band]).astype(np.float32), buf[complete * HOP:])

    def drop(self, samples: int) -> VadTrack:
        """Forget the buffer's first ``samples`` (a whole number of hops, within the frames)."""
        if samples % HOP or samples > self.band.size * HOP:
            raise ValueError(f"can only drop whole analysed hops, not {samples} samples")
        return VadTrack(self.band[samples // HOP:], self.tail)

    def speech(self) -> list[tuple[int, int]]:
        """Speech runs of the buffer as (start, end) sample indices, as ``detect_speech`` finds them."""
        band = self.band
        # detect_speech zero-pads a last, partial frame; so does this, without storing it
        partial = self.band.size == 0 or self.tail.size != FRAME - HOP
        if partial and self.tail.size:
            last = band_powers(frame_signal(self.tail, FRAME, HOP), RATE, _CFG.band_hz)
            band = np.concatenate([band, last])
        if band.size == 0:
            return []
        speech, _ = decide(band, _CFG)
        starts, ends = runs(speech)
        return [(int(s) * HOP, int(e) * HOP) for s, e in zip(starts, ends, strict=True)]
