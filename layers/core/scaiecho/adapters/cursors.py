"""Pagination cursors: DynamoDB's LastEvaluatedKey as an opaque URL-safe string.

A cursor comes back from the client, so it is checked as strictly as any input: exactly the
table's two key attributes, both strings, in the caller's own partition. Anything else (a number
where a string belongs, an extra attribute, another tenant) is 400 ``invalid_cursor``, never
handed to DynamoDB.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from scaiecho.errors import BadRequest

MAX_CURSOR_CHARS = 1024


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key).encode()).decode()


def decode_cursor(
    cursor: str | None, *, tenant_id: str, range_key: str, prefix: str
) -> dict[str, Any] | None:
    """The ExclusiveStartKey for a query of ``tenant_id``'s items whose ``range_key`` starts with
    ``prefix``; BadRequest(invalid_cursor) for anything a server did not issue."""
    if not cursor:
        return None
    invalid = BadRequest("the pagination cursor is invalid", code="invalid_cursor")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError) as exc:
        raise invalid from exc
    if not isinstance(key, dict) or set(key) != {"tenant_id", range_key}:
        raise invalid
    values = [key["tenant_id"], key[range_key]]
    if not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in values):
        raise invalid
    # A cursor can never move a query into another tenant's partition.
    if values[0]["S"] != tenant_id or not values[1]["S"].startswith(prefix):
        raise invalid
    return key
