"""Stack benchmarks on the embedded default: enrollment latency (intake -> ready, two nodes),
erasure latency (DELETE /speakers/{id} -> complete, evicted on two nodes), transcription jobs
(end-to-end time per audio minute, throughput, word-level speaker attribution: bench_jobs.py) and
streaming delta latency (audio end of an utterance -> its delta, real-time paced WebSocket streams).

``python -m scaiecho.local.bench --out .bench/latest.json`` merges its keys into the JSON (other
parts' keys are kept) and prints a table. Latencies are wall-clock medians/p95 over N enrollments
of real speech through the real HTTP API, workflow and nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SPEECH = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "speech"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": cpu}


def merge_results(out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Read-modify-write: each bench part owns its keys and keeps everyone else's."""
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        current: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    except ValueError:
        current = {}  # a half-written file from an interrupted run
    current.update(results)
    current["machine"] = machine()
    current["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(current, indent=2, sort_keys=True))
    return current


def print_results(title: str, results: dict[str, Any]) -> None:
    """The table a bench prints after merging its keys into the JSON."""
    width = max(len(k) for k in results)
    print(f"\n{title}")
    for key, value in results.items():
        print(f"  {key:<{width}}  {value}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def running_stack(model_dir: str | None) -> Iterator[tuple[Any, Any]]:
    """The real embedded stack with two nodes, and an authenticated HTTP client for it."""
    import httpx

    from scaiecho.local.stack import LocalStack, StackConfig, free_port

    stack = LocalStack(StackConfig(port=free_port(), nodes=2, model_dir=model_dir, write_state_file=False))
    try:
        stack.start_aws()
        stack.create_demo_key()
        stack.start_nodes()
        stack.start_api(in_thread=True)
        with httpx.Client(base_url=stack.api_url, timeout=300,
                          headers={"Authorization": f"Bearer {stack.demo_api_key}"}) as http:
            yield stack, http
    finally:
        stack.stop()


# What reader 103 says in consent_103.flac (tests/fixtures/speech/CREDITS.md).
CONSENT_103 = ("The Avonlea main road dipped down into a little hollow, fringed with alders and "
               "ladies' eardrops and traversed by a brook.")


def enroll_ready(http: Any, name: str) -> str:
    """One enrollment of real speech (consent checks included: intake → ready); returns the
    speaker id once it is ready. Runs enroll one voice repeatedly: duplicates allowed."""
    resp = http.post(
        "/speakers",
        data={"display_name": name, "language_primary": "en",
              "consent_user_full_name": "Bench Reader", "consent_stated_purpose": "benchmark",
              "consent_text": CONSENT_103, "allow_duplicate_voice": "true"},
        files={"reference": ("r.flac", (SPEECH / "speaker_f_103.flac").read_bytes(), "audio/flac"),
               "consent": ("c.flac", (SPEECH / "consent_103.flac").read_bytes(), "audio/flac")},
    )
    data = resp.json().get("data", {})
    if resp.status_code != 201 or data.get("enrollment_status") != "ready":
        raise RuntimeError(f"enrollment not ready: {resp.status_code} {resp.text[:300]}")
    return str(data["speaker_id"])


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def summarize(prefix: str, latencies: list[float], nodes: int) -> dict[str, Any]:
    return {
        f"{prefix}_latency_p50_s": round(statistics.median(latencies), 3),
        f"{prefix}_latency_p95_s": round(percentile(latencies, 0.95), 3),
        f"{prefix}_runs": len(latencies),
        f"{prefix}_nodes": nodes,
    }


AUDIO = SPEECH.parent / "audio"
STREAM_SESSIONS = 3


def stream_recording() -> Any:
    """~40 s of four LibriSpeech readers with 1 s pauses (the e2e test's material, plus one)."""
    import numpy as np
    import soundfile as sf

    parts = [sf.read(p, dtype="float32")[0] for p in (
        SPEECH / "speaker_f_103.flac", SPEECH / "speaker_m_1040.flac",
        AUDIO / "1034-121119-0000.flac", AUDIO / "26-495-0000.flac")]
    gap = np.zeros(16_000, dtype=np.float32)
    return np.concatenate([x for part in parts for x in (part, gap)])


def bench_stream(stack: Any, http: Any) -> dict[str, Any]:
    """Delta latency with diarize on (two readers enrolled), first one session, then
    ``STREAM_SESSIONS`` at once; sessions held = the most sockets the gateway held at one time."""
    import threading

    from scaiecho.local.stack import say
    from scaiecho.local.stream_client import stream_samples

    enroll_ready(http, "stream bench")
    recording = stream_recording()

    def one() -> list[float]:
        result = stream_samples(stack.stream_url, stack.demo_api_key, recording, diarize=True, speed=1.0)
        if result.errors or not result.deltas:
            raise RuntimeError(f"stream failed: {result.frames[-3:]}")
        return result.latencies_s

    single = one()
    held, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            held[0] = max(held[0], len(stack.stream_replies))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_: int) -> list[float] | None:
        try:
            return one()
        except Exception as exc:  # a session that broke under load is counted, not fatal
            say(f"a concurrent stream failed: {type(exc).__name__}: {exc}")
            return None

    with ThreadPoolExecutor(STREAM_SESSIONS) as pool:
        outcomes = list(pool.map(attempt, range(STREAM_SESSIONS)))
    done.set()
    watcher.join()
    loaded = [t for ts in outcomes if ts for t in ts] or [float("nan")]
    return {
        "stream_delta_latency_p50_s": round(statistics.median(single), 3),
        "stream_delta_latency_p95_s": round(percentile(single, 0.95), 3),
        "stream_deltas": len(single),
        "stream_audio_s": round(len(recording) / 16_000, 1),
        f"stream_delta_latency_p50_s_{STREAM_SESSIONS}_sessions": round(statistics.median(loaded), 3),
        f"stream_delta_latency_p95_s_{STREAM_SESSIONS}_sessions": round(percentile(loaded, 0.95), 3),
        "stream_sessions_held_max": held[0],
        f"stream_sessions_completed_of_{STREAM_SESSIONS}": sum(1 for ts in outcomes if ts),
        "stream_nodes": len(stack.nodes),
    }


def bench_enrollment(stack: Any, http: Any, runs: int) -> dict[str, Any]:
    """Enrollment (intake -> ready) and erasure (DELETE -> audit complete) on two real nodes.
    The first run of each warms caches (imports, model threads) and is not counted."""
    enrolled = [timed(enroll_ready, http, f"bench {i}") for i in range(runs + 1)]

    def erase(speaker_id: str) -> None:
        resp = http.delete(f"/speakers/{speaker_id}")
        if resp.status_code != 200 or resp.json()["data"].get("status") != "complete":
            raise RuntimeError(f"erasure not complete: {resp.status_code} {resp.text[:300]}")

    erased = [timed(erase, speaker_id)[0] for _, speaker_id in enrolled]
    nodes = len(stack.nodes)
    results = summarize("enroll", [t for t, _ in enrolled[1:]], nodes)
    results["enroll_reference_s"] = 14.1
    results.update(summarize("erasure", erased[1:], nodes))
    return results


def bench_stack(runs: int, model_dir: str | None, *, parts: tuple[str, ...] = ("enroll", "jobs", "stream"),
                job_conversations: int = 6) -> dict[str, Any]:
    import httpx

    from scaiecho.local.bench_jobs import bench_job_der, bench_jobs
    from scaiecho.local.stack import ALL_SCOPES
    from scaiecho.services.keys import create_key

    results: dict[str, Any] = {}
    with running_stack(model_dir) as (stack, http):
        if "enroll" in parts:
            results.update(bench_enrollment(stack, http, runs))
        if "jobs" in parts:
            # A tenant of its own: no enrolled speaker is a candidate (pure diarization).
            key = create_key("bench-jobs", ALL_SCOPES).api_key
            with httpx.Client(base_url=stack.api_url, timeout=300,
                              headers={"Authorization": f"Bearer {key}"}) as jobs_http:
                results.update(bench_jobs(jobs_http, "bench-jobs", job_conversations))
                results.update(bench_job_der(jobs_http))
        if "stream" in parts:
            results.update(bench_stream(stack, http))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=".bench/latest.json")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--model-dir", default=os.environ.get("SCAIECHO_MODEL_DIR"))
    parser.add_argument("--parts", default="enroll,jobs,stream",
                        help="comma-separated: enroll (enrollment + erasure), jobs, stream")
    parser.add_argument("--job-conversations", type=int, default=6)
    args = parser.parse_args()
    results = bench_stack(args.runs, args.model_dir, parts=tuple(args.parts.split(",")),
                          job_conversations=args.job_conversations)
    merge_results(Path(args.out), results)
    print_results("stack benchmark (embedded default)", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
