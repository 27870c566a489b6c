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
