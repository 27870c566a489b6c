"""Erasure (GDPR Art. 17) against moto: complete, provable, safe to repeat, retried in the background.

Nodes are tiny stdlib HTTP servers honouring the SageMaker /invocations contract (the real engine's
``evict`` is tested in tests/node); ``moto_patches.register_endpoint`` routes invoke_endpoint there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from scaiecho.adapters.nodes import NodeStore
from scaiecho.adapters.speakers import WarmRegistry
from scaiecho.adapters.voiceprints import VoiceprintCipher
from scaiecho.errors import StorageError
from scaiecho.local import moto_patches
from tests.conftest import auth
from tests.contract_node import ContractNode, SpeechScript
from tests.integration.test_enrollment import SPEAKERS, create, fields, files

ERASURES = "/v1/modules/scaiecho/erasures"
PERSONAL = ("display_name", "description", "external_id", "language_primary", "samples",
            "consent_id", "consent_version", "enrolled_on", "note", "total_speech_s",
            "enrollment_quality", "last_used_at")


EvictingNode = ContractNode  # nodes that record every evict they are asked for


@pytest.fixture
def nodes(aws: Any) -> Iterator[dict[str, EvictingNode]]:
    """node-1 is up; node-2 is registered but down until a test registers its endpoint."""
    running = {"node-1": EvictingNode(answers=SpeechScript().answers()),
               "node-2": EvictingNode(answers=SpeechScript().answers())}
    store = NodeStore()
    for node_id in running:
        store.register(node_id, f"scaiecho-local-{node_id}")
    moto_patches.register_endpoint("scaiecho-local-node-1", running["node-1"].url)
    yield running
    for node in running.values():
        node.stop()


def bring_up(nodes: dict[str, EvictingNode], node_id: str) -> None:
    moto_patches.register_endpoint(f"scaiecho-local-{node_id}", nodes[node_id].url)


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch, aws: Any) -> None:
    from scaiecho.settings import get_settings

    monkeypatch.setenv("SCAIECHO_ERASURE_RETRY_WAIT_S", "1")
    monkeypatch.setenv("SCAIECHO_ERASURE_RETRY_MAX_ATTEMPTS", "20")
    get_settings.cache_clear()


@pytest.fixture
def no_background_retry(monkeypatch: pytest.MonkeyPatch, aws: Any) -> None:
    """Only the synchronous path: a repeated DELETE must resume on its own."""
    from scaiecho.settings import get_settings

    monkeypatch.setenv("SCAIECHO_ERASURE_RETRY_STATE_MACHINE_ARN", "")
    get_settings.cache_clear()


@pytest.fixture
def key(make_key: Any, request: pytest.FixtureRequest) -> str:
    # Enrolling needs a node to check the consent: ``nodes`` brings scripted ones, else one here.
    if "nodes" not in request.fixturenames:
        request.getfixturevalue("speech_node")
    return str(make_key("acme", "scaiecho:enroll"))


def warm(speaker_id: str, *node_ids: str, tenant: str = "acme") -> None:
    sealed = VoiceprintCipher().seal([0.1] * 192, tenant_id=tenant, subject_id=speaker_id)
    for node_id in node_ids:
        WarmRegistry().put(tenant_id=tenant, speaker_id=speaker_id, node_id=node_id, sealed=sealed,
                           dim=192, model_id="m", model_version="1", sample_ids=["smp_1"])


def s3_under(aws: Any, prefix: str) -> list[str]:
    resp = aws.session.client("s3").list_object_versions(Bucket=aws.buckets[0], Prefix=prefix)
    return [v["Key"] for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])]


def items(aws: Any, table: str) -> list[dict[str, Any]]:
    return list(aws.session.client("dynamodb").scan(TableName=table)["Items"])


def audit_headers(aws: Any) -> list[dict[str, Any]]:
    return [i for i in items(aws, "scaiecho-local-erasure-audit") if "#" not in i["audit_key"]["S"]]


def delete(api: Any, key: str, speaker_id: str) -> Any:
    return api.delete(f"{SPEAKERS}/{speaker_id}", headers=auth(key))


def wait_for_status(api: Any, key: str, audit_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data: dict[str, Any] = api.get(f"{ERASURES}/{audit_id}", headers=auth(key)).json()["data"]
        if data["status"] == status:
            return data
        time.sleep(0.2)
    raise AssertionError(f"erasure {audit_id} never reached {status}: {data}")


def assert_nothing_biometric_left(aws: Any, speaker_id: str) -> None:
    assert s3_under(aws, f"tenant/acme/speakers/{speaker_id}/") == []
    assert not [i for i in items(aws, "scaiecho-local-warm-registry")
                if i["speaker_id"]["S"] == speaker_id]
    assert not [i for i in items(aws, "scaiecho-local-consents")
                if i["speaker_id"]["S"] == speaker_id]
    rows = [i for i in items(aws, "scaiecho-local-speakers") if i["tenant_id"]["S"] == "acme"]
    assert not [r for r in rows if r["speaker_id"]["S"].startswith("ext#")]
    (tombstone,) = [r for r in rows if r["speaker_id"]["S"] == speaker_id]
    assert not set(PERSONAL) & set(tombstone), tombstone
    assert "tombstoned_at" in tombstone and tombstone["erasure_audit_id"]["S"].startswith("era_")


# ---------------------------------------------------------------------------------------------


def test_erasure_deletes_everything_and_evicts_every_node(
    api: Any, aws: Any, key: str, nodes: dict[str, EvictingNode]
) -> None:
    bring_up(nodes, "node-2")
    resp = api.post(SPEAKERS, data=fields(external_id="emp_7"), files=files(), headers=auth(key))
    speaker_id = resp.json()["data"]["speaker_id"]
    warm(speaker_id, "node-1", "node-2")
    prefix = f"tenant/acme/speakers/{speaker_id}/"
    # An overwritten + deleted object leaves versions and a delete marker: all must go.
    s3 = aws.session.client("s3")
    s3.put_object(Bucket=aws.buckets[0], Key=f"{prefix}extra.bin", Body=b"x" * 10)
    s3.put_object(Bucket=aws.buckets[0], Key=f"{prefix}extra.bin", Body=b"y" * 20)
    s3.delete_object(Bucket=aws.buckets[0], Key=f"{prefix}extra.bin")
    before = s3_under(aws, prefix)
    assert len(before) == 5  # reference, consent, 2 versions, 1 delete marker

    resp = delete(api, key, speaker_id)

    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["status"] == "complete" and data["repeated"] is False
    assert data["speaker_id"] == speaker_id and data["audit_id"].startswith("era_")
    assert data["blob_versions_deleted"] == 5 and data["blob_bytes_deleted"] > 30
    assert data["nodes"] == [{"node_id": "node-1", "status": "evicted"},
                             {"node_id": "node-2", "status": "evicted"}]
    assert data["error_summary"] == []
    assert nodes["node-1"].evicted == [speaker_id] and nodes["node-2"].evicted == [speaker_id]
    assert_nothing_biometric_left(aws, speaker_id)
    # The speaker is gone from every read, and its external id is free again.
    assert api.get(f"{SPEAKERS}/{speaker_id}", headers=auth(key)).status_code == 404
    assert api.get(f"{SPEAKERS}/{speaker_id}/warm", headers=auth(key)).status_code == 404
    assert speaker_id not in [s["speaker_id"] for s in api.get(SPEAKERS, headers=auth(key)).json()["data"]]


def test_second_delete_returns_the_same_audit(api: Any, aws: Any, key: str) -> None:
    speaker_id = create(api, key)
    first = delete(api, key, speaker_id).json()["data"]
    second = delete(api, key, speaker_id)
    assert second.status_code == 200
    again = second.json()["data"]
    assert again["audit_id"] == first["audit_id"] and again["repeated"] is True
    assert again["status"] == "complete"
    assert again["blob_versions_deleted"] == first["blob_versions_deleted"] == 2
    assert len(audit_headers(aws)) == 1


def test_audit_is_readable_by_its_tenant_only(api: Any, key: str, make_key: Any) -> None:
    speaker_id = create(api, key)
    audit_id = delete(api, key, speaker_id).json()["data"]["audit_id"]

    got = api.get(f"{ERASURES}/{audit_id}", headers=auth(key))
    assert got.status_code == 200
    data = got.json()["data"]
    assert data["status"] == "complete" and data["completed_at"]
    assert data["actor"].startswith("key:") and data["reason"] == "data_subject_request"
    kinds = [e["kind"] for e in data["events"]]
    for step in ("tombstoned", "blobs_deleted", "consents_deleted", "warm_deleted", "scrubbed", "complete"):
        assert kinds.count(step) == 1, kinds
    blobs = next(e for e in data["events"] if e["kind"] == "blobs_deleted")
    assert all(k.startswith(f"tenant/acme/speakers/{speaker_id}/") for k in blobs["keys"])

    other = make_key("globex", "scaiecho:enroll")
    assert api.get(f"{ERASURES}/{audit_id}", headers=auth(other)).status_code == 404
    assert api.get(f"{ERASURES}/era_nope", headers=auth(key)).json()["error"]["code"] == "erasure_not_found"


def test_other_tenant_and_wrong_scope(api: Any, aws: Any, key: str, make_key: Any) -> None:
    speaker_id = create(api, key)
    other = delete(api, make_key("globex", "scaiecho:enroll"), speaker_id)
    assert other.status_code == 404 and other.json()["error"]["code"] == "speaker_not_found"
    transcribe_only = delete(api, make_key("acme", "scaiecho:transcribe"), speaker_id)
    assert transcribe_only.status_code == 403
    assert transcribe_only.json()["error"]["code"] == "insufficient_scope"
    assert delete(api, key, "spk_missing").status_code == 404
    assert audit_headers(aws) == []
    assert api.get(f"{SPEAKERS}/{speaker_id}", headers=auth(key)).status_code == 200


def test_down_node_is_evicted_by_the_background_retry(
    api: Any, aws: Any, key: str, nodes: dict[str, EvictingNode], fast_retry: None
) -> None:
    speaker_id = create(api, key)
    warm(speaker_id, "node-1", "node-2")

    data = delete(api, key, speaker_id).json()["data"]

    assert data["status"] == "pending_retry"
    by_node = {n["node_id"]: n for n in data["nodes"]}
    assert by_node["node-1"]["status"] == "evicted"
    assert by_node["node-2"]["status"] == "failed" and by_node["node-2"]["error"]
    assert any(e.startswith("node node-2:") for e in data["error_summary"])
    # Everything else is already gone, and the speaker can never be named again.
    assert s3_under(aws, f"tenant/acme/speakers/{speaker_id}/") == []
    assert WarmRegistry().for_speaker("acme", speaker_id) == []

    bring_up(nodes, "node-2")
    final = wait_for_status(api, key, data["audit_id"], "complete")

    assert nodes["node-2"].evicted == [speaker_id]
    assert nodes["node-1"].evicted == [speaker_id]  # never evicted twice once confirmed
    assert final["error_summary"] == [] and final["completed_at"]
    evictions = [e for e in final["events"] if e["kind"] == "node_eviction" and e["node_id"] == "node-2"]
    assert evictions[0]["status"] == "failed" and evictions[-1]["status"] == "evicted"
    assert any(e["kind"] == "retry_scheduled" for e in final["events"])
    assert any((e.get("actor") or "").startswith("retry ") for e in evictions)
    assert_nothing_biometric_left(aws, speaker_id)


def test_retry_gives_up_after_max_attempts_and_a_delete_restarts_it(
    api: Any, aws: Any, key: str, nodes: dict[str, EvictingNode], fast_retry: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scaiecho.settings import get_settings

    monkeypatch.setenv("SCAIECHO_ERASURE_RETRY_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    speaker_id = create(api, key)
    audit_id = delete(api, key, speaker_id).json()["data"]["audit_id"]

    exhausted = wait_for_status(api, key, audit_id, "retries_exhausted")
    assert any(e.startswith("node node-2:") for e in exhausted["error_summary"])

    bring_up(nodes, "node-2")
    again = delete(api, key, speaker_id).json()["data"]
    assert again["status"] == "complete" and again["repeated"] is True


def test_storage_failure_midway_is_resumed_by_a_repeated_delete(
    api: Any, aws: Any, key: str, monkeypatch: pytest.MonkeyPatch, no_background_retry: None
) -> None:
    from scaiecho.adapters.blobs import BlobStore

    speaker_id = create(api, key)
    warm(speaker_id, "node-9")
    real = BlobStore.delete_prefix
    calls: list[str] = []

    def flaky(self: BlobStore, prefix: str) -> Any:
        calls.append(prefix)
        if len(calls) == 1:
            raise StorageError("could not delete audio")
        return real(self, prefix)

    monkeypatch.setattr(BlobStore, "delete_prefix", flaky)

    first = delete(api, key, speaker_id)
    assert first.status_code == 200
    data = first.json()["data"]
    assert data["status"] == "pending_retry"
    assert data["error_summary"] == ["blobs_deleted: could not delete audio"]
    assert len(s3_under(aws, f"tenant/acme/speakers/{speaker_id}/")) == 2  # still there
    # Hidden already, and the personal attributes wait for the blobs (scrub runs last).
    assert api.get(f"{SPEAKERS}/{speaker_id}", headers=auth(key)).status_code == 404

    second = delete(api, key, speaker_id).json()["data"]

    assert second["audit_id"] == data["audit_id"] and second["repeated"] is True
    assert second["status"] == "complete" and second["error_summary"] == []
    assert second["blob_versions_deleted"] == 2
    assert_nothing_biometric_left(aws, speaker_id)
    assert len(audit_headers(aws)) == 1


def test_concurrent_deletes_make_one_audit(api: Any, aws: Any, key: str) -> None:
    speaker_id = create(api, key)
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(delete(api, key, speaker_id))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
    datas = [r.json()["data"] for r in results]
    assert len({d["audit_id"] for d in datas}) == 1
    assert sorted(d["repeated"] for d in datas) == [False, True, True, True]
    assert len(audit_headers(aws)) == 1
    final = api.get(f"{ERASURES}/{datas[0]['audit_id']}", headers=auth(key)).json()["data"]
    assert final["status"] == "complete"
    assert [e["kind"] for e in final["events"]].count("complete") == 1
    assert_nothing_biometric_left(aws, speaker_id)


def test_retention_erases_old_speakers_and_keeps_recent_ones(
    api: Any, aws: Any, key: str, make_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaiecho.adapters.tables import SpeakerRow, utcnow
    from scaiecho.services.retention import sweep_expired
    from scaiecho.settings import get_settings

    old, recent, used = create(api, key), create(api, key), create(api, key)
    globex_key = make_key("globex", "scaiecho:enroll")
    globex_speaker = create(api, globex_key)
    now = utcnow()
    for tenant, sid, created, last_used in (
        ("acme", old, now - timedelta(days=1200), None),
        ("acme", recent, now - timedelta(days=10), None),
        ("acme", used, now - timedelta(days=1200), now - timedelta(days=5)),
        ("globex", globex_speaker, now - timedelta(days=40), None),
    ):
        row = SpeakerRow.get(tenant, sid)
        row.update(actions=[SpeakerRow.created_at.set(created)]
                   + ([SpeakerRow.last_used_at.set(last_used)] if last_used else []))
    monkeypatch.setenv("SCAIECHO_RETENTION_DAYS_BY_TENANT", '{"globex": 30}')
    get_settings.cache_clear()

    result = sweep_expired()

    assert sorted(e["speaker_id"] for e in result["erased"]) == sorted([old, globex_speaker])
    assert result["failed"] == [] and result["checked"] == 4
    assert api.get(f"{SPEAKERS}/{old}", headers=auth(key)).status_code == 404
    assert api.get(f"{SPEAKERS}/{recent}", headers=auth(key)).status_code == 200
    assert api.get(f"{SPEAKERS}/{used}", headers=auth(key)).status_code == 200
    audit = api.get(f"{ERASURES}/{result['erased'][0]['audit_id']}",
                    headers=auth(key if result["erased"][0]["tenant_id"] == "acme" else globex_key))
    assert audit.json()["data"]["actor"] == "retention"
    assert audit.json()["data"]["reason"] == "retention_expired"
    assert sweep_expired()["erased"] == []  # nothing left to do the next day


def test_exhausted_retries_fail_the_workflow_and_the_daily_sweep_resumes_them(
    api: Any, aws: Any, key: str, nodes: dict[str, EvictingNode], fast_retry: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scaiecho.handlers.erasure import retention_sweep
    from scaiecho.settings import get_settings

    monkeypatch.setenv("SCAIECHO_ERASURE_RETRY_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    speaker_id = create(api, key)
    audit_id = delete(api, key, speaker_id).json()["data"]["audit_id"]
    wait_for_status(api, key, audit_id, "retries_exhausted")

    # The retry workflow ends FAILED (what the ErasureRetryFailures alarm counts), not Succeed.
    sfn = aws.session.client("stepfunctions")
    arn = get_settings().erasure_retry_state_machine_arn
    deadline = time.monotonic() + 30
    while not (failed := sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"]):
        assert time.monotonic() < deadline, sfn.list_executions(stateMachineArn=arn)["executions"]
        time.sleep(0.2)
    history = sfn.get_execution_history(executionArn=failed[0]["executionArn"])["events"]
    assert any(e.get("executionFailedEventDetails", {}).get("error") == "ErasureRetriesExhausted"
               for e in history)

    # The daily sweep picks the unfinished erasure up again and, with the node back, finishes it.
    bring_up(nodes, "node-2")
    swept = retention_sweep({})
    assert swept["unfinished_erasures"]["resumed"] == [
        {"tenant_id": "acme", "audit_id": audit_id, "status": "complete"}]
    assert nodes["node-2"].evicted == [speaker_id]
    assert retention_sweep({})["unfinished_erasures"]["resumed"] == []  # complete ones are left alone
