"""The node's priority gate with real threads: order of service and checkpoints."""

from __future__ import annotations

import threading
import time

import pytest

from scaiecho.contracts.node import HealthResult
from scaiecho_node.invocation import Dispatcher
from scaiecho_node.scheduling import Priority, PriorityGate, current_priority, serving


def _wait_for_waiters(gate: PriorityGate, n: int) -> None:
    deadline = time.monotonic() + 5
    while sum(gate.waiting().values()) < n:
        assert time.monotonic() < deadline, "waiters never queued"
        time.sleep(0.005)


def test_waiters_are_served_by_priority_then_arrival() -> None:
    gate = PriorityGate()
    order: list[str] = []
    gate.acquire(Priority.BATCH)  # busy: everyone below queues

    def worker(name: str, prio: Priority) -> None:
        with gate.hold(prio):
            order.append(name)

    threads = []
    for name, prio in [("batch-1", Priority.BATCH), ("inter-1", Priority.INTERACTIVE),
                       ("rt-1", Priority.REALTIME), ("batch-2", Priority.BATCH),
                       ("rt-2", Priority.REALTIME)]:
        t = threading.Thread(target=worker, args=(name, prio))
        t.start()
        threads.append(t)
        _wait_for_waiters(gate, len(threads))
    gate.release()
    for t in threads:
        t.join(5)
    assert order == ["rt-1", "rt-2", "inter-1", "batch-1", "batch-2"]


def test_checkpoint_lets_realtime_work_in_and_resumes_the_batch_holder() -> None:
    gate = PriorityGate()
    events: list[str] = []
    realtime_queued = threading.Event()

    def batch_job() -> None:
        with gate.hold(Priority.BATCH):
            events.append("batch piece 1")
            realtime_queued.wait(5)
            _wait_for_waiters(gate, 1)
            gate.checkpoint()  # a stream utterance waits: it goes now
            events.append("batch piece 2")

    def utterance() -> None:
        realtime_queued.set()
        with gate.hold(Priority.REALTIME):
            events.append("utterance")

    job = threading.Thread(target=batch_job)
    job.start()
    while not events:
        time.sleep(0.005)
    rt = threading.Thread(target=utterance)
    rt.start()
    job.join(5)
    rt.join(5)
    assert events == ["batch piece 1", "utterance", "batch piece 2"]
    assert gate.yields == 1


def test_checkpoint_does_not_yield_to_equal_or_lower_priority() -> None:
    gate = PriorityGate()
    events: list[str] = []

    def other() -> None:
        with gate.hold(Priority.BATCH):
            events.append("other")

    with gate.hold(Priority.BATCH):
        t = threading.Thread(target=other)
        t.start()
        _wait_for_waiters(gate, 1)
        gate.checkpoint()
        events.append("holder")
    t.join(5)
    assert events == ["holder", "other"]
    assert gate.yields == 0


def test_reentry_by_the_holder_and_release_by_a_stranger() -> None:
    gate = PriorityGate()
    with gate.hold(Priority.INTERACTIVE), gate.hold(Priority.INTERACTIVE):
        pass
    with gate.hold():  # free again
        pass
    with pytest.raises(RuntimeError):
        gate.release()


def test_priority_comes_from_the_request_context() -> None:
    assert current_priority.get() is Priority.INTERACTIVE
    with serving(Priority.REALTIME):
        assert current_priority.get() is Priority.REALTIME
    assert Priority.parse("batch") is Priority.BATCH
    assert Priority.parse(None) is Priority.INTERACTIVE
    with pytest.raises(ValueError):
        Priority.parse("urgent")


def test_the_dispatcher_refuses_an_unknown_priority_and_passes_a_known_one() -> None:
    seen: list[Priority] = []

    class Engine:
        def health(self) -> object:
            seen.append(current_priority.get())

            class Result:
                def contract(self) -> HealthResult:
                    return HealthResult(status="ok")

            return Result()

    dispatcher = Dispatcher(Engine())  # type: ignore[arg-type]
    status, body = dispatcher.handle({"action": "health", "priority": "urgent"})
    assert status == 422 and body["error"]["code"] == "invalid_priority"
    status, _ = dispatcher.handle({"action": "health", "priority": "realtime"})
    assert status == 200 and seen == [Priority.REALTIME]
