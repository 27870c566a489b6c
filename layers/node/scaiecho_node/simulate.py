"""Simulated multi-speaker conversations from single-speaker utterances (for bench/tuning).

Each conversation draws 2-4 readers (10 s or more of speech each) and alternates turns cut
from their utterances (2-5 s), separated by pauses or, sometimes, overlapping the previous turn.
Every turn is labelled with its reader and trimmed to where the source slice has speech (a frame
energy detector on clean LibriSpeech; pauses inside a turn longer than 0.3 s are left out of
the reference). That is close to, not exactly, what a human annotator would mark: pyannote's
segmentation bridges or splits short pauses differently, which shows up as miss/false alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
MIN_READER_S = 10.0


@dataclass
class Conversation:
    uri: str
    samples: np.ndarray
    # (start, end, reader) reference speech turns
    reference: list[tuple[float, float, str]]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def rttm(self) -> str:
        return "".join(
            f"SPEAKER {self.uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n"
            for s, e, spk in self.reference
        )


def speech_spans(
    samples: np.ndarray, *, frame_s: float = 0.03, min_gap_s: float = 0.3
) -> list[tuple[float, float]]:
    """Speech spans of a clean recording by frame energy (relative to its loudest frames)."""
    hop = int(frame_s * SAMPLE_RATE)
    n = len(samples) // hop
    if n == 0:
        return []
    frames = samples[: n * hop].reshape(n, hop).astype(np.float64)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    threshold = max(np.percentile(db, 95) - 35.0, -55.0)
    active = db > threshold
    spans: list[tuple[float, float]] = []
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    for on, off in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        start, end = on * frame_s, off * frame_s
        if spans and start - spans[-1][1] < min_gap_s:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def load_utterances(data_dir: Path) -> dict[str, np.ndarray]:
    """reader id → 16 kHz float32 samples, for every ``*.flac`` in ``data_dir``."""
    import soundfile as sf

    out: dict[str, np.ndarray] = {}
    for path in sorted(Path(data_dir).glob("*.flac")):
        samples, rate = sf.read(path, dtype="float32")
        if rate != SAMPLE_RATE:
            raise ValueError(f"{path} is {rate} Hz, expected {SAMPLE_RATE}")
        out[path.name.split("-")[0]] = samples if samples.ndim == 1 else samples.mean(axis=1)
    return out


def make_conversation(
    utterances: dict[str, np.ndarray],
    readers: list[str],
    rng: np.random.Generator,
    *,
    uri: str,
    overlap_prob: float = 0.15,
) -> Conversation:
    """Alternate turns of ``readers`` until every reader's utterance is used up."""
    cursors = dict.fromkeys(readers, 0)
    turns: list[tuple[str, np.ndarray]] = []
    last = None
    while True:
        left = [r for r in readers if len(utterances[r]) - cursors[r] > SAMPLE_RATE]
        if not left:
            break
        choices = [r for r in left if r != last] or left
        reader = choices[int(rng.integers(len(choices)))]
        length = int(rng.uniform(2.0, 5.0) * SAMPLE_RATE)
        piece = utterances[reader][cursors[reader] : cursors[reader] + length]
        cursors[reader] += len(piece)
        turns.append((reader, piece))
        last = reader
    # lay the turns out on a timeline
    offsets: list[int] = []
    t = int(0.5 * SAMPLE_RATE)
    prev_len = 0
    for i, (_, piece) in enumerate(turns):
        if i > 0:
            if rng.random() < overlap_prob:
                t -= int(min(rng.uniform(0.3, 1.0) * SAMPLE_RATE, prev_len // 2))
            else:
                t += int(rng.uniform(0.2, 1.0) * SAMPLE_RATE)
        offsets.append(t)
        t += len(piece)
        prev_len = len(piece)
    total = max(o + len(p) for o, (_, p) in zip(offsets, turns, strict=True)) + SAMPLE_RATE // 2
    mix = np.zeros(total, dtype=np.float32)
    reference: list[tuple[float, float, str]] = []
    for offset, (reader, piece) in zip(offsets, turns, strict=True):
        mix[offset : offset + len(piece)] += piece
        for s, e in speech_spans(piece):
            reference.append((offset / SAMPLE_RATE + s, offset / SAMPLE_RATE + e, reader))
    peak = float(np.max(np.abs(mix))) or 1.0
    if peak > 0.99:
        mix *= 0.99 / peak
    return Conversation(uri=uri, samples=mix, reference=sorted(reference))


def make_conversations(
    utterances: dict[str, np.ndarray], *, count: int = 8, seed: int = 1234
) -> list[Conversation]:
    """``count`` conversations of 2-4 distinct readers each (fixed seed → same set)."""
    rng = np.random.default_rng(seed)
    # readers with at least MIN_READER_S of speech, so each gets several turns
    readers = sorted(r for r, u in utterances.items() if len(u) >= MIN_READER_S * SAMPLE_RATE)
    out = []
    for i in range(count):
        k = 2 + i % 3
        chosen = [str(r) for r in rng.choice(readers, size=k, replace=False)]
        out.append(make_conversation(utterances, chosen, rng, uri=f"sim{i:02d}_{k}spk"))
    return out
