"""Enrollment audio preflight: is this clip good enough to enroll a voice from?

Pure and torch-free (numpy only): it runs in the enrollment intake Lambda and behind
``POST /v1/modules/scaiecho/preflight``. :func:`assess` measures a decoded clip and returns a
:class:`PreflightReport`: hard ``reasons`` (the clip is rejected, 422 via :func:`require_pass`)
and soft ``warnings`` (accepted, but the enrollment will be weaker), a ``grade`` and the
metrics. Measurements:

- ``speech_s`` / ``speech_ratio``: :mod:`scaiecho.domain.vad` (energy VAD, adaptive noise
  floor, hysteresis, 200 ms hangover).
- ``loudness_dbfs``: RMS level of the speech frames, dB re full scale (a full-scale sine is -3).
- ``snr_db``: speech-frame power over noise power, with the noise power subtracted from the
  speech power. Noise = the median power of the non-speech frames when there is at least
  0.5 s of them, otherwise the 5th percentile of all frame powers (the gaps between words;
  robust when the speaker never pauses). Capped at 60 dB (digital silence between words).
- ``clipping_ratio``: the larger of the decoder's count at the source (before resampling) and
  the fraction of decoded samples at full scale.
- ``multiple_speakers_suspected``: :mod:`scaiecho.domain.voice_change` (pitch + timbre change
  point; calibration in its docstring).

Grades (``poor`` iff not passed):

- ``high``: no warnings, ``speech_s >= recommended_speech_s`` and ``snr_db >= high_snr_db``.
- ``good``: no warning other than ``short_speech``, ``speech_s >= good_speech_s`` and
  ``snr_db >= recommended_snr_db``.
- ``average``: every other clip that passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaiecho.audio.decode import DecodedAudio
from scaiecho.domain.vad import VadResult, detect_speech
from scaiecho.domain.voice_change import detect_voice_change
from scaiecho.errors import ValidationFailed

# Stable, machine-readable codes (the API returns them; clients switch on them).
TOO_SHORT = "too_short"
NO_SPEECH = "no_speech"
TOO_NOISY = "too_noisy"
CLIPPED = "clipped"
TOO_QUIET = "too_quiet"
SHORT_SPEECH = "short_speech"
NOISY = "noisy"
SOME_CLIPPING = "some_clipping"
QUIET = "quiet"
LOW_SAMPLE_RATE = "low_sample_rate"
MULTIPLE_SPEAKERS = "multiple_speakers"

GRADES = ("poor", "average", "good", "high")

_SNR_CAP_DB = 60.0
_MIN_NOISE_FRAMES_S = 0.5
_FULL_SCALE = 1.0 - 2.0 / 32768.0


@dataclass(frozen=True)
class PreflightPolicy:
    """Thresholds of the preflight. ``min_*``/``max_*`` are hard (reject), the others soft (warn).

    The defaults are set for speaker embeddings (pyannote/ECAPA-class models): below ~1.5 s of
    speech an embedding is unreliable; ~8 s of speech is where verification accuracy flattens
    out. Below 5 dB SNR the embedding models the noise as much as the voice; 15 dB is ordinary
    room speech, 25 dB a close microphone in a quiet room. Over 5 % clipped samples distorts
    the spectrum audibly; 0.5 % is a few clipped peaks. Speech RMS under -50 dBFS is near the
    16-bit noise floor after gain; under -35 dBFS is a distant or badly set microphone.
    Telephone audio (8 kHz) carries no energy above 4 kHz and enrolls worse.
    """

    min_duration_s: float = 2.0
    min_speech_s: float = 1.5
    recommended_speech_s: float = 8.0
    good_speech_s: float = 5.0
    min_snr_db: float = 5.0
    recommended_snr_db: float = 15.0
    high_snr_db: float = 25.0
    max_clipped_ratio: float = 0.05
    recommended_max_clipped_ratio: float = 0.005
    min_loudness_dbfs: float = -50.0
    recommended_loudness_dbfs: float = -35.0
    min_source_sample_rate: int = 16_000
    check_multiple_speakers: bool = True


@dataclass(frozen=True)
class PreflightReport:
    passed: bool
    grade: str
    reasons: list[str]
    warnings: list[str]
    metrics: dict[str, Any]
    voice_change_score: float = field(default=0.0, compare=False)

    def serialize(self) -> dict[str, Any]:
        """The report as error details and idempotency records keep it (the API's own shape is
        ``scaiecho.api.schemas.speakers.PreflightPublic``, built from the same rounding)."""
        return {
            "passed": self.passed,
            "grade": self.grade,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "metrics": rounded_metrics(self.metrics),
        }

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> PreflightReport:
        """A report as ``serialize`` kept it (metrics already rounded: rounding them again
        changes nothing, so a report read back answers what the first one did)."""
        return cls(passed=bool(doc["passed"]), grade=str(doc["grade"]), reasons=list(doc["reasons"]),
                   warnings=list(doc["warnings"]), metrics=dict(doc["metrics"]))


def rounded_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """The measured metrics as clients read them: floats rounded, None where not measurable."""
    return {
        "duration_s": _round(m["duration_s"], 2),
        "speech_s": _round(m["speech_s"], 2),
        "speech_ratio": _round(m["speech_ratio"], 3),
        "clipping_ratio": _round(m["clipping_ratio"], 5),
        "loudness_dbfs": _round(m["loudness_dbfs"], 1),
        "snr_db": _round(m["snr_db"], 1),
        "sample_rate": int(m["sample_rate"]),
        "channels": int(m["channels"]),
        "multiple_speakers_suspected": bool(m["multiple_speakers_suspected"]),
    }


class PreflightFailed(ValidationFailed):
    """The clip failed a hard preflight check (422); ``details`` is the serialized report."""

    code = "preflight_failed"
    status = 422

    def __init__(self, report: PreflightReport) -> None:
        super().__init__(
            "the audio did not pass the quality preflight: " + ", ".join(report.reasons),
            details=report.serialize(),
        )
        self.report = report


def require_pass(report: PreflightReport) -> PreflightReport:
    """Return ``report`` when it passed, raise :class:`PreflightFailed` otherwise."""
    if not report.passed:
        raise PreflightFailed(report)
    return report


def assess(audio: DecodedAudio, policy: PreflightPolicy = PreflightPolicy()) -> PreflightReport:
    """Measure ``audio`` and judge it against ``policy``."""
    samples = np.asarray(audio.samples, dtype=np.float32).reshape(-1)
    sr = audio.sample_rate
    duration_s = samples.size / sr if sr else 0.0

    vad = detect_speech(samples, sr)
    speech_s = vad.speech_s
    loudness, snr = _levels(vad)
    measured_clip = float(np.count_nonzero(np.abs(samples) >= _FULL_SCALE)) / max(samples.size, 1)
    clipping = max(float(audio.clipped_ratio), measured_clip)

    voice_score = 0.0
    multiple = False
    if policy.check_multiple_speakers and speech_s >= policy.min_speech_s:
        change = detect_voice_change(samples, sr, vad.speech, speech_hop_s=vad.hop_s)
        multiple, voice_score = change.suspected, change.score

    reasons: list[str] = []
    warnings: list[str] = []
    if duration_s < policy.min_duration_s:
        reasons.append(TOO_SHORT)
    if speech_s < policy.min_speech_s:
        reasons.append(NO_SPEECH)
    elif speech_s < policy.recommended_speech_s:
        warnings.append(SHORT_SPEECH)
    if snr is not None:
        if snr < policy.min_snr_db:
            reasons.append(TOO_NOISY)
        elif snr < policy.recommended_snr_db:
            warnings.append(NOISY)
    if clipping > policy.max_clipped_ratio:
        reasons.append(CLIPPED)
    elif clipping > policy.recommended_max_clipped_ratio:
        warnings.append(SOME_CLIPPING)
    if loudness is not None:
        if loudness < policy.min_loudness_dbfs:
            reasons.append(TOO_QUIET)
        elif loudness < policy.recommended_loudness_dbfs:
            warnings.append(QUIET)
    if 0 < audio.source_sample_rate < policy.min_source_sample_rate:
        warnings.append(LOW_SAMPLE_RATE)
    if multiple:
        warnings.append(MULTIPLE_SPEAKERS)

    passed = not reasons
    metrics: dict[str, Any] = {
        "duration_s": duration_s,
        "speech_s": speech_s,
        "speech_ratio": min(speech_s / duration_s, 1.0) if duration_s > 0 else 0.0,
        "clipping_ratio": clipping,
        "loudness_dbfs": loudness,
        "snr_db": snr,
        "sample_rate": audio.source_sample_rate,
        "channels": audio.source_channels,
        "multiple_speakers_suspected": multiple,
    }
    return PreflightReport(
        passed=passed,
        grade=_grade(passed, speech_s, snr, warnings, policy),
        reasons=reasons,
        warnings=warnings,
        metrics=metrics,
        voice_change_score=voice_score,
    )


def _levels(vad: VadResult) -> tuple[float | None, float | None]:
    """(speech loudness dBFS, SNR dB), or (None, None) without speech."""
    speech = vad.speech
    if not speech.any():
        return None, None
    p_speech = float(vad.power[speech].mean())
    loudness = 10.0 * np.log10(max(p_speech, 1e-12))
    quiet = vad.power[~speech]
    if quiet.size * vad.hop_s >= _MIN_NOISE_FRAMES_S:
        p_noise = float(np.median(quiet))
    else:
        # hardly any pause: the quietest frames (gaps between words) stand in for the noise
        p_noise = float(np.percentile(vad.power, 5))
    p_noise = max(p_noise, 1e-12)
    p_signal = p_speech - p_noise
    if p_signal <= 0:
        return loudness, -_SNR_CAP_DB
    snr = 10.0 * np.log10(p_signal / p_noise)
    return loudness, float(np.clip(snr, -_SNR_CAP_DB, _SNR_CAP_DB))


def _grade(
    passed: bool,
    speech_s: float,
    snr: float | None,
    warnings: list[str],
    policy: PreflightPolicy,
) -> str:
    if not passed or snr is None:
        return "poor"
    if not warnings and speech_s >= policy.recommended_speech_s and snr >= policy.high_snr_db:
        return "high"
    if (
        set(warnings) <= {SHORT_SPEECH}
        and speech_s >= policy.good_speech_s
        and snr >= policy.recommended_snr_db
    ):
        return "good"
    return "average"


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)
