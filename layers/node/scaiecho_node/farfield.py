"""Seeded far-field meeting simulation from LibriSpeech readers (bench and calibration data).

The recipe, per meeting (all draws from one ``numpy`` generator seeded per meeting):

- 2-5 readers, each at a distance from one microphone: a synthetic room impulse response per
  reader — the direct path (delayed and attenuated by distance) plus an exponentially decaying
  noise tail with a reverberation time RT60 of 0.3-0.9 s (the room's) and a direct-to-reverberant
  ratio that falls with distance (the reader's);
- talker levels spread over 20-30 dB (a quiet far talker beside a loud near one), and one reader
  in four set 10 dB quieter still;
- turns of 1.5-8 s cut from the reader's speech (looping a reader's utterance when the meeting
  is longer than it: the voice, not the words, is what diarization sees), pauses of 0.1-1.2 s,
  and overlaps (20 % of turns start 0.3-1.5 s before the previous one ends) plus short
  back-channels ("mm-hm"-length 0.3-0.8 s slices) over someone else's turn;
- babble: 4-6 readers who are not in the meeting, reverberated, summed and kept 10-20 dB below
  the quietest talker, plus stationary noise at -60 to -50 dBFS;
- the whole mix scaled to a peak of -6 to -20 dBFS (far-field rooms are quiet recordings);
- optionally (``MeetingSpec.minor``) readers who speak once only, for 2-5 s, somewhere in the
  middle third: a guest's one question (dev meetings ff_dev_08/09).

Reference turns are each reader's speech spans within the clean turn (``simulate.speech_spans``,
pauses over 0.3 s left out), so babble and noise are non-speech for DER, as an annotator would
mark a meeting. Readers are split in two disjoint pools — ``dev`` (calibration) and ``test``
(bench) — so nothing is tuned on the audio it is scored on.

LibriSpeech (c) 2014 Vassil Panayotov et al., CC BY 4.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scaiecho_node.simulate import SAMPLE_RATE, Conversation, load_utterances, speech_spans

POOLS = ("dev", "test")


@dataclass(frozen=True)
class MeetingSpec:
    uri: str
    speakers: int
    duration_s: float
    # readers who say one thing only (2-5 s once, as a guest who asks one question): the case a
    # large minimum cluster size gets wrong, so the dev set must hold it for calibration to see it
    minor: int = 0


# The bench's test set and the calibration's dev set: same shapes, different readers and seeds.
TEST_SPECS = (
    MeetingSpec("ff_test_00", 2, 30), MeetingSpec("ff_test_01", 3, 30),
    MeetingSpec("ff_test_02", 4, 45), MeetingSpec("ff_test_03", 5, 60),
    MeetingSpec("ff_test_04", 3, 90), MeetingSpec("ff_test_05", 4, 120),
)
DEV_SPECS = (
    MeetingSpec("ff_dev_00", 2, 30), MeetingSpec("ff_dev_01", 3, 30),
    MeetingSpec("ff_dev_02", 4, 45), MeetingSpec("ff_dev_03", 5, 60),
    MeetingSpec("ff_dev_04", 3, 90), MeetingSpec("ff_dev_05", 4, 120),
    MeetingSpec("ff_dev_06", 2, 60), MeetingSpec("ff_dev_07", 5, 90),
    MeetingSpec("ff_dev_08", 3, 90, minor=1), MeetingSpec("ff_dev_09", 3, 120, minor=2),
)
LONG_SPEC = MeetingSpec("ff_test_long", 5, 600)
SEEDS = {"dev": 20_000, "test": 10_000}


def reader_pool(utterances: dict[str, np.ndarray], pool: str) -> list[str]:
    """Readers of one pool: alternate readers in id order (disjoint, reproducible)."""
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}")
    ordered = sorted(utterances, key=lambda r: int(r) if r.isdigit() else r)
    return ordered[POOLS.index(pool) :: 2]


def room_impulse_response(rng: np.random.Generator, rt60: float, distance_m: float) -> np.ndarray:
    """Direct path plus an exponentially decaying Gaussian tail (a diffuse-field model)."""
    length = int(min(rt60, 1.0) * SAMPLE_RATE)
    delay = int(distance_m / 343.0 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    decay = np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    tail = rng.standard_normal(length) * decay
    tail[: int(0.002 * SAMPLE_RATE)] = 0.0  # early reflections start after the direct path
    # direct-to-reverberant ratio falls ~6 dB per doubling of distance from +6 dB at 0.5 m
    drr_db = 6.0 - 20.0 * np.log10(max(distance_m, 0.25) / 0.5)
    tail *= 10 ** (-drr_db / 20) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    rir = np.zeros(delay + length, dtype=np.float64)
    rir[delay] = 1.0
    rir[delay:] += tail
    return (rir / np.max(np.abs(rir))).astype(np.float32)


def _reverb(samples: np.ndarray, rir: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    return fftconvolve(samples, rir)[: len(samples)].astype(np.float32)


def _db(x: float) -> float:
    return float(10 ** (x / 20))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def make_meeting(
    utterances: dict[str, np.ndarray], readers: list[str], others: list[str], spec: MeetingSpec,
    rng: np.random.Generator, minors: list[str] | None = None,
) -> Conversation:
    minors = minors or []
    rt60 = float(rng.uniform(0.3, 0.9))
    target = int(spec.duration_s * SAMPLE_RATE)
    spread = float(rng.uniform(20.0, 30.0))
    gains_db = {r: float(rng.uniform(-spread, 0.0)) for r in readers}
    # a minor reader's one remark: when (in the middle third) and how long
    minor_at = {m: int(rng.uniform(1 / 3, 2 / 3) * target) for m in minors}
    minor_s = {m: float(rng.uniform(2.0, 5.0)) for m in minors}
    for m in minors:
        gains_db[m] = float(rng.uniform(-spread, 0.0))
    gains_db[readers[int(rng.integers(len(readers)))]] = 0.0  # someone is the loud one
    quiet = readers[int(rng.integers(len(readers)))]
    if rng.random() < 0.25:
        gains_db[quiet] -= 10.0
    rirs = {r: room_impulse_response(rng, rt60, float(rng.uniform(0.5, 4.0)))
            for r in [*readers, *minors]}
    # each reader's speech, normalised to unit RMS so the gains above are the talker levels
    voices = {r: utterances[r] / (_rms(utterances[r]) + 1e-9) for r in [*readers, *minors]}
    cursors = dict.fromkeys([*readers, *minors], 0)

    def cut(reader: str, seconds: float) -> np.ndarray:
        src = voices[reader]
        n = int(seconds * SAMPLE_RATE)
        start = cursors[reader] % len(src)
        piece = np.concatenate([src[start:], src])[:n] if start + n > len(src) else src[start : start + n]
        cursors[reader] = start + n
        return piece

    mix = np.zeros(target + 2 * SAMPLE_RATE, dtype=np.float32)
    reference: list[tuple[float, float, str]] = []

    def place(reader: str, piece: np.ndarray, at: int) -> None:
        wet = _reverb(piece, rirs[reader]) * _db(gains_db[reader]) * 0.1
        end = min(len(mix), at + len(wet))
        mix[at:end] += wet[: end - at]
        for s, e in speech_spans(piece):
            s_abs, e_abs = at / SAMPLE_RATE + s, min(at / SAMPLE_RATE + e, end / SAMPLE_RATE)
            if e_abs > s_abs:
                reference.append((s_abs, e_abs, reader))

    t = int(rng.uniform(0.2, 1.0) * SAMPLE_RATE)
    last: str | None = None
    prev_len = 0
    order = list(readers)
    rng.shuffle(order)
    first_round = list(order)  # everyone speaks early, as in a meeting's introductions
    while t < target - SAMPLE_RATE:
        due = [m for m in minors if minor_at[m] <= t]
        if due and not first_round:
            reader = due[0]
            minors = [m for m in minors if m != reader]
            piece = cut(reader, minor_s[reader])[: max(0, target - t)]
            place(reader, piece, t)
            last, prev_len = reader, len(piece)
            t += prev_len + int(rng.uniform(0.1, 1.2) * SAMPLE_RATE)
            continue
        if first_round:
            reader = first_round.pop(0)
        else:
            choices = [r for r in readers if r != last]
            reader = choices[int(rng.integers(len(choices)))]
        piece = cut(reader, float(rng.uniform(1.5, 8.0)))
        piece = piece[: max(0, target - t)]
        if len(piece) < SAMPLE_RATE // 2:
            break
        place(reader, piece, t)
        if last is not None and rng.random() < 0.15:  # a back-channel over this turn
            other = [r for r in readers if r != reader]
            listener = other[int(rng.integers(len(other)))]
            at = t + int(rng.uniform(0.2, 0.7) * len(piece))
            place(listener, cut(listener, float(rng.uniform(0.3, 0.8))), at)
        prev_len = len(piece)
        last = reader
        t += prev_len
        if rng.random() < 0.2:
            t -= int(min(rng.uniform(0.3, 1.5) * SAMPLE_RATE, prev_len // 2))
        else:
            t += int(rng.uniform(0.1, 1.2) * SAMPLE_RATE)
    mix = mix[:target]
    reference = [(s, min(e, target / SAMPLE_RATE), r) for s, e, r in reference if s < target / SAMPLE_RATE]

    # babble sits below the *quietest* talker (an annotator still hears everyone at the table)
    quietest = 0.1 * _db(min(gains_db.values()))
    babble = np.zeros(target, dtype=np.float32)
    for other in rng.choice(others, size=int(rng.integers(4, 7)), replace=False):
        src = utterances[str(other)]
        reps = int(np.ceil(target / len(src)))
        loop = np.roll(np.tile(src, reps)[:target], int(rng.integers(len(src))))
        loop = _reverb(loop, room_impulse_response(rng, rt60, float(rng.uniform(3.0, 6.0))))
        babble += loop / (_rms(loop) + 1e-9)
    babble *= quietest * _db(-float(rng.uniform(10.0, 20.0))) / (_rms(babble) + 1e-9)
    mix = mix + babble + rng.standard_normal(target).astype(np.float32) * _db(float(rng.uniform(-60, -50)))
    peak = float(np.max(np.abs(mix))) or 1.0
    mix = (mix * _db(float(rng.uniform(-20.0, -6.0))) / peak).astype(np.float32)
    return Conversation(uri=spec.uri, samples=mix, reference=sorted(reference))


def make_meetings(
    utterances: dict[str, np.ndarray], specs: tuple[MeetingSpec, ...] | list[MeetingSpec], pool: str,
) -> list[Conversation]:
    """One meeting per spec from the ``pool`` readers (seeded per meeting: same set every run)."""
    readers = reader_pool(utterances, pool)
    usable = [r for r in readers if len(utterances[r]) >= 8 * SAMPLE_RATE]
    out = []
    for i, spec in enumerate(specs):
        rng = np.random.default_rng(SEEDS[pool] + i + (1000 if spec.duration_s > 300 else 0))
        chosen = [str(r) for r in rng.choice(usable, size=spec.speakers, replace=False)]
        others = [r for r in usable if r not in chosen]
        minors = [str(r) for r in rng.choice(others, size=spec.minor, replace=False)] if spec.minor else []
        others = [r for r in others if r not in minors]
        out.append(make_meeting(utterances, chosen, others, spec, rng, minors))
    return out


def write_meetings(data: Path, out: Path, pool: str) -> list[Path]:
    """Write a pool's meetings as WAV + RTTM (to listen to or score with other tools)."""
    import soundfile as sf

    utterances = load_utterances(data)
    specs = DEV_SPECS if pool == "dev" else (*TEST_SPECS, LONG_SPEC)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for conv in make_meetings(utterances, specs, pool):
        sf.write(out / f"{conv.uri}.wav", conv.samples, SAMPLE_RATE, subtype="PCM_16")
        (out / f"{conv.uri}.rttm").write_text(conv.rttm())
        paths.append(out / f"{conv.uri}.wav")
    return paths


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m scaiecho_node.farfield", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/librispeech-train-clean-100"))
    parser.add_argument("--out", type=Path, default=Path(".bench/farfield"))
    parser.add_argument("--pool", choices=POOLS, default="test")
    args = parser.parse_args()
    for p in write_meetings(args.data, args.out, args.pool):
        print(p)
