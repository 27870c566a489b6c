"""Stack benchmarks on the embedded default: enrollment latency (intake -> ready, two nodes) and
erasure latency (DELETE /speakers/{id} -> complete, evicted on two nodes).

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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bench_enrollment(runs: int, model_dir: str | None) -> dict[str, Any]:
    import httpx

    from scaiecho.local.stack import LocalStack, StackConfig, free_port

    config = StackConfig(port=free_port(), nodes=2, model_dir=model_dir, write_state_file=False)
    stack = LocalStack(config)
    latencies: list[float] = []
    try:
        stack.start_aws()
        stack.create_demo_key()
        stack.start_nodes()
        stack.start_api(in_thread=True)
        ready_nodes = len(stack.nodes)
        reference = (SPEECH / "speaker_f_103.flac").read_bytes()
        consent = (SPEECH / "consent_200.flac").read_bytes()
        with httpx.Client(base_url=stack.api_url, timeout=300,
                          headers={"Authorization": f"Bearer {stack.demo_api_key}"}) as http:
            for i in range(runs + 1):
                started = time.perf_counter()
                resp = http.post(
                    "/speakers",
                    data={"display_name": f"bench {i}", "language_primary": "en",
                          "consent_user_full_name": "Bench Reader",
                          "consent_stated_purpose": "benchmark",
                          "consent_text": "I agree to the storage of my voiceprint."},
                    files={"reference": ("r.flac", reference, "audio/flac"),
                           "consent": ("c.flac", consent, "audio/flac")},
                )
                elapsed = time.perf_counter() - started
                data = resp.json().get("data", {})
                if resp.status_code != 201 or data.get("enrollment_status") != "ready":
                    raise RuntimeError(f"enrollment not ready: {resp.status_code} {resp.text[:300]}")
                if i > 0:  # the first run warms caches (imports, model threads)
                    latencies.append(elapsed)
    finally:
        stack.stop()
    return {
        "enroll_latency_p50_s": round(statistics.median(latencies), 3),
        "enroll_latency_p95_s": round(percentile(latencies, 0.95), 3),
        "enroll_runs": len(latencies),
        "enroll_nodes": ready_nodes,
        "enroll_reference_s": 14.1,
    }


def bench_erasure(runs: int, model_dir: str | None) -> dict[str, Any]:
    """Enroll N+1 speakers on two real nodes, then time each DELETE until its audit is complete."""
    import httpx

    from scaiecho.local.stack import LocalStack, StackConfig, free_port

    config = StackConfig(port=free_port(), nodes=2, model_dir=model_dir, write_state_file=False)
    stack = LocalStack(config)
    latencies: list[float] = []
    try:
        stack.start_aws()
        stack.create_demo_key()
        stack.start_nodes()
        stack.start_api(in_thread=True)
        nodes = len(stack.nodes)
        reference = (SPEECH / "speaker_f_103.flac").read_bytes()
        consent = (SPEECH / "consent_200.flac").read_bytes()
        with httpx.Client(base_url=stack.api_url, timeout=300,
                          headers={"Authorization": f"Bearer {stack.demo_api_key}"}) as http:
            speaker_ids = []
            for i in range(runs + 1):
                resp = http.post(
                    "/speakers",
                    data={"display_name": f"erasure bench {i}", "language_primary": "en",
                          "consent_user_full_name": "Bench Reader",
                          "consent_stated_purpose": "benchmark",
                          "consent_text": "I agree to the storage of my voiceprint."},
                    files={"reference": ("r.flac", reference, "audio/flac"),
                           "consent": ("c.flac", consent, "audio/flac")},
                )
                data = resp.json().get("data", {})
                if resp.status_code != 201 or data.get("enrollment_status") != "ready":
                    raise RuntimeError(f"enrollment not ready: {resp.status_code} {resp.text[:300]}")
                speaker_ids.append(data["speaker_id"])
            for i, speaker_id in enumerate(speaker_ids):
                started = time.perf_counter()
                resp = http.delete(f"/speakers/{speaker_id}")
                elapsed = time.perf_counter() - started
                report = resp.json().get("data", {})
                if resp.status_code != 200 or report.get("status") != "complete":
                    raise RuntimeError(f"erasure not complete: {resp.status_code} {resp.text[:300]}")
                if i > 0:  # the first run warms caches
                    latencies.append(elapsed)
    finally:
        stack.stop()
    return {
        "erasure_latency_p50_s": round(statistics.median(latencies), 3),
        "erasure_latency_p95_s": round(percentile(latencies, 0.95), 3),
        "erasure_runs": len(latencies),
        "erasure_nodes": nodes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=".bench/latest.json")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--model-dir", default=os.environ.get("SCAIECHO_MODEL_DIR"))
    args = parser.parse_args()
    results = bench_enrollment(args.runs, args.model_dir)
    results.update(bench_erasure(args.runs, args.model_dir))
    merge_results(Path(args.out), results)
    width = max(len(k) for k in results)
    print("\nstack benchmark (embedded default)")
    for key, value in results.items():
        print(f"  {key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
