"""Pitch (F0) tracking for preflight's voice-change check. Pure numpy.

Boersma's normalised autocorrelation (the frame's autocorrelation divided by the window's),
computed through the FFT of 40 ms Hann frames every 20 ms, band-limited to 70-1000 Hz (the
fundamental and its first harmonics carry the periodicity; mains hum below and fricative noise
above do not). Frames more than 20 dB below the clip's loud frames are skipped (pauses and hum
were the main source of octave errors on LibriSpeech). The best peak in 60-400 Hz is taken,
preferring the shortest lag within 10 % of it (the usual guard against octave-down errors), and
the frame is voiced when that peak reaches ``voicing_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaiecho.domain.vad import frame_signal

PITCH_FRAME_S = 0.040
PITCH_HOP_S = 0.020


@dataclass(frozen=True)
class PitchConfig:
    fmin_hz: float = 60.0
    fmax_hz: float = 400.0
    lowpass_hz: float = 1000.0
    voicing_threshold: float = 0.55
    octave_tolerance: float = 0.90
    highpass_hz: float = 70.0  # mains hum and rumble are not a voice
    max_level_below_peak_db: float = 20.0  # quieter frames (pauses, hum) are not tracked


@dataclass(frozen=True)
class PitchTrack:
    """F0 per 20 ms frame plus the power spectra it was computed from (for timbre features)."""

    f0: np.ndarray  # Hz per frame, NaN where unvoiced or not analysed
    frames: np.ndarray  # indices of the analysed (speech) frames
    power: np.ndarray  # (len(frames), nfft // 2 + 1) power spectra of the Hann frames
    nfft: int
    sample_rate: int


def track_pitch(
    samples: np.ndarray,
    sample_rate: int,
    *,
    speech: np.ndarray | None = None,
    speech_hop_s: float = 0.010,
    config: PitchConfig | None = None,
) -> PitchTrack:
    """F0 in Hz per 20 ms frame, NaN where unvoiced (or outside ``speech``, a VAD mask)."""
    cfg = config or PitchConfig()
    frame_len = round(PITCH_FRAME_S * sample_rate)
    hop = round(PITCH_HOP_S * sample_rate)
    frames = frame_signal(samples, frame_len, hop)
    min_lag = max(2, int(sample_rate / cfg.fmax_hz))
    max_lag = min(frame_len - 2, int(np.ceil(sample_rate / cfg.fmin_hz)))
    nfft = 1 << int(np.ceil(np.log2(frame_len + max_lag + 1)))
    f0 = np.full(frames.shape[0], np.nan)
    idx = np.arange(frames.shape[0])
    if speech is not None:
        centre = ((idx * hop + frame_len // 2) / sample_rate / speech_hop_s).astype(int)
        on = speech[np.minimum(centre, speech.size - 1)] if speech.size else np.zeros(0, bool)
        idx = idx[on]
    if idx.size == 0:
        return PitchTrack(f0, idx, np.zeros((0, nfft // 2 + 1)), nfft, sample_rate)

    window = np.hanning(frame_len).astype(np.float32)
    cutoff = int(cfg.lowpass_hz * nfft / sample_rate)
    low_cut = int(cfg.highpass_hz * nfft / sample_rate)
    # The band-limited autocorrelation is smooth: evaluate it on a coarser lag grid (every
    # ``dec`` samples, four times the cut-off) with a shorter inverse FFT.
    sub = min(nfft, 1 << int(np.ceil(np.log2(4 * (cutoff + 2)))))
    dec = nfft // sub
    lo_j = max(1, min_lag // dec)
    hi_j = min(sub // 2 - 2, -(-max_lag // dec))

    def band_acf(power: np.ndarray) -> np.ndarray:
        band = power[..., : sub // 2 + 1].copy()
        band[..., cutoff + 1 :] = 0.0
        band[..., :low_cut] = 0.0
        return np.fft.irfft(band, n=sub, axis=-1)[..., : hi_j + 2]

    def power_spectrum(x: np.ndarray) -> np.ndarray:
        spec = np.fft.rfft(x, n=nfft, axis=-1)
        return spec.real**2 + spec.imag**2

    # the window's own (full-band) autocorrelation on the same lag grid (Boersma's correction)
    rw = np.fft.irfft(power_spectrum(window), n=nfft)[: (hi_j + 2) * dec : dec]
    rw = rw / rw[0]
    x = frames[idx]
    x = (x - x.mean(axis=1, keepdims=True)) * window
    spectra = power_spectrum(x)
    r = band_acf(spectra)
    energy = r[:, :1]
    loud = energy[:, 0] >= np.percentile(energy, 95) * 10.0 ** (-cfg.max_level_below_peak_db / 10.0)
    valid = (energy[:, 0] > 1e-10) & loud
    r = r / np.where(energy > 1e-10, energy, 1.0)
    r = r / np.maximum(rw, 1e-3)

    seg = r[:, lo_j - 1 : hi_j + 2]  # one extra lag each side for peak tests
    mid = seg[:, 1:-1]
    is_peak = (mid >= seg[:, :-2]) & (mid > seg[:, 2:])
    peaks = np.where(is_peak, mid, -np.inf)
    best = peaks.max(axis=1)
    # the shortest lag whose peak is within tolerance of the best one
    good = peaks >= (cfg.octave_tolerance * best)[:, None]
    first = np.argmax(good, axis=1)
    rows = np.arange(mid.shape[0])
    # parabolic interpolation around the chosen peak
    y0 = seg[rows, first]
    y1 = seg[rows, first + 1]
    y2 = seg[rows, first + 2]
    denom = y0 - 2.0 * y1 + y2
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (y0 - y2) / np.where(denom == 0, 1, denom), 0.0)
    lag = (lo_j + first + np.clip(shift, -0.5, 0.5)).astype(np.float64) * dec
    voiced = valid & np.isfinite(best) & (y1 >= cfg.voicing_threshold)
    f0[idx[voiced]] = sample_rate / lag[voiced]
    return PitchTrack(f0, idx, spectra, nfft, sample_rate)
