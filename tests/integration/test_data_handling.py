"""Data handling under hostile timing: concurrent samples, idempotency after erasure, crashed
requests (issue #14)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.conftest import auth
from tests.integration.test_enrollment import SPEAKERS, create, fields, files

# Enrollment checks the consent on a node: the scripted one (reader 103, the fixtures).
pytestmark = pytest.mark.usefixtures("speech_node")


@pytest.fixture
def enroll_key(make_key: Any) -> str:
    return str(make_key("acme", "scaiecho:enroll"))


def test_concurrent_samples_on_one_speaker_all_land(api: Any, enroll_key: str) -> None:
    sid = create(api, enroll_key)
    results: list[Any] = []

    def add() -> None:
        results.append(api.post(f"{SPEAKERS}/{sid}/samples", headers=auth(enroll_key),
                                files={"reference": files()["reference"]}))

    threads = [threading.Thread(target=add) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert all(s in (201, 409) for s in statuses), [r.text for r in results]
    busy = [r for r in results if r.status_code == 409]
    assert all(r.json()["error"]["code"] == "speaker_busy" for r in busy)
    samples = api.get(f"{SPEAKERS}/{sid}", headers=auth(enroll_key)).json()["data"]["samples"]
    assert len(samples) == 1 + statuses.count(201)  # no lost update, no phantom sample


def test_samples_racing_on_the_same_row_version_retry_instead_of_failing(
    api: Any, enroll_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic version of the race: all three writers read the same row version before
    any of them writes (a barrier after each one's first read), as on a slow network."""
    from scaiecho.adapters.speakers import SpeakerStore
    from scaiecho.adapters.tables import SpeakerRow
    from scaiecho.domain.speakers import Sample

    sid = create(api, enroll_key)
    store = SpeakerStore()
    speaker = store.get("acme", sid)
    assert speaker is not None
    barrier = threading.Barrier(3, timeout=10)
    first_read = threading.local()
    real_get = SpeakerRow.get

    def get(*args: Any, **kwargs: Any) -> Any:
        row = real_get(*args, **kwargs)
        if not getattr(first_read, "done", False):
            first_read.done = True
            barrier.wait()
        return row

    monkeypatch.setattr(SpeakerRow, "get", get)
    base = speaker.samples[0]
    outcomes: list[str] = []

    def add(i: int) -> None:
        sample = Sample(**{**base.__dict__, "sample_id": f"smp_race{i}", "key": f"{base.key}.{i}"})
        try:
            store.add_sample(speaker, sample, None)
            outcomes.append("added")
        except Exception as exc:  # what the API would answer: the error's code
            outcomes.append(getattr(exc, "code", type(exc).__name__))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["added"] * 3  # before: one "storage_error" (502) per lost race
    monkeypatch.setattr(SpeakerRow, "get", real_get)
    ids = [s.sample_id for s in (store.get("acme", sid) or speaker).samples]
    assert sorted(ids[1:]) == ["smp_race0", "smp_race1", "smp_race2"]


def test_a_sample_for_an_erased_speaker_is_not_found(api: Any, enroll_key: str) -> None:
    sid = create(api, enroll_key)
    assert api.delete(f"{SPEAKERS}/{sid}", headers=auth(enroll_key)).status_code == 200
    late = api.post(f"{SPEAKERS}/{sid}/samples", headers=auth(enroll_key),
                    files={"reference": files()["reference"]})
    assert late.status_code == 404 and late.json()["error"]["code"] == "speaker_not_found"


def _idempotency_items(aws: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws.session.client("dynamodb").scan(
        TableName="scaiecho-local-idempotency")["Items"]
    return items


def test_replaying_an_erased_enrollment_returns_no_personal_data(
    api: Any, aws: Any, enroll_key: str
) -> None:
    headers = {**auth(enroll_key), "Idempotency-Key": "enroll-once"}
    first = api.post(SPEAKERS, data=fields(description="lives at 1 Main St"), files=files(),
                     headers=headers)
    assert first.status_code == 201, first.text
    sid = first.json()["data"]["speaker_id"]
    stored = str(_idempotency_items(aws))
    for personal in ("Karen Savage", "lives at 1 Main St", "narrator"):
        assert personal not in stored  # the record holds ids and outcomes only

    assert api.delete(f"{SPEAKERS}/{sid}", headers=auth(enroll_key)).status_code == 200
    replay = api.post(SPEAKERS, data=fields(description="lives at 1 Main St"), files=files(),
                      headers=headers)
    assert replay.status_code == 404, replay.text
    assert replay.json()["error"]["code"] == "speaker_not_found"
    assert "Karen" not in replay.text and "Main St" not in replay.text


def test_a_crashed_request_holds_its_key_for_seconds_not_a_day(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaiecho.errors import Conflict
    from scaiecho.services.idempotency import run_idempotent
    from scaiecho.settings import get_settings

    monkeypatch.setenv("SCAIECHO_IDEMPOTENCY_IN_FLIGHT_S", "1")
    get_settings.cache_clear()

    def crash() -> dict[str, Any]:
        raise KeyboardInterrupt  # like a killed process: nothing cleans the in-progress record

    with pytest.raises(KeyboardInterrupt):
        run_idempotent(scope="t", key="k1", fingerprint="f", work=crash)
    with pytest.raises(Conflict) as busy:
        run_idempotent(scope="t", key="k1", fingerprint="f", work=lambda: {"ok": True})
    assert busy.value.code == "request_in_progress"
    time.sleep(1.2)
    assert run_idempotent(scope="t", key="k1", fingerprint="f", work=lambda: {"ok": True}) == {"ok": True}


def _flaky_commit(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    """S3 refuses the re-tag ``failures`` times (then the real one runs): a throttled bucket."""
    from scaiecho.adapters.blobs import BlobStore
    from scaiecho.errors import StorageError

    real = BlobStore.commit
    calls: list[int] = []

    def commit(self: BlobStore, staged: list[tuple[str, str | None]]) -> None:
        calls.append(1)
        if len(calls) <= failures:
            raise StorageError("could not commit the stored audio")
        real(self, staged)

    monkeypatch.setattr(BlobStore, "commit", commit)
    monkeypatch.setattr("scaiecho.adapters.blobs.COMMIT_BACKOFF_S", 0.01)
    return calls


def test_a_transient_retag_failure_after_intake_is_retried(
    api: Any, aws: Any, enroll_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaiecho.adapters.blobs import BlobStore
    from tests.integration.test_enrollment import stored_objects

    calls = _flaky_commit(monkeypatch, failures=2)
    create(api, enroll_key)
    assert len(calls) == 3
    blobs = BlobStore(aws.session.client("s3"), aws.buckets[0])
    keys = stored_objects(aws)
    assert len(keys) == 2 and {blobs.state(k) for k in keys} == {"committed"}  # consent kept


def test_a_lasting_retag_failure_undoes_the_rows(
    api: Any, aws: Any, enroll_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scaiecho.adapters.blobs import BlobStore
    from tests.integration.test_enrollment import speaker_rows, stored_objects

    _flaky_commit(monkeypatch, failures=100)
    resp = api.post(SPEAKERS, data=fields(external_id="emp_7"), files=files(), headers=auth(enroll_key))
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "storage_error"
    # No row references the recordings, which stay pending and expire: no consent record can
    # outlive its audio, and the external id is free for the client's retry.
    assert speaker_rows(aws) == []
    blobs = BlobStore(aws.session.client("s3"), aws.buckets[0])
    assert {blobs.state(k) for k in stored_objects(aws)} == {"pending"}


def test_a_lasting_retag_failure_on_a_new_sample_removes_it_again(
    api: Any, enroll_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = create(api, enroll_key)
    before = api.get(f"{SPEAKERS}/{sid}", headers=auth(enroll_key)).json()["data"]
    _flaky_commit(monkeypatch, failures=100)
    resp = api.post(f"{SPEAKERS}/{sid}/samples", headers=auth(enroll_key),
                    files={"reference": files()["reference"]})
    assert resp.status_code == 502
    after = api.get(f"{SPEAKERS}/{sid}", headers=auth(enroll_key)).json()["data"]
    assert after["samples"] == before["samples"]
    assert after["total_speech_s"] == pytest.approx(before["total_speech_s"], abs=1e-6)


def test_tables_follow_the_settings_in_force(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Models bind lazily to the settings object in force: a new table name (or endpoint) is
    picked up on the next call, with no bind step, and the old connection is not reused."""
    from scaiecho.adapters.tables import SpeakerRow
    from scaiecho.settings import get_settings

    ddb = aws.session.client("dynamodb")
    original = get_settings().speakers_table
    spec = ddb.describe_table(TableName=original)["Table"]
    ddb.create_table(TableName=f"{original}-copy", KeySchema=spec["KeySchema"],
                     AttributeDefinitions=spec["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST")
    SpeakerRow("ten_a", "spk_1", enrollment_status="pending").save()
    monkeypatch.setenv("SCAIECHO_SPEAKERS_TABLE", f"{original}-copy")
    get_settings.cache_clear()
    assert SpeakerRow.count("ten_a") == 0  # reads the copy now
    monkeypatch.setenv("SCAIECHO_SPEAKERS_TABLE", original)
    get_settings.cache_clear()
    assert SpeakerRow.count("ten_a") == 1
