"""A small streaming client: the one behind ``scaiecho stream FILE``, the bench and the e2e tests.

Sends 16 kHz mono 16-bit PCM in binary frames (paced at ``speed`` x real time; 0 = as fast as
possible) while a reader thread collects server frames as they arrive. For each delta it notes
the wall-clock delay between sending the audio at the delta's ``end`` and receiving the delta.
Frames are written and checked with the protocol's models (``off_contract`` lists any that
do not match).
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from scaiecho.contracts.stream import SERVER_FRAMES, CloseMessage, OpenMessage

RATE = 16_000
ADVISORIES = frozenset({"falling_behind"})
CHUNK_S = 0.2  # 200 ms frames: each frame is a session read + write


@dataclass
class StreamResult:
    frames: list[dict[str, Any]] = field(default_factory=list)
    # server frames that do not match the protocol's models (scaiecho.contracts.stream)
    off_contract: list[str] = field(default_factory=list)

    def add(self, message: str | bytes) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(message)
        try:
            SERVER_FRAMES.validate_python(frame)
        except ValidationError as exc:
            self.off_contract.append(f"{frame.get('type')!r}: {exc.errors()[0]['msg']}")
        self.frames.append(frame)
        return frame
    latencies_s: list[float] = field(default_factory=list)  # audio end of utterance -> delta

    @property
    def deltas(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "delta"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "error"]

    @property
    def problems(self) -> list[dict[str, Any]]:
        """Error frames other than load advisories: ``falling_behind`` says the nodes are slower
        than the audio arrives (always so for a client sending faster than real time), which is
        timing, not a fault."""
        return [f for f in self.errors if f.get("code") not in ADVISORIES]


def stream_samples(
    url: str, api_key: str, samples: np.ndarray, *, diarize: bool = False, language: str | None = "en",
    speed: float = 1.0, on_frame: Callable[[dict[str, Any]], None] | None = None,
    timeout_s: float = 300.0,
) -> StreamResult:
    """Stream float samples (16 kHz mono) and return every server frame up to ``closed``."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2").tobytes()
    chunk = int(CHUNK_S * RATE) * 2
    result = StreamResult()
    sent_until: list[float] = []  # session seconds of audio sent so far, per chunk
    sent_at: list[float] = []  # ...and when it was sent
    done = threading.Event()

    with connect(url, additional_headers={"Authorization": f"Bearer {api_key}"},
                 open_timeout=30, max_size=2**20) as ws:

        def read() -> None:
            try:
                for message in ws:
                    now = time.monotonic()
                    frame = result.add(message)
                    if frame.get("type") == "delta" and sent_until:
                        i = min(bisect.bisect_left(sent_until, float(frame["end"])), len(sent_at) - 1)
                        result.latencies_s.append(now - sent_at[i])
                    if on_frame is not None:
                        on_frame(frame)
                    if frame.get("type") == "closed":
                        break  # (after a fatal error the server closes the socket: the loop ends)
            except ConnectionClosed:  # closed abruptly: the frames so far are the answer
                return
            finally:
                done.set()

        ws.send(json.dumps(OpenMessage(type="open", language_hint=language, media_type="audio/pcm",
                                       diarize=diarize, sample_rate=RATE).wire()))
        first = result.add(ws.recv(timeout=timeout_s))
        if on_frame is not None:
            on_frame(first)
        if first.get("type") != "ready":
            return result
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        started = time.monotonic()
        for i in range(0, len(pcm), chunk):
            if done.is_set():
                break
            if speed > 0:
                due = started + (i / 2 / RATE) / speed
                time.sleep(max(0.0, due - time.monotonic()))
            ws.send(pcm[i:i + chunk])
            sent_until.append(min(i + chunk, len(pcm)) / 2 / RATE)
            sent_at.append(time.monotonic())
        if not done.is_set():
            ws.send(json.dumps(CloseMessage(type="close").wire()))
        done.wait(timeout_s)
    return result

