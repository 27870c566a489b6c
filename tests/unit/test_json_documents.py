"""Strict JSON for every client document: no NaN/Infinity, bounded nesting, never RecursionError."""

import pytest

from scaiecho.domain.json_documents import MAX_DEPTH, InvalidJson, loads_strict


@pytest.mark.parametrize("raw", [
    b"NaN", b'{"a": NaN}', b'{"a": Infinity}', b"[-Infinity]", b"[" * 50_000 + b"]" * 50_000,
    b"{" * 2 + b"}", b"\xff\xfe", b"", ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode(),
])
def test_not_strict_json_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidJson):
        loads_strict(raw)


def test_ordinary_documents_and_lone_surrogates_parse() -> None:
    assert loads_strict(b'{"a": [1, 2.5, "x"], "b": null}') == {"a": [1, 2.5, "x"], "b": None}
    assert loads_strict('{"language": "\\ud800"}') == {"language": "\ud800"}
    depth = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads_strict(depth) is not None
