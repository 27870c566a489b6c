"""Who runs next on a node's CPU models: live streams first, then request-path work, then jobs.

A node runs one inference at a time per model family (more threads on 2 cores only slow each
other down). A plain lock serves whoever grabbed it: a stream's 3 s utterance waited behind a
whole job's diarization or transcription (tens of seconds). :class:`PriorityGate` is that lock
with an order — lowest priority number first, first come first served within one — and
**checkpoints**: long batch work calls :meth:`PriorityGate.checkpoint` between pieces
(segmentation and embedding batches, Whisper's 30 s windows), and steps aside while more urgent
work waits. A job gets slower under streaming load; a stream does not wait for a job.

The priority of the request a thread is serving sits in a context variable, set once by the
dispatcher from the request's ``priority`` field.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import IntEnum


class Priority(IntEnum):
    REALTIME = 0  # live stream utterances: someone is watching the captions
    INTERACTIVE = 1  # request-path work: enrollment intake, consent checks, warm, health
    BATCH = 2  # transcription jobs: minutes of audio, nobody waits on the socket

    @classmethod
    def parse(cls, value: object) -> Priority:
        """The request's ``priority`` field; absent means interactive (the request path)."""
        if value is None:
            return cls.INTERACTIVE
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise ValueError(f"priority must be one of {', '.join(m.name.lower() for m in cls)}")


current_priority: ContextVar[Priority] = ContextVar("scaiecho_node_priority", default=Priority.INTERACTIVE)


@contextmanager
def serving(priority: Priority) -> Iterator[None]:
    """Mark the work done in this block as ``priority`` (the dispatcher, per request)."""
    token = current_priority.set(priority)
    try:
        yield
    finally:
        current_priority.reset(token)


class PriorityGate:
    """A mutex granted by (priority, arrival); holders yield at checkpoints to more urgent work."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[int, int]] = []  # (priority, ticket) of waiting threads
        self._tickets = itertools.count()
        self._holder: int | None = None  # the holding thread's priority
        self._owner: int | None = None  # ... and its thread id (checkpoints are the holder's)
        self._depth = 0  # re-entry by the holder (diarize -> embed helpers) is allowed
        self.yields = 0  # how often batch work stepped aside (bench/tests)

    def acquire(self, priority: Priority | None = None) -> None:
        me = threading.get_ident()
        prio = int(current_priority.get() if priority is None else priority)
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            entry = (prio, next(self._tickets))
            heapq.heappush(self._queue, entry)
            while self._holder is not None or self._queue[0] != entry:
                self._cond.wait()
            heapq.heappop(self._queue)
            self._holder, self._owner, self._depth = prio, me, 1

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a PriorityGate not held by this thread")
            self._depth -= 1
            if self._depth:
                return
            self._holder = self._owner = None
            self._cond.notify_all()

    @contextmanager
    def hold(self, priority: Priority | None = None) -> Iterator[None]:
        self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> PriorityGate:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    def more_urgent_waiting(self) -> bool:
        with self._cond:
            return self._holder is not None and bool(self._queue) and self._queue[0][0] < self._holder

    def checkpoint(self) -> None:
        """Called by the holder between pieces of long work: step aside for more urgent work.

        Gives the gate up entirely (whatever the re-entry depth) and takes it back at the same
        priority once every more urgent waiter has had its turn."""
        me = threading.get_ident()
        with self._cond:
            if self._owner != me or not self._queue or self._queue[0][0] >= (self._holder or 0):
                return
            prio, depth = int(self._holder or 0), self._depth
            self._holder = self._owner = None
            self._depth = 0
            self.yields += 1
            self._cond.notify_all()
            entry = (prio, -1 - next(self._tickets))  # ahead of its own priority's newcomers
            heapq.heappush(self._queue, entry)
            while self._holder is not None or self._queue[0] != entry:
                self._cond.wait()
            heapq.heappop(self._queue)
            self._holder, self._owner, self._depth = prio, me, depth

    def waiting(self) -> dict[str, int]:
        with self._cond:
            counts = {p.name.lower(): 0 for p in Priority}
            for prio, _ in self._queue:
                counts[Priority(prio).name.lower()] += 1
            return counts
