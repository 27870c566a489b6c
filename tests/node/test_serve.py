"""The local node HTTP shell: /ping readiness, /invocations, clean shutdown on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scaiecho_node.invocation import Dispatcher
from scaiecho_node.serve import NodeState, make_handler
from scaiecho_node.settings import NodeSettings

from .test_invocation import FakeEngine


def request(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_ping_only_when_loaded_and_invocations(tmp_path: Path) -> None:
    state = NodeState(NodeSettings(model_dir=tmp_path, node_id="n1"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert request(f"{base}/ping")[0] == 503
        assert request(f"{base}/invocations", {"action": "health"})[0] == 503
        state.dispatcher = Dispatcher(FakeEngine())
        state.ready.set()
        assert request(f"{base}/ping") == (200, {"status": "ok", "node_id": "n1"})
        status, body = request(f"{base}/invocations", {"action": "health"})
        assert status == 200 and body["data"]["status"] == "ok"
        status, body = request(f"{base}/invocations", {"action": "nope"})
        assert status == 400 and body["error"]["code"] == "unknown_action"
        assert request(f"{base}/other")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_process_reports_load_failure_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SCAIECHO_MODEL_DIR": str(tmp_path / "missing")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaiecho_node.serve", "--port", str(port), "--node-id", "t"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status, body = request(f"http://127.0.0.1:{port}/ping")
                if body.get("error", {}).get("code") == "model_load_failed":
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert status == 503 and body["error"]["code"] == "model_load_failed"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
