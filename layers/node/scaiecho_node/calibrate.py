"""Calibrate the identification threshold on real speech (LibriSpeech train-clean-100).

    python -m scaiecho_node.calibrate [--data /work/shared/data] [--target-far 0.01]

Protocol: each of the 251 readers has one utterance; its first half is the enrollment, its
second half the test probe. Readers are split into two folds (alternating in sorted order):
the threshold is chosen on fold A and reported on fold B, so the committed constant
(``identification.COSINE_THRESHOLD``) is not judged on the data that chose it.

- identification accuracy: a probe is correct when its best-scoring enrolled candidate is its
  own reader *and* clears the threshold (gallery = every reader of the fold);
- false-accept rate (held-out readers): each reader in turn is left out of the gallery and its
  probe is scored against everyone else; any score over the threshold is a false accept.

The threshold is the lowest cosine whose fold-A false-accept rate is at most ``--target-far``
(then nudged up by a safety margin). The [0, 1] score slope is fitted (logistic, centred on
the threshold) on fold-A target/impostor pairs. Embeddings are cached under ``.bench/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_DATA = Path("/work/shared/data")
LIBRISPEECH = "librispeech-train-clean-100"
SAFETY_MARGIN = 0.02


@dataclass
class TrialSet:
    readers: list[str]
    enroll: np.ndarray  # (n, d) L2-normalised
    probe: np.ndarray  # (n, d)


def embed_halves(engine: Any, data_dir: Path, cache: Path | None = None) -> TrialSet:
    """Enrollment/probe embeddings for every reader (cached per model version)."""
    from scaiecho.audio.decode import decode_audio

    version = engine.model.model_version
    if cache is not None and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["version"]) == version:
            return TrialSet([str(r) for r in z["readers"]], z["enroll"], z["probe"])
    readers, enroll, probe = [], [], []
    for path in sorted((data_dir / LIBRISPEECH).glob("*.flac")):
        audio = decode_audio(path.read_bytes())
        half = len(audio.samples) // 2
        first = dataclasses.replace(audio, samples=audio.samples[:half])
        second = dataclasses.replace(audio, samples=audio.samples[half:])
        readers.append(path.name.split("-")[0])
        enroll.append(engine.embed(first).embedding)
        probe.append(engine.embed(second).embedding)
    trials = TrialSet(readers, np.asarray(enroll), np.asarray(probe))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache, version=version, readers=np.asarray(readers), enroll=trials.enroll, probe=trials.probe
        )
    return trials


def folds(trials: TrialSet) -> tuple[TrialSet, TrialSet]:
    a = slice(0, None, 2)
    b = slice(1, None, 2)
    return (
        TrialSet(trials.readers[a], trials.enroll[a], trials.probe[a]),
        TrialSet(trials.readers[b], trials.enroll[b], trials.probe[b]),
    )


def evaluate(trials: TrialSet, threshold: float) -> dict[str, float]:
    """Identification accuracy and open-set false-accept rate at ``threshold``."""
    scores = trials.probe @ trials.enroll.T  # (probe, enrolled)
    n = len(scores)
    own = np.diag(scores)
    best = scores.argmax(axis=1)
    accuracy = float(np.mean((best == np.arange(n)) & (own >= threshold)))
    others = np.where(np.eye(n, dtype=bool), -np.inf, scores)
    far = float(np.mean(others.max(axis=1) >= threshold))
    impostor = scores[~np.eye(n, dtype=bool)]
    return {
        "identification_accuracy": accuracy,
        "false_accept_rate": far,
        "pair_false_accept_rate": float(np.mean(impostor >= threshold)),
        "target_cosine_p05": float(np.percentile(own, 5)),
        "impostor_cosine_p99": float(np.percentile(impostor, 99)),
        "readers": float(n),
    }


def choose_threshold(trials: TrialSet, target_far: float) -> float:
    scores = trials.probe @ trials.enroll.T
    n = len(scores)
    others = np.where(np.eye(n, dtype=bool), -np.inf, scores).max(axis=1)
    # lowest threshold with open-set FAR <= target (strictly above that quantile of maxima)
    q = float(np.quantile(others, 1.0 - target_far, method="higher"))
    return round(q + SAFETY_MARGIN, 3)


def fit_slope(trials: TrialSet, threshold: float) -> float:
    """Logistic slope (centre fixed at the threshold), class-balanced log-loss, by grid search."""
    scores = trials.probe @ trials.enroll.T
    n = len(scores)
    target = np.diag(scores)
    impostor = scores[~np.eye(n, dtype=bool)]
    best, best_loss = 1.0, np.inf
    for slope in np.arange(2.0, 80.5, 0.5):
        p_t = 1 / (1 + np.exp(-slope * (target - threshold)))
        p_i = 1 / (1 + np.exp(-slope * (impostor - threshold)))
        loss = -np.mean(np.log(p_t + 1e-12)) - np.mean(np.log(1 - p_i + 1e-12))
        if loss < best_loss:
            best, best_loss = float(slope), float(loss)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaiecho_node.calibrate", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--target-far", type=float, default=0.01)
    parser.add_argument("--cache", type=Path, default=Path(".bench/ident_embeddings.npz"))
    args = parser.parse_args(argv)
    if not (args.data / LIBRISPEECH).is_dir():
        print(f"{args.data / LIBRISPEECH} not found", file=sys.stderr)
        return 2

    from scaiecho_node.engine import Engine
    from scaiecho_node.identification import COSINE_THRESHOLD, SCORE_SLOPE
    from scaiecho_node.settings import NodeSettings

    engine = Engine(NodeSettings.from_env(model_dir=args.model_dir))
    trials = embed_halves(engine, args.data, args.cache)
    fold_a, fold_b = folds(trials)
    threshold = choose_threshold(fold_a, args.target_far)
    slope = fit_slope(fold_a, threshold)
    report = {
        "chosen_threshold": threshold,
        "chosen_slope": slope,
        "committed_threshold": COSINE_THRESHOLD,
        "committed_slope": SCORE_SLOPE,
        "fold_a_at_chosen": evaluate(fold_a, threshold),
        "fold_b_at_chosen": evaluate(fold_b, threshold),
        "fold_b_at_committed": evaluate(fold_b, COSINE_THRESHOLD),
        "all_at_committed": evaluate(trials, COSINE_THRESHOLD),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
