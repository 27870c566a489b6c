"""Gain normalisation before segmentation (pure numpy).

Far-field meeting recordings are often quiet (a peak of -20 dBFS or lower) and the segmentation
model was trained on louder audio: quiet talkers are missed. ``peak`` scales the recording so its
peak sits at ``PEAK_DBFS``, with the gain capped at ``MAX_GAIN_DB`` (so digital silence or
a near-silent file is not blown up into noise). Levels between talkers are kept.
"""

from __future__ import annotations

import numpy as np

GAIN_MODES = ("none", "peak")
PEAK_DBFS = -1.0
MAX_GAIN_DB = 30.0


def normalise_gain(samples: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none" or samples.size == 0:
        return samples
    if mode != "peak":
        raise ValueError(f"gain mode must be one of {GAIN_MODES}, got {mode!r}")
    peak = float(np.max(np.abs(samples)))
    if peak <= 0.0:
        return samples
    gain_db = min(PEAK_DBFS - 20.0 * np.log10(peak), MAX_GAIN_DB)
    if gain_db <= 0.0:
        return samples
    return (samples * np.float32(10 ** (gain_db / 20.0))).astype(np.float32)
