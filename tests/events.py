"""Loads sample events from events/<function>/ so tests replay exactly what `sam local invoke` would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


def load_event(function: str, name: str, **placeholders: str) -> dict[str, Any]:
    """The event with its ``{{NAME}}`` placeholders filled, as `scaiecho invoke --set` does."""
    from scaiecho.local.invoke import fill_placeholders

    text = fill_placeholders((EVENTS / function / f"{name}.json").read_text(), placeholders)
    data: dict[str, Any] = json.loads(text)
    return data


def load_handler(function: str) -> Any:
    from scaiecho.local.moto_patches import load_handler as _load

    return _load(EVENTS.parent / "functions" / function, "app.lambda_handler")


def lambda_context(function: str) -> Any:
    """The context Lambda passes (what handlers and Powertools read), as the local stack builds it."""
    from scaiecho.local.moto_patches import LambdaContext

    return LambdaContext(function_name=f"scaiecho-{function}",
                         invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function}")


def call_handler(function: str, event: Any) -> Any:
    """The function's real ``lambda_handler`` called as Lambda calls it (event, context)."""
    return load_handler(function)(event, lambda_context(function))
