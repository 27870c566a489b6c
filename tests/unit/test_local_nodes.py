"""How the embedded default shares one machine's cores between its local nodes."""

from __future__ import annotations

import pytest

from scaiecho.local import nodes


@pytest.mark.parametrize(("cores", "count", "threads"),
                         [(2, 2, 1), (8, 2, 4), (2, 3, 1), (1, 1, 1), (None, 2, 1)])
def test_local_nodes_share_the_cores(monkeypatch: pytest.MonkeyPatch, cores: int | None, count: int,
                                     threads: int) -> None:
    monkeypatch.setattr(nodes.os, "cpu_count", lambda: cores)
    assert nodes.threads_per_node(count) == threads
