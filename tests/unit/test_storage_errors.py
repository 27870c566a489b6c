"""The data layer's one SDK-error translation (adapters/storage.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import EndpointConnectionError
from pynamodb.exceptions import DoesNotExist, GetError

from scaiecho.adapters.storage import storage_call, storage_errors
from scaiecho.errors import NotFound, StorageError


@storage_call("could not read the thing")
def _read(exc: Exception | None) -> str:
    if exc is not None:
        raise exc
    return "row"


@storage_call("could not scan the things")
def _scan(fail_after: int) -> Iterator[int]:
    for i in range(3):
        if i == fail_after:
            raise GetError("throttled")
        yield i


@storage_call("could not read the thing")
def _expected(exc: Exception) -> str | None:
    try:
        raise exc
    except DoesNotExist:
        return None  # the method's own, expected outcome


def test_sdk_failures_become_one_storage_error_with_the_cause_kept() -> None:
    assert _read(None) == "row"
    for cause in (GetError("boom"), EndpointConnectionError(endpoint_url="http://x")):
        with pytest.raises(StorageError, match="could not read the thing") as info:
            _read(cause)
        assert info.value.__cause__ is cause


def test_domain_errors_and_expected_outcomes_pass_through() -> None:
    with pytest.raises(NotFound):
        _read(NotFound("no such speaker"))
    assert _expected(DoesNotExist()) is None


def test_generators_are_translated_where_they_iterate() -> None:
    assert list(_scan(fail_after=99)) == [0, 1, 2]
    rows = _scan(fail_after=1)
    assert next(rows) == 0
    with pytest.raises(StorageError, match="could not scan the things"):
        next(rows)


def test_block_form() -> None:
    with pytest.raises(StorageError, match="could not tombstone"), storage_errors("could not tombstone"):
        raise GetError("boom")
