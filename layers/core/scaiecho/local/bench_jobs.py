"""Transcription-job benchmarks on the running embedded stack (two real nodes).

- ``job_e2e_s_per_audio_min``: submit → COMPLETED wall time per minute of audio, one job at a
  time (median over the simulated conversations);
- ``job_throughput_per_min``: the same jobs submitted at once, completed jobs per minute;
- ``word_speaker_accuracy``: over simulated LibriSpeech conversations with exact reference turns
  (``scaiecho_node.simulate``), the fraction of ASR words whose speaker in the transcript, after the
  optimal one-to-one mapping of labels to readers, is the reader speaking at the word's midpoint.
  Words at whose midpoint no reader speaks (pauses the reference leaves out) are not counted.
"""

from __future__ import annotations

import io
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

DEV_DATA = Path("/work/shared/data")
DATA = DEV_DATA / "librispeech-train-clean-100"
SIM_SEED = 1234


def _wav(samples: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _submit(http: Any, audio: bytes) -> str:
    resp = http.post("/transcribe", data={"diarize": "true", "language": "en"},
                     files={"audio": ("conversation.wav", audio, "audio/wav")})
    if resp.status_code != 202:
        raise RuntimeError(f"submit failed: {resp.status_code} {resp.text[:300]}")
    return str(resp.json()["data"]["job_id"])


def _wait(http: Any, job_id: str, timeout_s: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data: dict[str, Any] = http.get(f"/transcribe/{job_id}").json()["data"]
        if data["status"] in ("COMPLETED", "FAILED"):
            if data["status"] == "FAILED":
                raise RuntimeError(f"job {job_id} failed: {data.get('error')}")
            return data
        time.sleep(0.25)
    raise RuntimeError(f"job {job_id} did not finish")


def _asr_words(tenant_id: str, job_id: str) -> list[tuple[float, float]]:
    """The job's ASR words (start, end), read from its step result in the bucket."""
    from scaiecho.adapters.jobs import JobFiles, result_key

    doc = JobFiles().get_json(result_key(tenant_id, job_id, "asr"))
    return [(float(w["start"]), float(w["end"])) for s in doc["segments"] for w in s.get("words", [])]


def word_attribution(words: list[tuple[float, float]], segments: list[dict[str, Any]],
                     reference: list[tuple[float, float, str]]) -> tuple[int, int]:
    """(correctly attributed words, counted words) under the optimal label → reader mapping."""
    from scipy.optimize import linear_sum_assignment

    pairs: list[tuple[str | None, set[str]]] = []
    speech = [s for s in segments if s["type"] == "speech"]
    for start, end in words:
        mid = (start + end) / 2
        active = {r for s, e, r in reference if s <= mid < e}
        if not active:
            continue
        # GET answers segment times as strings ("0.50"), as the job document writes them.
        hyp = next((s.get("speaker") for s in speech
                    if float(s["start_time"]) <= mid <= float(s["end_time"])), None)
        pairs.append((hyp, active))
    if not pairs:
        return 0, 0
    hyps = sorted({h for h, _ in pairs if h is not None})
    refs = sorted({r for _, a in pairs for r in a})
    counts: Counter[tuple[str, str]] = Counter()
    for hyp, active in pairs:
        for r in active:
            if hyp is not None:
                counts[(hyp, r)] += 1
    gain = np.array([[counts[(h, r)] for r in refs] for h in hyps], dtype=float)
    mapping: dict[str, str] = {}
    if gain.size:
        rows, cols = linear_sum_assignment(-gain)
        mapping = {hyps[i]: refs[j] for i, j in zip(rows, cols, strict=True)}
    correct = sum(1 for hyp, active in pairs if hyp is not None and mapping.get(hyp) in active)
    return correct, len(pairs)


def bench_jobs(http: Any, tenant_id: str, count: int) -> dict[str, Any]:
    from scaiecho_node.simulate import load_utterances, make_conversations

    if not DATA.exists():
        return {}  # no dev data here: the keys stay absent rather than faked
    conversations = make_conversations(load_utterances(DATA), count=count, seed=SIM_SEED)
    audio = [_wav(c.samples) for c in conversations]
    minutes = [c.duration_s / 60 for c in conversations]

    _wait(http, _submit(http, audio[0]))  # warm-up (imports, model threads): not counted

    per_minute, correct, counted = [], 0, 0
    for conv, data, mins in zip(conversations, audio, minutes, strict=True):
        started = time.perf_counter()
        job_id = _submit(http, data)
        result = _wait(http, job_id)
        per_minute.append((time.perf_counter() - started) / mins)
        ok, n = word_attribution(_asr_words(tenant_id, job_id), result["segments"], conv.reference)
        correct += ok
        counted += n

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(audio)) as pool:
        job_ids = list(pool.map(lambda a: _submit(http, a), audio))
        list(pool.map(lambda j: _wait(http, j), job_ids))
    batch_s = time.perf_counter() - started

    return {
        "job_e2e_s_per_audio_min": round(statistics.median(per_minute), 2),
        "job_throughput_per_min": round(len(audio) / batch_s * 60, 2),
        "job_throughput_audio_min_per_min": round(sum(minutes) / batch_s * 60, 2),
        "job_bench_conversations": len(audio),
        "job_bench_audio_min": round(sum(minutes), 2),
        "word_speaker_accuracy": round(correct / counted, 4) if counted else None,
        "word_speaker_words": counted,
    }



def bench_job_der(http: Any, data: Path = DEV_DATA) -> dict[str, Any]:
    """The job path's DER: submit → COMPLETED → ``?format=rttm``, scored like the engine's.

    Same recordings, metric and keys scheme as ``scaiecho_node.bench`` (``der_<set>_job``), so
    the three paths sit side by side in ``.bench/latest.json``.
    """
    from scaiecho_node.evaluation import DER, farfield_items, parse_rttm, real_items

    items = real_items(data) + farfield_items(data, "test")
    if not items:
        return {}
    metrics: dict[str, Any] = {}
    for item in items:
        job_id = _submit(http, _wav(item.samples))
        _wait(http, job_id)
        resp = http.get(f"/transcribe/{job_id}", params={"format": "rttm"})
        resp.raise_for_status()
        group = "sample" if "sample" in item.tags else "real" if "real" in item.tags else "farfield"
        metrics.setdefault(group, DER()).add(item, parse_rttm(resp.text))
    keys: dict[str, Any] = {}
    for group, metric in metrics.items():
        summary = metric.summary()
        keys[f"der_{group}_job"] = summary["der"]
        keys[f"der_{group}_job_collar05"] = summary["der_collar05"]
    return keys
