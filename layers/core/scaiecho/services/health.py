"""Health of every part the platform depends on: tables, bucket, workflows, nodes.

Two views: the detailed report (errors, node ids, models) for a caller with a key, and a public
one, ok/degraded per part and nothing else, computed at most once per ``health_cache_s`` per
process, so unauthenticated traffic can neither read internals nor make us probe every node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scaiecho.adapters.aws import client
from scaiecho.adapters.nodes import NodeClient, NodeStore
from scaiecho.errors import ScaiEchoError
from scaiecho.settings import Settings, get_settings

_PROBE_TIMEOUT_S = 10.0


@dataclass
class HealthReport:
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(p["status"] == "ok" for p in self.parts.values())


def _check(fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    try:
        return {"status": "ok", **(fn() or {})}
    except (ClientError, BotoCoreError, ScaiEchoError) as exc:
        return {"status": "error", "error": str(exc)[:300]}


def _tables(settings: Settings) -> dict[str, Any]:
    ddb = client("dynamodb")
    names = [settings.api_keys_table, settings.nodes_table]
    for name in names:
        ddb.describe_table(TableName=name)
    return {"tables": len(names)}


def _bucket(settings: Settings) -> None:
    client("s3").head_bucket(Bucket=settings.audio_bucket)


def _workflows(settings: Settings) -> dict[str, Any]:
    arns = [a for a in (settings.enroll_state_machine_arn, settings.node_probe_state_machine_arn) if a]
    for arn in arns:
        client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    return {"state_machines": len(arns)}


def _nodes() -> dict[str, Any]:
    nodes = NodeStore().list()
    if not nodes:
        return {"status": "error", "error": "no pyannote node is registered", "nodes": []}
    node_client = NodeClient(client("sagemaker-runtime", read_timeout=_PROBE_TIMEOUT_S))

    def probe(endpoint: str) -> dict[str, Any]:
        try:
            h = node_client.health(endpoint)
            return {"status": "ok", "model_id": h.model_id, "device": h.device}
        except ScaiEchoError as exc:
            return {"status": "error", "error": exc.message[:300]}

    with ThreadPoolExecutor(max_workers=min(8, len(nodes))) as pool:
        results = list(pool.map(probe, [n.endpoint_name for n in nodes]))
    detail = [{"node_id": n.node_id, **r} for n, r in zip(nodes, results, strict=True)]
    ok = all(r["status"] == "ok" for r in results)
    return {"status": "ok" if ok else "error", "nodes": detail}


def check_health(settings: Settings | None = None) -> HealthReport:
    settings = settings or get_settings()
    report = HealthReport()
    report.parts["dynamodb"] = _check(lambda: _tables(settings))
    report.parts["s3"] = _check(lambda: _bucket(settings))
    report.parts["stepfunctions"] = _check(lambda: _workflows(settings))
    try:
        report.parts["nodes"] = _nodes()
    except ScaiEchoError as exc:
        report.parts["nodes"] = {"status": "error", "error": exc.message}
    return report


_public_lock = threading.Lock()
_public_cache: list[tuple[float, HealthReport]] = []


def public_health(settings: Settings | None = None) -> HealthReport:
    """The last report younger than ``health_cache_s``, else a fresh one (one probe at a time:
    concurrent callers wait for it instead of probing too)."""
    settings = settings or get_settings()
    with _public_lock:
        if _public_cache and time.monotonic() - _public_cache[0][0] < settings.health_cache_s:
            return _public_cache[0][1]
        report = check_health(settings)
        _public_cache[:] = [(time.monotonic(), report)]
        return report
