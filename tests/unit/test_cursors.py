"""Pagination cursors come from clients: only the shape the server issues is accepted."""

import base64
import json

import pytest

from scaiecho.adapters.cursors import decode_cursor, encode_cursor
from scaiecho.errors import BadRequest


def _cursor(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def _decode(cursor: str) -> object:
    return decode_cursor(cursor, tenant_id="acme", range_key="speaker_id", prefix="spk_")


def test_a_cursor_the_server_issued_round_trips() -> None:
    key = {"tenant_id": {"S": "acme"}, "speaker_id": {"S": "spk_1"}}
    assert _decode(encode_cursor(key) or "") == key


@pytest.mark.parametrize("cursor", [
    _cursor({"tenant_id": {"S": 7}, "speaker_id": {"S": "spk_1"}}),
    _cursor({"tenant_id": {"S": "acme"}, "speaker_id": {"S": ["spk_1"]}}),
    _cursor({"tenant_id": {"S": "acme"}, "speaker_id": {"S": "spk_1"}, "extra": {"N": "x"}}),
    _cursor({"tenant_id": {"S": "acme"}, "speaker_id": {"S": "spk_1", "N": "1"}}),
    _cursor({"tenant_id": {"S": "other"}, "speaker_id": {"S": "spk_1"}}),
    _cursor({"tenant_id": {"S": "acme"}, "speaker_id": {"S": "ext#e1"}}),
    _cursor({"tenant_id": "acme", "speaker_id": "spk_1"}),
    _cursor(["tenant_id"]), _cursor(None), _cursor("x"),
    base64.urlsafe_b64encode(b"[" * 5000).decode()[:1000],
    base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(), "not base64 at all!", "\ud800", "A" * 5000,
])
def test_anything_else_is_invalid_cursor(cursor: str) -> None:
    with pytest.raises(BadRequest) as err:
        _decode(cursor)
    assert err.value.code == "invalid_cursor"
