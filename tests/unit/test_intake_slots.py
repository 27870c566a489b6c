"""Bounded intake: slots, waiting for one, and the 429 when none frees up in time."""

from __future__ import annotations

import threading
import time

import pytest

from scaiecho.errors import TooManyRequests
from scaiecho.services.intake_slots import bounded_intake
from tests.conftest import _reset_settings


@pytest.fixture
def one_slot(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SCAIECHO_INTAKE_CONCURRENCY", "1")
    monkeypatch.setenv("SCAIECHO_INTAKE_QUEUE_WAIT_S", "0.3")
    _reset_settings()
    yield
    monkeypatch.delenv("SCAIECHO_INTAKE_CONCURRENCY")
    monkeypatch.delenv("SCAIECHO_INTAKE_QUEUE_WAIT_S")
    _reset_settings()


def test_a_request_past_the_slots_waits_then_gets_intake_busy(one_slot: None) -> None:
    inside, leave = threading.Event(), threading.Event()

    @bounded_intake
    def enroll(tag: str) -> str:
        if tag == "first":
            inside.set()
            leave.wait(5)
        return tag

    first = threading.Thread(target=enroll, args=("first",))
    first.start()
    inside.wait(5)
    started = time.monotonic()
    with pytest.raises(TooManyRequests) as busy:
        enroll("second")
    assert busy.value.code == "intake_busy" and busy.value.status == 429
    assert busy.value.details["retry_after_s"] > 0
    assert time.monotonic() - started >= 0.25  # it waited for a slot first
    leave.set()
    first.join(5)
    assert enroll("third") == "third"  # the slot was given back


def test_a_failing_request_gives_its_slot_back(one_slot: None) -> None:
    @bounded_intake
    def broken() -> None:
        raise ValueError("boom")

    for _ in range(3):
        with pytest.raises(ValueError):
            broken()
