"""Strict JSON for request bodies and WebSocket frames.

Python's ``json`` accepts ``NaN``/``Infinity`` (not JSON, and unencodable in any answer that
echoes them) and recurses once per nesting level (50,000 ``[`` raise RecursionError). Every
client JSON document is read here, so those become one ordinary "invalid JSON" refusal.
"""

from __future__ import annotations

import json
from typing import Any

# Our documents are flat (a few levels: options → diarization_config → values).
MAX_DEPTH = 32


class InvalidJson(ValueError):
    """The document is not strict JSON, or nests deeper than MAX_DEPTH."""


def _reject_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON value")


def loads_strict(raw: str | bytes) -> Any:
    try:
        doc = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidJson(f"the JSON document nests deeper than {MAX_DEPTH} levels") from None
    except InvalidJson:
        raise
    except (ValueError, UnicodeDecodeError):
        raise InvalidJson("the document is not valid JSON") from None
    if _depth(doc) > MAX_DEPTH:
        raise InvalidJson(f"the JSON document nests deeper than {MAX_DEPTH} levels")
    return doc


def _depth(doc: Any) -> int:
    """Nesting depth, iteratively (the document may be deep enough to exhaust the stack)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
