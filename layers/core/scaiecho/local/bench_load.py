"""Load benchmark on the embedded default (loopback only, bounded): ``make bench-load``.

    python -m scaiecho.local.bench_load [--streams 1,2,4,6] [--enrollments 20]
                                        [--out .bench/latest.json]

Three phases on one real stack (two pyannote nodes, the real API and WebSocket gateway):

1. **Streams.** For each N in ``--streams``: N real-time paced WebSocket streams of real speech
   at once (diarize on, two readers enrolled). Per N: delta latency p50/p95 (audio end of an
   utterance → its delta), deltas, refusals (``capacity_exhausted`` at open), ``falling_behind``
   frames, errors and dropped connections. Every stream sends the same recording from the same
   instant, so every utterance of every stream ends at once: the worst case for the nodes. For
   each N in ``--staggered`` the same again with stream i starting i x ``STAGGER_S`` later, as
   independent conversations do (``load_streams_<N>_staggered_delta_*``).
2. **Enrollments.** M enrollments of real speech submitted at once: the intake's answer time,
   how many answered ``ready``/``pending``/``failed``, and time to ``ready`` for all of them
   (pending ones polled until they settle), p50/p95.
3. **Both at once.** The M enrollments again while ``--mixed-streams`` streams run, plus a
   keepalive probe: a socket that pings every second (as browsers and ``websockets`` do), to count
   pings the server failed to answer within 10 s and dropped connections.

The largest N whose p95 stayed within ``LATENCY_GOAL_S`` is reported as
``load_streams_held_p95_goal``. Every client runs here on loopback; nothing else is contacted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaiecho.local.bench import (
    CONSENT_103,
    SPEECH,
    enroll_ready,
    merge_results,
    percentile,
    print_results,
    running_stack,
    stream_recording,
)

LATENCY_GOAL_S = 1.5
STAGGER_S = 1.0  # start offset between staggered streams (a typical utterance lasts 2-5 s)
_ENROLL_ERRORS: list[str] = []  # what refused enrollments said, reported as load_enroll_errors
ENROLL_SETTLE_TIMEOUT_S = 300.0
PING_INTERVAL_S = 1.0
PING_TIMEOUT_S = 10.0


@dataclass
class StreamOutcome:
    latencies_s: list[float] = field(default_factory=list)
    deltas: int = 0
    refused: bool = False
    behind_frames: int = 0
    errors: list[str] = field(default_factory=list)
    dropped: bool = False


def _one_stream(stack: Any, recording: Any, delay_s: float = 0.0) -> StreamOutcome:
    from websockets.exceptions import ConnectionClosedError

    from scaiecho.local.stream_client import stream_samples

    time.sleep(delay_s)
    out = StreamOutcome()
    try:
        result = stream_samples(stack.stream_url, stack.demo_api_key, recording, diarize=True,
                                speed=1.0, timeout_s=180.0)
    except ConnectionClosedError as exc:
        out.dropped = True
        out.errors.append(f"closed: {exc}")
        return out
    except Exception as exc:  # handshake refused, timeout: counted, not fatal
        out.dropped = True
        out.errors.append(f"{type(exc).__name__}: {exc}")
        return out
    out.latencies_s = result.latencies_s
    out.deltas = len(result.deltas)
    for frame in result.errors:
        code = str(frame.get("code") or (frame.get("error") or {}).get("code"))
        if code == "capacity_exhausted":
            out.refused = True
        elif code == "falling_behind":
            out.behind_frames += 1
        else:
            out.errors.append(code)
    if not out.refused and not any(f.get("type") == "closed" for f in result.frames):
        out.dropped = True
        last = result.frames[-1] if result.frames else {}
        out.errors.append(f"ended without closed after {out.deltas} deltas; last frame "
                          f"{last.get('type')}/{last.get('code', '')}")
    return out


def _streams_at_once(stack: Any, recording: Any, n: int, stagger_s: float = 0.0) -> list[StreamOutcome]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: _one_stream(stack, recording, i * stagger_s), range(n)))


def _stream_keys(prefix: str, outcomes: list[StreamOutcome]) -> dict[str, Any]:
    latencies = [t for o in outcomes for t in o.latencies_s]
    return {
        f"{prefix}_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        f"{prefix}_p95_s": round(percentile(latencies, 0.95), 3) if latencies else None,
        f"{prefix}_deltas": sum(o.deltas for o in outcomes),
        f"{prefix}_refused": sum(o.refused for o in outcomes),
        f"{prefix}_behind_frames": sum(o.behind_frames for o in outcomes),
        f"{prefix}_errors": sum(len(o.errors) for o in outcomes if not o.dropped),
        f"{prefix}_dropped": sum(o.dropped for o in outcomes),
        f"{prefix}_drop_reasons": sorted({e for o in outcomes if o.dropped for e in o.errors}),
    }


def _enroll(http: Any, name: str) -> tuple[float, str, str | None]:
    """(seconds to the intake's answer, enrollment_status or error code, speaker id)."""
    started = time.perf_counter()
    resp = http.post(
        "/speakers",
        data={"display_name": name, "language_primary": "en",
              "consent_user_full_name": "Load Reader", "consent_stated_purpose": "load benchmark",
              "consent_text": CONSENT_103, "allow_duplicate_voice": "true"},
        files={"reference": ("r.flac", (SPEECH / "speaker_f_103.flac").read_bytes(), "audio/flac"),
               "consent": ("c.flac", (SPEECH / "consent_103.flac").read_bytes(), "audio/flac")},
    )
    elapsed = time.perf_counter() - started
    body = resp.json()
    if resp.status_code != 201:
        error = body.get("error") or {}
        _ENROLL_ERRORS.append(f"{resp.status_code} {error.get('code')}: "
                              f"{str(error.get('details') or error.get('message'))[:300]}")
        return elapsed, str(error.get("code", resp.status_code)), None
    data = body["data"]
    return elapsed, str(data["enrollment_status"]), str(data["speaker_id"])


def _settle(http: Any, speaker_id: str, started: float) -> tuple[str, float]:
    """Poll a speaker until it leaves ``pending``; (final status, seconds since submit)."""
    deadline = started + ENROLL_SETTLE_TIMEOUT_S
    status = "pending"
    while time.perf_counter() < deadline:
        resp = http.get(f"/speakers/{speaker_id}")
        status = str(resp.json().get("data", {}).get("enrollment_status", "missing"))
        if status != "pending":
            break
        time.sleep(0.5)
    return status, time.perf_counter() - started


def _enrollments_at_once(http: Any, m: int, tag: str) -> dict[str, Any]:
    def one(i: int) -> tuple[float, str, str, float]:
        t0 = time.perf_counter()
        answer_s, status, speaker_id = _enroll(http, f"{tag} {i}")
        final, ready_s = (status, answer_s)
        if status == "pending" and speaker_id:
            final, ready_s = _settle(http, speaker_id, t0)
        return answer_s, status, final, ready_s

    with ThreadPoolExecutor(m) as pool:
        rows = list(pool.map(one, range(m)))
    answers = [r[0] for r in rows]
    ready = [r[3] for r in rows if r[2] == "ready"]
    return {
        f"{tag}_answer_p50_s": round(statistics.median(answers), 3),
        f"{tag}_answer_p95_s": round(percentile(answers, 0.95), 3),
        f"{tag}_answered_ready": sum(r[1] == "ready" for r in rows),
        f"{tag}_answered_pending": sum(r[1] == "pending" for r in rows),
        f"{tag}_answered_other": sum(r[1] not in ("ready", "pending") for r in rows),
        f"{tag}_ready_final": len(ready),
        f"{tag}_ready_p50_s": round(statistics.median(ready), 3) if ready else None,
        f"{tag}_ready_p95_s": round(percentile(ready, 0.95), 3) if ready else None,
        f"{tag}_count": m,
    }


class KeepaliveProbe:
    """A WebSocket that only pings, as a browser tab left open would: counts unanswered pings."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.pings = 0
        self.missed = 0
        self.worst_s = 0.0
        self.dropped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> KeepaliveProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(PING_TIMEOUT_S + 5)

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosedOK
        from websockets.sync.client import connect

        while not self._stop.is_set():
            try:
                with connect(self.stack.stream_url, open_timeout=30,
                             additional_headers={"Authorization": f"Bearer {self.stack.demo_api_key}"},
                             ping_interval=None) as ws:
                    while not self._stop.wait(PING_INTERVAL_S):
                        t0 = time.perf_counter()
                        pong = ws.ping()
                        self.pings += 1
                        if not pong.wait(PING_TIMEOUT_S):
                            self.missed += 1
                        self.worst_s = max(self.worst_s, time.perf_counter() - t0)
            except ConnectionClosedOK:
                continue  # the server's idle timeout (pings are not frames): connect again
            except Exception:
                self.dropped = not self._stop.is_set()
                return


def bench_load(model_dir: str | None, stream_levels: list[int], enrollments: int,
               mixed_streams: int, staggered_levels: list[int] | None = None) -> dict[str, Any]:
    from scaiecho.local.stack import say

    results: dict[str, Any] = {"load_latency_goal_s": LATENCY_GOAL_S}
    with running_stack(model_dir) as (stack, http):
        enroll_ready(http, "load reader")  # a voiceprint for the streams to match
        recording = stream_recording()
        results["load_stream_audio_s"] = round(len(recording) / 16_000, 1)
        _streams_at_once(stack, recording, 1)  # warm-up: first-call costs on both nodes
        held = 0
        for n in stream_levels:
            say(f"bench-load: {n} concurrent stream(s)")
            keys = _stream_keys(f"load_streams_{n}_delta", _streams_at_once(stack, recording, n))
            results.update(keys)
            p95 = keys[f"load_streams_{n}_delta_p95_s"]
            if (p95 is not None and p95 <= LATENCY_GOAL_S and not keys[f"load_streams_{n}_delta_dropped"]
                    and not keys[f"load_streams_{n}_delta_refused"]):
                held = max(held, n)
        results["load_streams_held_p95_goal"] = held
        for n in staggered_levels or []:
            say(f"bench-load: {n} concurrent stream(s), started {STAGGER_S:g} s apart")
            results.update(_stream_keys(f"load_streams_{n}_staggered_delta",
                                        _streams_at_once(stack, recording, n, STAGGER_S)))
        if enrollments:
            say(f"bench-load: {enrollments} concurrent enrollments")
            results.update(_enrollments_at_once(http, enrollments, "load_enroll"))
            say(f"bench-load: {enrollments} enrollments with {mixed_streams} stream(s) and a keepalive probe")
            with KeepaliveProbe(stack) as probe, ThreadPoolExecutor(1) as pool:
                streams = (pool.submit(_streams_at_once, stack, recording, mixed_streams)
                           if mixed_streams else None)
                results.update(_enrollments_at_once(http, enrollments, "load_mixed_enroll"))
                if streams is not None:
                    results.update(_stream_keys("load_mixed_streams_delta", streams.result()))
            results["load_mixed_pings"] = probe.pings
            results["load_mixed_pings_missed"] = probe.missed
            results["load_mixed_ping_worst_s"] = round(probe.worst_s, 3)
            results["load_mixed_probe_dropped"] = int(probe.dropped)
            results["load_enroll_errors"] = sorted(set(_ENROLL_ERRORS))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scaiecho.local.bench_load", description=__doc__)
    parser.add_argument("--out", default=".bench/latest.json")
    parser.add_argument("--streams", default="1,2,4,6", help="comma-separated concurrent stream counts")
    parser.add_argument("--staggered", default="4",
                        help="comma-separated stream counts to run again with staggered starts")
    parser.add_argument("--enrollments", type=int, default=20)
    parser.add_argument("--mixed-streams", type=int, default=2)
    parser.add_argument("--model-dir", default=os.environ.get("SCAIECHO_MODEL_DIR"))
    args = parser.parse_args()
    levels = [int(x) for x in args.streams.split(",") if x.strip()]
    staggered = [int(x) for x in args.staggered.split(",") if x.strip()]
    if (not levels or min(levels + staggered) < 1 or max(levels + staggered) > 16
            or not 0 <= args.enrollments <= 50):
        parser.error("streams must be 1-16 each, enrollments 0-50 (the bench is bounded)")
    results = bench_load(args.model_dir, levels, args.enrollments, args.mixed_streams, staggered)
    merge_results(Path(args.out), results)
    print_results("load benchmark (embedded default, loopback)", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
