"""Local pyannote node processes speaking the SageMaker ``/ping`` + ``/invocations`` contract."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LocalNode:
    node_id: str
    endpoint_name: str
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ping(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=timeout) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except OSError:
            return False

    def stop(self, timeout: float = 15.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def node_engine_available() -> bool:
    return importlib.util.find_spec("scaiecho_node") is not None and (
        importlib.util.find_spec("pyannote.audio") is not None
    )


def threads_per_node(nodes: int) -> int:
    """The machine's cores shared out between the local nodes (at least one each).

    Nodes on one machine must not each take every core: two 2-thread nodes on 2 cores made a
    4 s utterance's embedding 2.5x slower (0.40 s against 0.16 s with one thread each) as
    their threads fought, and every stream waited on it. ``SCAIECHO_NODE_THREADS`` overrides."""
    return max(1, (os.cpu_count() or 1) // max(1, nodes))


def start_node(node_id: str, endpoint_name: str, port: int, log_dir: Path,
               model_dir: str | None = None, threads: int | None = None) -> LocalNode:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{node_id}.log"
    cmd = [sys.executable, "-m", "scaiecho_node.serve", "--port", str(port), "--node-id", node_id]
    if model_dir:
        cmd += ["--model-dir", model_dir]
    env = {**os.environ, "PYANNOTE_METRICS_ENABLED": "false", "HF_HUB_OFFLINE": "1"}
    if threads and not env.get("SCAIECHO_NODE_THREADS"):
        env["SCAIECHO_NODE_THREADS"] = str(threads)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return LocalNode(node_id, endpoint_name, port, proc, log_path)


def wait_ready(nodes: list[LocalNode], timeout_s: float) -> list[LocalNode]:
    """Wait until each node answers /ping (model loaded); returns the ready ones."""
    deadline = time.monotonic() + timeout_s
    pending = list(nodes)
    ready: list[LocalNode] = []
    while pending and time.monotonic() < deadline:
        for node in list(pending):
            if node.process is not None and node.process.poll() is not None:
                pending.remove(node)  # exited: see its log
            elif node.ping():
                ready.append(node)
                pending.remove(node)
        if pending:
            time.sleep(0.5)
    return ready
