"""Serves the web console (static files from ``scaiecho/console``) beside the local REST API.

Same origin as the API, so the console needs no CORS here. On AWS the same files go to any
static host (README, "Web console").
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from scaiecho.console import CONSOLE_PATH, console_dir


def mount_console(app: FastAPI, prefix: str) -> str:
    """Mount the console at ``{prefix}/console`` (``…/console`` redirects to ``…/console/``)."""
    path = prefix + CONSOLE_PATH
    app.mount(path, StaticFiles(directory=console_dir(), html=True), name="console")
    return path
