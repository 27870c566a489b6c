"""The enrollment workflow's steps: find online nodes, embed on one node, settle the status."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np

from scaiecho.adapters.aws import client
from scaiecho.adapters.nodes import Node, NodeClient, NodeStore
from scaiecho.adapters.speakers import SpeakerStore, WarmRegistry
from scaiecho.adapters.voiceprints import VoiceprintCipher
from scaiecho.adapters.workflows import execution_link
from scaiecho.contracts.node import EmbedResult, HealthResult, S3Audio
from scaiecho.domain.speakers import EnrollmentStatus
from scaiecho.errors import NodeError, ScaiEchoError
from scaiecho.observability import get_logger, record_outcome

PROBE_TIMEOUT_S = 10.0
NO_NODE_NOTE = (
    "no pyannote node is online; the speaker is stored and is enrolled as soon as the node probe "
    "sees a node come online (or by POST /speakers/{id}/warm)"
)
EVICTED_NOTE = (
    "every node that held this speaker is gone; it is enrolled again as soon as the node probe "
    "sees a node come online (or by POST /speakers/{id}/warm)"
)


def holding_nodes(nodes: list[Node]) -> set[str]:
    """Nodes that can hold a speaker: registered and not known to be offline (a node is gone once
    a probe found it unreachable or it was deregistered)."""
    return {n.node_id for n in nodes if n.status != "offline"}


def probe(nodes: list[Node]) -> tuple[list[Node], list[dict[str, str]]]:
    """Health-check nodes in parallel (recording the result); returns (online, unavailable)."""
    if not nodes:
        return [], []
    node_client = NodeClient(client("sagemaker-runtime", read_timeout=PROBE_TIMEOUT_S))
    store = NodeStore()

    def check(node: Node) -> tuple[Node, HealthResult | None, str | None]:
        try:
            return node, node_client.health(node.endpoint_name), None
        except ScaiEchoError as exc:
            return node, None, exc.message

    with ThreadPoolExecutor(max_workers=min(8, len(nodes))) as pool:
        checks = list(pool.map(check, nodes))
    online, unavailable = [], []
    for node, health, error in checks:
        store.record_probe(node.node_id, online=health is not None, health=health, error=error)
        if health is not None:
            online.append(node)
        else:
            unavailable.append({"node_id": node.node_id, "error": (error or "")[:200]})
    return online, unavailable


def find_candidates(node_ids: list[str] | None) -> dict[str, Any]:
    nodes = NodeStore().list()
    if node_ids is not None:  # None: every node; [] none (intake recorded them all already)
        wanted = set(node_ids)
        nodes = [n for n in nodes if n.node_id in wanted]
    online, unavailable = probe(nodes)
    return {
        "candidates": [{"node_id": n.node_id, "endpoint_name": n.endpoint_name} for n in online],
        "unavailable": unavailable,
        "any": bool(online),  # for the workflow's choice: moto cannot test an empty list's [0]
    }


def enroll_on_node(
    *, tenant_id: str, speaker_id: str, node: dict[str, str], bucket: str,
    samples: list[dict[str, Any]],
) -> dict[str, Any]:
    """Embed every sample on this node, pool them (speech-weighted), seal, record."""
    node_client = NodeClient()
    vectors, weights = [], []
    meta: EmbedResult | None = None
    for sample in samples:
        resp = node_client.embed(node["endpoint_name"], S3Audio.at(bucket, sample["key"]))
        if not resp.embedding:
            raise NodeError(f"node {node['node_id']} returned no embedding")
        vectors.append(np.asarray(resp.embedding, dtype=np.float64))
        weights.append(max(float(resp.speech_s or sample.get("speech_s") or 1.0), 0.1))
        meta = resp
    pooled = np.average(np.stack(vectors), axis=0, weights=np.asarray(weights))
    if float(np.linalg.norm(pooled)) == 0.0:
        raise NodeError(f"node {node['node_id']} returned a zero embedding")
    recorded = record_voiceprint(
        tenant_id=tenant_id, speaker_id=speaker_id, node_id=node["node_id"], vector=pooled,
        model_id=_opt(meta.model_id if meta else None),
        model_version=_opt(meta.model_version if meta else None),
        sample_ids=[s["sample_id"] for s in samples],
    )
    if not recorded:  # erased while enrolling: not a failure to retry
        return {"node_id": node["node_id"], "ok": False, "error": "speaker_erased"}
    return {"node_id": node["node_id"], "ok": True}


def record_voiceprint(
    *, tenant_id: str, speaker_id: str, node_id: str, vector: np.ndarray, model_id: str | None,
    model_version: str | None, sample_ids: list[str],
) -> bool:
    """Seal and record a speaker's voiceprint on a node (L2-normalised); False if erased."""
    voiceprint = (vector / float(np.linalg.norm(vector))).tolist()
    sealed = VoiceprintCipher().seal(voiceprint, tenant_id=tenant_id, subject_id=speaker_id)
    return WarmRegistry().put(
        tenant_id=tenant_id, speaker_id=speaker_id, node_id=node_id, sealed=sealed,
        dim=len(voiceprint), model_id=model_id, model_version=model_version, sample_ids=sample_ids,
    )


def finalize(
    *, tenant_id: str, speaker_id: str, candidates: list[dict[str, Any]],
    unavailable: list[dict[str, Any]], results: list[dict[str, Any]],
    execution_arn: str | None = None, started_at: str | None = None,
) -> dict[str, Any]:
    holding = holding_nodes(NodeStore().list())
    enrolled = WarmRegistry().enrolled_at(tenant_id, speaker_id)
    warm = sorted(n for n in enrolled if n in holding)
    failed = [r["node_id"] for r in results if not r.get("ok")]
    note: str | None = None
    if warm:
        status = EnrollmentStatus.READY
    elif candidates:
        status = EnrollmentStatus.FAILED
        note = (
            f"enrollment failed on every online node ({', '.join(failed)}); "
            "retry with POST /speakers/{id}/warm"
        )
    elif enrolled:  # it was held, and every node that held it is gone
        status = EnrollmentStatus.EVICTED
        note = EVICTED_NOTE
    else:
        status = EnrollmentStatus.PENDING
        note = NO_NODE_NOTE
    speaker = SpeakerStore().set_enrollment(
        tenant_id, speaker_id, status=status, enrolled_on=warm, note=note
    )
    if speaker is not None and speaker.tombstoned_at is not None:
        status = EnrollmentStatus.EVICTED
    extra: dict[str, Any] = {"speaker_id": speaker_id, "status": status.value, "nodes": warm,
                             "failed": failed, "execution_arn": execution_arn}
    if status is EnrollmentStatus.FAILED:  # where an operator starts: the execution's own page
        extra["console_url"] = execution_link(execution_arn or "", started_ms=_epoch_ms(started_at))
    get_logger().info("enrollment settled", extra=extra)
    started_ms = _epoch_ms(started_at)
    record_outcome("Enrollment", status.value,
                   time.time() - started_ms / 1000 if started_ms is not None else None)
    out: dict[str, Any] = {
        "status": status.value,
        "enrolled_on": warm,
        "failed_nodes": failed,
        "unavailable_nodes": [u["node_id"] for u in unavailable],
    }
    if note:
        out["note"] = note
    return out


def _epoch_ms(iso: str | None) -> int | None:
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else None
    except ValueError:
        return None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
