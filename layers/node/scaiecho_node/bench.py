"""Engine benchmark: DER, real-time factor, identification, memory.

    python -m scaiecho_node.bench [--data /work/shared/data] [--out .bench/latest.json]
                                  [--rss-30min]

Merges these flat keys into ``--out`` (read-modify-write: other parts' keys are kept) and
prints a table. Keys that need the dev data are left out when it is absent, never faked.

- ``der_sample``: pyannote.metrics DER (collar 0, overlap counted) on pyannote's sample.wav
- ``der_simulated``: same metric over simulated 2-4 speaker LibriSpeech conversations (seed 1234)
- ``rtf_diarization``: diarize wall time / audio duration over all of the above (warm engine)
- ``identification_accuracy``, ``false_accept_rate``: calibrate.py's protocol, fold B
- ``node_peak_rss_mb`` (1 min of audio) and ``node_peak_rss_mb_30min``: peak RSS of a fresh
  process that loads the engine and diarizes that much audio
- ``model_load_s``, ``embed_latency_10s_s``, ``machine``, ``date``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
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


def _annotation(turns: list[tuple[float, float, str]], uri: str) -> Any:
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for s, e, label in turns:
        ann[Segment(s, e)] = label
    return ann


def _rttm(path: Path) -> list[tuple[float, float, str]]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            out.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


def diarization_keys(engine: Any, data: Path) -> dict[str, Any]:
    from pyannote.metrics.diarization import DiarizationErrorRate

    from scaiecho.audio.decode import decode_audio
    from scaiecho_node.simulate import load_utterances, make_conversations

    keys: dict[str, Any] = {}
    audio_s = 0.0
    wall_s = 0.0
    cpu_s = 0.0
    sample_dir = data / "pyannote-sample"
    if (sample_dir / "sample.wav").is_file():
        audio = decode_audio((sample_dir / "sample.wav").read_bytes())
        engine.diarize(audio)  # warm-up run, not timed
        t0, c0 = time.perf_counter(), time.process_time()
        result = engine.diarize(audio)
        wall_s += time.perf_counter() - t0
        cpu_s += time.process_time() - c0
        audio_s += audio.duration_s
        hyp = _annotation([(t.start, t.end, t.speaker) for t in result.turns], "sample")
        ref = _annotation(_rttm(sample_dir / "sample.rttm"), "sample")
        keys["der_sample"] = round(float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp)), 4)
    libri = data / "librispeech-train-clean-100"
    if libri.is_dir():
        from scaiecho.audio.decode import DecodedAudio

        metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
        per = []
        for conv in make_conversations(load_utterances(libri), count=SIM_COUNT, seed=SIM_SEED):
            audio = DecodedAudio(conv.samples, 16000, "wav", 16000, 1, 0.0)
            t0, c0 = time.perf_counter(), time.process_time()
            result = engine.diarize(audio)
            wall_s += time.perf_counter() - t0
            cpu_s += time.process_time() - c0
            audio_s += audio.duration_s
            hyp = _annotation([(t.start, t.end, t.speaker) for t in result.turns], conv.uri)
            per.append(round(float(metric(_annotation(conv.reference, conv.uri), hyp)), 4))
        keys["der_simulated"] = round(float(abs(metric)), 4)
        total = float(metric.accumulated_["total"]) or 1.0
        for part, name in (("confusion", "confusion"), ("missed detection", "miss"),
                           ("false alarm", "false_alarm")):
            keys[f"der_simulated_{name}"] = round(float(metric.accumulated_[part]) / total, 4)
        keys["der_simulated_per_conversation"] = per
    if audio_s:
        keys["rtf_diarization"] = round(wall_s / audio_s, 4)
        keys["rtf_diarization_cpu_per_core"] = round(cpu_s / audio_s / (os.cpu_count() or 1), 4)
        keys["bench_audio_s"] = round(audio_s, 1)
    return keys


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
        keys.update(diarization_keys(engine, args.data))
        keys.update(identification_keys(engine, args.data))
        if not args.skip_rss and (args.data / "librispeech-train-clean-100").is_dir():
            one = _child_rss(args.data, 1.0, args.model_dir)
            keys["node_peak_rss_mb"] = one["peak_rss_mb"]
            if args.rss_30min:
                thirty = _child_rss(args.data, 30.0, args.model_dir)
                keys["node_peak_rss_mb_30min"] = thirty["peak_rss_mb"]
                keys["rtf_diarization_30min"] = thirty["rtf"]
    merge_results(args.out, keys)
    print_table(keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
