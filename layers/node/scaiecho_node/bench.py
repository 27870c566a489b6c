"""Engine benchmark: DER, real-time factor, identification, memory.

    python -m scaiecho_node.bench [--data /work/shared/data] [--out .bench/latest.json]
                                  [--rss-30min]

Merges these flat keys into ``--out`` (read-modify-write: other parts' keys are kept) and
prints a table. Keys that need the dev data are left out when it is absent, never faked.

- ``der_<set>_engine`` / ``der_<set>_stock`` (+ ``_collar05``): DER (collar 0, overlap counted;
  and collar 0.5 s) of the node engine and of pyannote.audio's stock ``SpeakerDiarization`` on
  the same model dir's weights at its defaults, on sets ``sample``, ``real`` and ``farfield``
  (see ``evaluation.py``); ``der_farfield_<path>_{confusion,miss,false_alarm,per_meeting}``;
  the job path's ``der_<set>_job`` come from ``scaiecho.local.bench`` (``make bench`` runs both)
- ``der_sample``, ``der_simulated`` (engine; clean LibriSpeech turn-taking, seed 1234)
- ``rtf_diarization`` (engine), ``rtf_diarization_stock``: wall time / audio duration
- ``dev_der_*``: each hyper-parameter lever's effect on the dev meetings (from the calibration
  run, ``python -m scaiecho_node.calibrate_diarization``)
- ``identification_accuracy``, ``false_accept_rate``: calibrate.py's protocol, fold B
- ``node_peak_rss_mb`` (1 min of audio), ``node_peak_rss_mb_30min``/``_60min`` and
  ``rtf_diarization_1min``/``_30min``/``_60min``: peak RSS and real-time factor of a fresh process
  that loads the engine and diarizes that much audio; ``rtf_diarization_30s``: median of three
  runs over 30 s of the same speech on the warm engine (what the hour is compared with)
- ``model_load_s``, ``embed_latency_10s_s``, ``machine``, ``date``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from scaiecho.local.bench import machine, merge_results

DEFAULT_DATA = Path("/work/shared/data")
SIM_SEED = 1234
SIM_COUNT = 9


def _group(item: Any) -> str:
    return "sample" if "sample" in item.tags else "real" if "real" in item.tags else "farfield"


def diarization_keys(engine: Any, data: Path, model_dir: Path, *, stock: bool = True) -> dict[str, Any]:
    """DER of the node engine and of pyannote's stock pipeline, on the same recordings.

    Sets: ``sample`` (pyannote's sample.wav), ``real`` (the three real recordings, inside their
    UEM), ``farfield`` (the seeded far-field test meetings, ``farfield.TEST_SPECS``) and
    ``simulated`` (clean LibriSpeech turn-taking, ``simulate.py``). Keys ``der_<set>_<path>``
    (collar 0, overlap counted) and ``..._collar05``; ``der_sample`` / ``der_simulated`` are the
    engine's, as before. The job path's keys (``der_<set>_job``) come from the stack bench.
    """
    from scaiecho.audio.decode import DecodedAudio
    from scaiecho_node.evaluation import (
        DER,
        Item,
        farfield_items,
        pipeline_turns,
        real_items,
        stock_pipeline,
    )
    from scaiecho_node.simulate import load_utterances, make_conversations

    keys: dict[str, Any] = {}
    items = real_items(data) + farfield_items(data, "test")
    if not items:
        return keys
    engine.diarize(DecodedAudio(items[0].samples, 16000, "wav", 16000, 1, 0.0))  # warm-up
    paths: dict[str, Any] = {
        "engine": lambda it: [
            (t.start, t.end, t.speaker)
            for t in engine.diarize(DecodedAudio(it.samples, 16000, "wav", 16000, 1, 0.0)).turns
        ]
    }
    if stock:
        pipeline = stock_pipeline(model_dir)
        paths["stock"] = lambda it: pipeline_turns(pipeline, it.samples, it.uri)
    for path, run in paths.items():
        metrics: dict[str, Any] = {}
        wall = audio = 0.0
        for item in items:
            t0 = time.perf_counter()
            hyp = run(item)
            wall += time.perf_counter() - t0
            audio += item.duration_s
            metrics.setdefault(_group(item), DER()).add(item, hyp)
        for group, metric in metrics.items():
            summary = metric.summary()
            keys[f"der_{group}_{path}"] = summary["der"]
            keys[f"der_{group}_{path}_collar05"] = summary["der_collar05"]
            if group == "farfield":
                for part in ("confusion", "miss", "false_alarm"):
                    keys[f"der_farfield_{path}_{part}"] = summary[part]
                keys[f"der_farfield_{path}_per_meeting"] = metric.per_file
        keys[f"rtf_diarization_{path}"] = round(wall / audio, 4)
    keys["der_sample"] = keys.get("der_sample_engine")
    keys["rtf_diarization"] = keys["rtf_diarization_engine"]
    keys["bench_audio_s"] = round(sum(i.duration_s for i in items), 1)

    libri = data / "librispeech-train-clean-100"
    if libri.is_dir():
        metric = DER()
        for conv in make_conversations(load_utterances(libri), count=SIM_COUNT, seed=SIM_SEED):
            result = engine.diarize(DecodedAudio(conv.samples, 16000, "wav", 16000, 1, 0.0))
            item = Item(conv.uri, conv.samples, conv.reference)
            metric.add(item, [(t.start, t.end, t.speaker) for t in result.turns])
        keys["der_simulated"] = metric.summary()["der"]
    return keys


def lever_keys(calibration: Path) -> dict[str, Any]:
    """Each hyper-parameter lever's effect on the dev meetings, from the calibration run.

    Starting from the previous release's setting (step 0.25, threshold 0.75, min cluster size
    2, no gain normalisation, centroid linkage, no silence bias, no gap filling), one lever at a
    time moved to the chosen value, then all of them. Levers tried but not adopted are reported
    from the chosen setting with that one lever moved (``dev_der_tried_<lever>_<value>``).
    """
    import json

    from scaiecho_node import modeldir

    if not calibration.is_file():
        return {}
    rows = json.loads(calibration.read_text())["rows"]
    names = ("step", "gain", "threshold", "min_cluster_size", "method", "silence_bias",
             "min_duration_off")
    defaults = {"method": "centroid", "silence_bias": 0.0, "min_duration_off": 0.0}  # older rows

    def setting(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(n, defaults.get(n)) for n in names)

    table = {setting(r): r["der"] for r in rows}
    base = (0.25, "none", 0.75, 2, "centroid", 0.0, 0.0)
    chosen = (modeldir.SEGMENTATION_STEP, modeldir.GAIN_NORMALISATION,
              modeldir.CLUSTERING_THRESHOLD, modeldir.MIN_CLUSTER_SIZE, modeldir.CLUSTERING_METHOD,
              modeldir.SILENCE_BIAS, modeldir.MIN_DURATION_OFF)
    levers = {"segmentation_step": 0, "gain_normalisation": 1, "clustering_threshold": 2,
              "min_cluster_size": 3, "clustering_method": 4, "silence_bias": 5,
              "min_duration_off": 6}
    out: dict[str, Any] = {"dev_der_previous_setting": table.get(base),
                           "dev_der_chosen_setting": table.get(chosen)}
    for name, k in levers.items():
        moved = list(base)
        moved[k] = chosen[k]
        out[f"dev_der_lever_{name}"] = table.get(tuple(moved))
    for name in ("silence_bias", "min_duration_off", "clustering_method", "gain_normalisation"):
        k = levers[name]
        for key, der in sorted(table.items(), key=str):
            if key[k] != chosen[k] and key[:k] + key[k + 1:] == chosen[:k] + chosen[k + 1:]:
                out[f"dev_der_tried_{name}_{key[k]}"] = der
    return out


def identification_keys(engine: Any, data: Path) -> dict[str, Any]:
    from scaiecho_node.calibrate import LIBRISPEECH, embed_halves, evaluate, folds

    if not (data / LIBRISPEECH).is_dir():
        return {}
    trials = embed_halves(engine, data, Path(".bench/ident_embeddings.npz"))
    _, fold_b = folds(trials)
    ev = evaluate(fold_b, engine.threshold)
    return {
        "identification_accuracy": round(ev["identification_accuracy"], 4),
        "false_accept_rate": round(ev["false_accept_rate"], 4),
        "identification_threshold": engine.threshold,
        "identification_readers": int(ev["readers"]),
    }


def embed_latency(engine: Any, data: Path) -> dict[str, Any]:
    from scaiecho.audio.decode import decode_audio

    files = sorted((data / "librispeech-train-clean-100").glob("*.flac"))
    if not files:
        return {}
    audio = decode_audio(files[0].read_bytes())
    import dataclasses

    clip = dataclasses.replace(audio, samples=audio.samples[: 10 * 16000])
    engine.embed(clip)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        engine.embed(clip)
        times.append(time.perf_counter() - t0)
    return {"embed_latency_10s_s": round(float(np.median(times)), 3)}


def long_audio(data: Path, minutes: float) -> np.ndarray:
    """``minutes`` of speech: LibriSpeech utterances back to back with 0.5 s pauses.

    Filled into one preallocated array, reading one file at a time, so building it does not
    inflate the peak RSS being measured.
    """
    import soundfile as sf

    files = sorted((data / "librispeech-train-clean-100").glob("*.flac"))
    target = int(minutes * 60 * 16000)
    out = np.zeros(target, np.float32)
    n, i = 0, 0
    while n < target and files:
        samples, _ = sf.read(files[i % len(files)], dtype="float32")
        take = min(len(samples), target - n)
        out[n : n + take] = samples[:take]
        n += take + 8000
        i += 1
    return out


def rtf_30s(engine: Any, data: Path, runs: int = 3) -> float:
    """Median real-time factor of 30 s of the long-audio speech, on the warm bench engine: the
    reference the hour is held to (a fresh process's first call adds one-off set-up)."""
    from scaiecho.audio.decode import DecodedAudio

    audio = DecodedAudio(long_audio(data, 0.5), 16000, "wav", 16000, 1, 0.0)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        engine.diarize(audio)
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) / audio.duration_s, 4)


def rss_probe(data: Path, minutes: float, model_dir: str | None) -> dict[str, Any]:
    """Run in a child: load the engine, diarize ``minutes`` of audio, report peak RSS."""
    from scaiecho.audio.decode import DecodedAudio
    from scaiecho_node.engine import Engine
    from scaiecho_node.settings import NodeSettings

    samples = long_audio(data, minutes)
    t0 = time.perf_counter()
    engine = Engine(NodeSettings.from_env(model_dir=model_dir))
    load_s = time.perf_counter() - t0
    engine.warm_up()  # as the node does before answering /ping
    before_kb = peak_rss_kb()
    t0 = time.perf_counter()
    result = engine.diarize(DecodedAudio(samples, 16000, "wav", 16000, 1, 0.0))
    run_s = time.perf_counter() - t0
    return {
        "peak_rss_mb": round(peak_rss_kb() / 1024, 1),
        "rss_before_diarize_mb": round(before_kb / 1024, 1),
        "load_s": round(load_s, 2),
        "rtf": round(run_s / (len(samples) / 16000), 4),
        "speakers": len(result.speakers),
    }


def peak_rss_kb() -> int:
    """Peak resident set of this process (VmHWM).

    Not ``ru_maxrss``: Linux carries that across fork+exec, so a child started by a large
    parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _child_rss(data: Path, minutes: float, model_dir: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "scaiecho_node.bench", "--data", str(data), "--rss-probe", str(minutes)]
    if model_dir:
        cmd += ["--model-dir", model_dir]
    # our own interpreter and module, fixed arguments
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=3600)  # noqa: S603
    parsed: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


def print_table(keys: dict[str, Any]) -> None:
    width = max(len(k) for k in keys)
    for k in sorted(keys):
        print(f"{k.ljust(width)}  {keys[k]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaiecho_node.bench", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path(".bench/latest.json"))
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--rss-30min", action="store_true", help="also measure 30 min of audio")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-stock", action="store_true", help="skip pyannote's stock pipeline")
    parser.add_argument("--rss-60min", action="store_true", help="also measure an hour of audio")
    parser.add_argument("--calibration", type=Path, default=Path(".bench/diarization_calibration.json"))
    parser.add_argument("--rss-probe", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.rss_probe is not None:
        print(json.dumps(rss_probe(args.data, args.rss_probe, args.model_dir)))
        return 0

    from scaiecho_node.engine import Engine
    from scaiecho_node.settings import NodeSettings

    keys: dict[str, Any] = {
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    t0 = time.perf_counter()
    engine = Engine(NodeSettings.from_env(model_dir=args.model_dir))
    keys["model_load_s"] = round(time.perf_counter() - t0, 2)
    keys["model_version"] = engine.model.model_version
    if args.data.is_dir():
        keys.update(embed_latency(engine, args.data))
        keys.update(diarization_keys(engine, args.data, Path(engine.model.model_dir),
                                     stock=not args.skip_stock))
        keys.update(lever_keys(args.calibration))
        keys.update(identification_keys(engine, args.data))
        if not args.skip_rss and (args.data / "librispeech-train-clean-100").is_dir():
            keys["rtf_diarization_30s"] = rtf_30s(engine, args.data)
            one = _child_rss(args.data, 1.0, args.model_dir)
            keys["node_peak_rss_mb"] = one["peak_rss_mb"]
            if args.rss_30min:
                thirty = _child_rss(args.data, 30.0, args.model_dir)
                keys["node_peak_rss_mb_30min"] = thirty["peak_rss_mb"]
                keys["rtf_diarization_30min"] = thirty["rtf"]
            if args.rss_60min:
                hour = _child_rss(args.data, 60.0, args.model_dir)
                keys["node_peak_rss_mb_60min"] = hour["peak_rss_mb"]
                keys["rtf_diarization_60min"] = hour["rtf"]
            keys["rtf_diarization_1min"] = one["rtf"]
    merge_results(args.out, keys)
    print_table(keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
