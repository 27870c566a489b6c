"""Energy voice-activity detection with an adaptive noise floor, hysteresis and hangover.

Pure numpy, torch-free: it runs inside the API Lambda (preflight) where package size and cold
start matter. It is a quality gate, not a diarization front end: it answers "how much of this
clip is speech, and how loud is the rest", which is what enrollment intake needs.

How it works, per 32 ms frame (10 ms hop):

1. Frame power after removing each frame's mean (a DC offset is not speech), in dB.
2. Noise floor: minimum statistics. The power is smoothed over 50 ms, the running minimum over a
   centred 3 s window tracks the floor (speech always pauses between phrases), plus a 3 dB bias
   (the minimum of a noisy power estimate sits below its mean). Slowly changing noise is
   tracked; the floor is never put below ``speech level - 60 dB`` so digital silence does not
   make every breath "speech".
3. Two thresholds above that floor (hysteresis): a run of frames above the low threshold is
   speech when it reaches the high one somewhere. The margins grow with the clip's dynamic range
   (the 95th percentile over the floor), so a clean studio clip and a noisy phone clip are both
   segmented sensibly; stationary noise alone has a few dB of dynamic range and yields nothing.
4. Hangover: speech is extended 200 ms after and 50 ms before each run (word endings, onsets),
   and runs shorter than 60 ms are dropped as clicks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FRAME_S = 0.032
HOP_S = 0.010
_EPS = 1e-12


@dataclass(frozen=True)
class VadConfig:
    """Tuning of :func:`detect_speech`. The defaults are calibrated on LibriSpeech and telephone
    speech (pyannote's sample.wav) at 16 kHz."""

    floor_window_s: float = 3.0  # running-minimum window of the noise floor
    floor_bias_db: float = 3.0  # minimum-statistics bias compensation
    max_dynamic_range_db: float = 60.0  # the floor never sits further below the speech level
    low_margin_db: float = 4.0  # minimum margin of the continuation threshold over the floor
    high_margin_db: float = 8.0  # minimum margin of the onset threshold over the floor
    low_fraction: float = 0.20  # ...or this fraction of the dynamic range, whichever is larger
    high_fraction: float = 0.35
    absolute_floor_dbfs: float = -70.0  # nothing quieter than this is speech
    hangover_s: float = 0.20
    onset_pad_s: float = 0.05
    min_run_s: float = 0.06
    band_hz: tuple[float, float] = (150.0, 1500.0)  # decisions use this band's energy


@dataclass(frozen=True)
class VadResult:
    """Per-frame speech decisions and powers (frame i covers ``[i*hop, i*hop + frame)``)."""

    speech: np.ndarray  # bool, one per frame
    power: np.ndarray  # float64 mean-square power per frame (linear, full scale = 1.0)
    noise_floor: np.ndarray = field(repr=False)  # per-frame floor estimate of ``band_power``
    band_power: np.ndarray = field(repr=False)  # the in-band power the decisions were made on
    hop_s: float = HOP_S
    frame_s: float = FRAME_S

    @property
    def speech_s(self) -> float:
        return float(np.count_nonzero(self.speech)) * self.hop_s

    @property
    def duration_s(self) -> float:
        return float(self.speech.size) * self.hop_s

    def segments(self) -> list[tuple[float, float]]:
        """Speech regions as (start_s, end_s)."""
        starts, ends = runs(self.speech)
        return [(s * self.hop_s, e * self.hop_s) for s, e in zip(starts, ends, strict=True)]


def frame_signal(samples: np.ndarray, frame_len: int, hop: int) -> np.ndarray:
    """A read-only (n_frames, frame_len) view; the tail shorter than one frame is zero-padded."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if x.size < frame_len:
        x = np.pad(x, (0, frame_len - x.size))
    else:
        rem = (x.size - frame_len) % hop
        if rem:
            x = np.pad(x, (0, hop - rem))
    return np.lib.stride_tricks.sliding_window_view(x, frame_len)[::hop]


def frame_powers(frames: np.ndarray) -> np.ndarray:
    """Mean-square power of each frame with its DC removed."""
    f = frames.astype(np.float64)
    mean = f.mean(axis=1)
    return np.maximum((f * f).mean(axis=1) - mean * mean, 0.0)


def detect_speech(samples: np.ndarray, sample_rate: int, config: VadConfig | None = None) -> VadResult:
    """Find the speech frames of a mono float signal in [-1, 1]."""
    cfg = config or VadConfig()
    frame_len = round(FRAME_S * sample_rate)
    hop = round(HOP_S * sample_rate)
    frames = frame_signal(samples, frame_len, hop)
    power = frame_powers(frames)
    return classify_frames(power, band_powers(frames, sample_rate, cfg.band_hz), cfg)


def band_powers(frames: np.ndarray, sample_rate: int, band_hz: tuple[float, float]) -> np.ndarray:
    """Power of each (Hann-windowed) frame inside ``band_hz``: voiced speech concentrates there,
    broadband noise spreads over the whole spectrum, so the band gains the VAD several dB."""
    n = frames.shape[1]
    nfft = 1 << int(np.ceil(np.log2(n)))
    lo = int(band_hz[0] * nfft / sample_rate)
    hi = min(nfft // 2, int(np.ceil(band_hz[1] * nfft / sample_rate)))
    spec = np.fft.rfft(frames * np.hanning(n).astype(np.float32), n=nfft, axis=1)[:, lo : hi + 1]
    return (spec.real**2 + spec.imag**2).sum(axis=1) * (2.0 / (nfft * n * 0.375))


def classify_frames(power: np.ndarray, decision_power: np.ndarray, cfg: VadConfig) -> VadResult:
    """The VAD decision: ``decision_power`` (band energy) decides, ``power`` (full-band) and the
    noise floor (on the ``decision_power`` scale) are kept for level and SNR measurements."""
    speech, floor_db = decide(decision_power, cfg)
    return VadResult(
        speech=speech,
        power=power,
        noise_floor=10.0 ** (floor_db / 10.0),
        band_power=decision_power,
    )


def decide(decision_power: np.ndarray, cfg: VadConfig) -> tuple[np.ndarray, np.ndarray]:
    """Speech decision per frame from the in-band power alone, and the noise floor (dB)."""
    n = decision_power.size
    db = 10.0 * np.log10(decision_power + _EPS)
    smooth = _moving_average(db, 5)
    win = max(1, round(cfg.floor_window_s / HOP_S))
    floor_db = _running_min(smooth, win) + cfg.floor_bias_db
    level_db = float(np.percentile(db, 95)) if n else -120.0
    floor_db = np.maximum(floor_db, level_db - cfg.max_dynamic_range_db)
    span = np.maximum(level_db - floor_db, 0.0)
    low = floor_db + np.maximum(cfg.low_margin_db, cfg.low_fraction * span)
    high = floor_db + np.maximum(cfg.high_margin_db, cfg.high_fraction * span)
    low = np.maximum(low, cfg.absolute_floor_dbfs)
    high = np.maximum(high, cfg.absolute_floor_dbfs)

    above_low = smooth > low
    above_high = smooth > high
    speech = _hysteresis(above_low, above_high)
    speech = _drop_short_runs(speech, max(1, round(cfg.min_run_s / HOP_S)))
    speech = _dilate(speech, before=round(cfg.onset_pad_s / HOP_S), after=round(cfg.hangover_s / HOP_S))
    return speech, floor_db


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    if x.size == 0 or width <= 1:
        return x.copy()
    pad = width // 2
    xp = np.pad(x, (pad, width - 1 - pad), mode="edge")
    c = np.cumsum(np.concatenate(([0.0], xp)))
    return (c[width:] - c[:-width]) / width


def _running_min(x: np.ndarray, width: int) -> np.ndarray:
    """Centred running minimum (edges use the part of the window inside the signal)."""
    if x.size == 0:
        return x.copy()
    width = min(width, x.size)
    pad = width // 2
    xp = np.pad(x, (pad, width - 1 - pad), mode="constant", constant_values=np.inf)
    return np.lib.stride_tricks.sliding_window_view(xp, width).min(axis=1)


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the True runs."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _hysteresis(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Keep the runs of ``low`` that contain at least one ``high`` frame."""
    starts, ends = runs(low)
    if starts.size == 0:
        return np.zeros_like(low, dtype=bool)
    hits = np.concatenate(([0], np.cumsum(high & low)))
    keep = (hits[ends] - hits[starts]) > 0
    return _fill_runs(low.size, starts[keep], ends[keep])


def _drop_short_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    starts, ends = runs(mask)
    keep = (ends - starts) >= min_len
    return _fill_runs(mask.size, starts[keep], ends[keep])


def _dilate(mask: np.ndarray, *, before: int, after: int) -> np.ndarray:
    starts, ends = runs(mask)
    return _fill_runs(mask.size, np.maximum(starts - before, 0), np.minimum(ends + after, mask.size))


def _fill_runs(n: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    delta = np.zeros(n + 1, dtype=np.int32)
    np.add.at(delta, starts, 1)
    np.add.at(delta, ends, -1)
    return np.cumsum(delta[:-1]) > 0
