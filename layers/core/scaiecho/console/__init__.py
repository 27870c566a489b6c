"""The web console: a static single-page app (plain JavaScript modules, no build step).

It talks to the public API only, so the same files work when the local stack serves them at
``/v1/modules/scaiecho/console`` and when they are copied to any static host (see the README).
"""

from __future__ import annotations

from pathlib import Path

CONSOLE_PATH = "/console"


def console_dir() -> Path:
    """The folder holding index.html and its modules (installed as package data); only this
    folder is served, never the package's Python files."""
    return Path(__file__).resolve().parent / "static"
