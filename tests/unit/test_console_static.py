"""The web console's static files: served at …/console beside the API, self-contained (no
module, script or style from another origin), every relative import resolvable."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from scaiecho.api.app import API_PREFIX
from scaiecho.console import console_dir
from scaiecho.local.console import mount_console

IMPORT = re.compile(r"""(?:import\s[^;]*?from\s+|import\s*\(\s*|new URL\(\s*)["']([^"']+)["']""")
REFERENCE = re.compile(r"""(?:src|href)="([^"]+)\"""")


def _client() -> TestClient:
    app = FastAPI()
    mount_console(app, API_PREFIX)
    return TestClient(app)


def test_the_console_is_served_under_the_api_prefix() -> None:
    client = _client()
    page = client.get(f"{API_PREFIX}/console")  # redirected to …/console/
    assert page.status_code == 200
    assert "<title>ScaiEcho console</title>" in page.text
    assert client.get(f"{API_PREFIX}/console/app.js").headers["content-type"].startswith(
        ("text/javascript", "application/javascript"))
    assert client.get(f"{API_PREFIX}/console/__init__.py").status_code == 404


def test_every_module_and_asset_is_local_and_exists() -> None:
    folder = console_dir()
    html = (folder / "index.html").read_text()
    refs = [r for r in REFERENCE.findall(html) if not r.startswith(("#", "data:"))]
    for js in folder.glob("*.js"):
        refs += IMPORT.findall(js.read_text())
    assert "app.js" in refs and "./api.js" in refs
    for ref in refs:
        assert "://" not in ref and not ref.startswith("//"), f"{ref} would be fetched from elsewhere"
        assert (folder / ref.removeprefix("./")).is_file(), f"{ref} is referenced but missing"
