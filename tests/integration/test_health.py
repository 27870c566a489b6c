"""GET /health: the public view says ok/degraded per part, cheaply; details need a key."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import auth

HEALTH = "/v1/modules/scaiecho/health"


@pytest.fixture
def probes(aws: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full health checks (the real ones still run)."""
    from scaiecho.services import health

    health._public_cache.clear()
    calls: list[int] = []
    real = health.check_health

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(health, "check_health", counted)
    yield calls
    health._public_cache.clear()


def test_public_health_is_statuses_only_and_cached(api: Any, probes: list[int]) -> None:
    first = api.get(HEALTH)
    assert first.status_code == 503  # no node is registered under moto
    body = first.json()["data"]
    assert body["status"] == "degraded"
    assert body["parts"] == {"dynamodb": {"status": "ok"}, "s3": {"status": "ok"},
                             "stepfunctions": {"status": "ok"}, "nodes": {"status": "degraded"}}
    for _ in range(20):
        assert api.get(HEALTH).json() == first.json()
    assert len(probes) == 1  # 21 calls, one probe of every part


def test_detailed_health_needs_a_key(api: Any, make_key: Any, probes: list[int]) -> None:
    detailed = api.get(HEALTH, headers=auth(make_key("acme", "scaiecho:transcribe")))
    assert detailed.status_code == 503
    nodes = detailed.json()["data"]["parts"]["nodes"]
    assert nodes["status"] == "error" and "no pyannote node" in nodes["error"]
    bad = api.get(HEALTH, headers=auth("se_not_a_key"))
    assert bad.status_code == 401
