"""A bounded number of enrollments in intake at once; the rest wait their turn.

Intake decodes and preflights in this process and then keeps the nodes busy (consent checks,
the fan-out). Twenty at once on the embedded default meant sixty node calls queued on two
nodes and twenty threads decoding under one GIL: every request slowed down and some failed.
With ``intake_concurrency`` slots, a request beyond them waits (up to ``intake_queue_wait_s``)
for a slot before doing any work, then runs at full speed; past the wait it gets 429
``intake_busy`` with Retry-After, and nothing was stored.

On AWS each Lambda process serves one request, so the slot is always free there: bound the
intake function's concurrency instead (reserved concurrency; SageMaker autoscaling adds nodes).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from scaiecho.errors import TooManyRequests
from scaiecho.settings import get_settings

P = ParamSpec("P")
R = TypeVar("R")

_guard = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def _semaphore() -> threading.BoundedSemaphore:
    global _slots
    size = get_settings().intake_concurrency
    with _guard:
        if _slots is None or _slots[0] != size:  # settings reloaded (tests)
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


def bounded_intake(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` in one of the intake slots (waiting for one if all are taken)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        settings = get_settings()
        slots = _semaphore()
        if not slots.acquire(timeout=settings.intake_queue_wait_s):
            raise TooManyRequests(
                f"all {settings.intake_concurrency} enrollment intake slots stayed busy for "
                f"{settings.intake_queue_wait_s:g} s; retry later",
                code="intake_busy",
                details={"retry_after_s": settings.fair_use_retry_after_s,
                         "slots": settings.intake_concurrency},
            )
        try:
            return fn(*args, **kwargs)
        finally:
            slots.release()

    return wrapper
