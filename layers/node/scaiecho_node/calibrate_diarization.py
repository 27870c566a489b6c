"""Choose the diarization hyper-parameters on the far-field *dev* meetings (never the test set).

    python -m scaiecho_node.calibrate_diarization [--data /work/shared/data] [--model-dir DIR]
                                                  [--out .bench/diarization_calibration.json]

For each segmentation step and gain normalisation, the segmentation and the chunk embeddings of
every dev meeting (``farfield.DEV_SPECS``: readers disjoint from the bench's test meetings) are
computed once (pyannote's training cache), then every clustering threshold and minimum cluster
size is scored from them: DER at collar 0, overlap counted, accumulated over the dev set. The
table is printed and written as JSON; ``modeldir.py`` holds the chosen values with the numbers
that chose them. Compute cost per setting is reported too (segmentation + embedding seconds per
audio second), because a setting is chosen by DER per second of compute, not by DER alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from scaiecho_node.evaluation import DER, Item, farfield_items
from scaiecho_node.gain import GAIN_MODES, normalise_gain

STEPS = (0.1, 0.25)
THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85)
MIN_CLUSTER_SIZES = (2, 4, 8, 12)
METHODS = ("centroid",)  # pyannote's linkage methods; --methods adds others (average, weighted...)
# gaps shorter than this within one speaker's turns are filled (pyannote's segmentation
# ``min_duration_off``; the reference leaves out pauses over 0.3 s): --min-durations-off adds others
MIN_DURATIONS_OFF = (0.0,)
# the segmentation's silence bias (pipeline.BiasedPowerset): each value is a full segmentation +
# embedding pass, so only 0 unless asked (--silence-biases)
SILENCE_BIASES = (0.0,)


def _file(item: Item, gain: str) -> dict[str, Any]:
    import torch

    samples = normalise_gain(item.samples, gain)
    return {"waveform": torch.from_numpy(np.ascontiguousarray(samples))[None],
            "sample_rate": 16000, "uri": item.uri}


def sweep(
    pipeline: Any,
    items: list[Item],
    *,
    step: float,
    gain: str,
    methods: tuple[str, ...] = METHODS,
    thresholds: tuple[float, ...] = THRESHOLDS,
    min_durations_off: tuple[float, ...] = MIN_DURATIONS_OFF,
    min_cluster_sizes: tuple[int, ...] = MIN_CLUSTER_SIZES,
    silence_bias: float = 0.0,
) -> list[dict[str, Any]]:
    """Score every clustering setting for one (step, gain, segmentation bias), reusing the
    cached segmentation and embeddings."""
    duration = pipeline._segmentation.duration
    pipeline._segmentation.step = step * duration
    pipeline.segmentation_step = step
    pipeline.set_silence_bias(silence_bias)
    files = [_file(item, gain) for item in items]
    pipeline.training = True  # cache segmentation + embeddings in each file dict
    rows = []
    started = time.perf_counter()
    compute_s = 0.0
    for method, threshold, mcs, off in itertools.product(methods, thresholds, min_cluster_sizes,
                                                         min_durations_off):
        pipeline.instantiate({"segmentation": {"min_duration_off": off},
                              "clustering": {"method": method, "threshold": threshold,
                                             "min_cluster_size": mcs}})
        metric = DER()
        for item, file in zip(items, files, strict=True):
            output = pipeline(file)
            ann = output.speaker_diarization
            metric.add(item, [(float(s.start), float(s.end), str(lbl))
                              for s, _, lbl in ann.itertracks(yield_label=True)])
        if not compute_s:
            compute_s = time.perf_counter() - started  # the first pass computed the caches
        rows.append({"step": step, "gain": gain, "method": method, "threshold": threshold,
                     "min_cluster_size": mcs, "min_duration_off": off,
                     "silence_bias": silence_bias, **metric.summary()})
    pipeline.training = False
    audio_s = sum(i.duration_s for i in items)
    for row in rows:
        row["compute_s_per_audio_s"] = round(compute_s / audio_s, 4)
    return rows


def main(argv: list[str] | None = None) -> int:
    from scaiecho_node.loading import load_model

    parser = argparse.ArgumentParser(prog="python -m scaiecho_node.calibrate_diarization",
                                     description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--model-dir", type=Path, default=Path(".models/default"))
    parser.add_argument("--out", type=Path, default=Path(".bench/diarization_calibration.json"))
    parser.add_argument("--steps", type=float, nargs="*", default=list(STEPS))
    parser.add_argument("--gains", nargs="*", default=list(GAIN_MODES))
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--thresholds", type=float, nargs="*", default=list(THRESHOLDS))
    parser.add_argument("--min-cluster-sizes", type=int, nargs="*", default=list(MIN_CLUSTER_SIZES))
    parser.add_argument("--silence-biases", type=float, nargs="*", default=list(SILENCE_BIASES))
    parser.add_argument("--min-durations-off", type=float, nargs="*", default=list(MIN_DURATIONS_OFF))
    args = parser.parse_args(argv)

    items = farfield_items(args.data, "dev")
    if not items:
        parser.error(f"no LibriSpeech readers under {args.data}")
    pipeline = load_model(args.model_dir).pipeline
    rows: list[dict[str, Any]] = []
    for step, gain, silence in itertools.product(args.steps, args.gains, args.silence_biases):
        rows += sweep(pipeline, items, step=step, gain=gain, silence_bias=silence,
                      methods=tuple(args.methods),
                      thresholds=tuple(args.thresholds),
                      min_durations_off=tuple(args.min_durations_off),
                      min_cluster_sizes=tuple(args.min_cluster_sizes))
        best = min(rows, key=lambda r: r["der"])
        print(f"step={step} gain={gain} silence bias={silence}: best so far {best}", flush=True)
    rows.sort(key=lambda r: r["der"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"dev_meetings": [i.uri for i in items], "rows": rows}, indent=1))
    for row in rows[:15]:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
