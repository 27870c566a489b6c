"""The embedded default: moto + provisioning from template.yaml + local nodes + the REST API.

``make run`` / ``scaiecho serve`` starts it on 127.0.0.1 only. State lives in memory: stopping the
stack forgets everything (tables, blobs, keys).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8000
DEMO_TENANT = "demo"
LOCAL_WORKFLOW_WAIT_S = 180
# Live streams one local node keeps within 1.5 s (make bench-load, 2 cores, 2 nodes). The
# template's default is per SageMaker endpoint of several instances; a local node is one process.
LOCAL_STREAM_CAPACITY_PER_NODE = 2
ALL_SCOPES = "scaiecho:enroll,scaiecho:transcribe,scaiecho:diarize"


def project_root() -> Path:
    """The directory holding template.yaml (the repo root, or SCAIECHO_PROJECT_ROOT)."""
    env = os.environ.get("SCAIECHO_PROJECT_ROOT")
    if env:
        return Path(env)
    for base in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[3]):
        if (base / "template.yaml").exists():
            return base
    raise FileNotFoundError("template.yaml not found: run from the project or set SCAIECHO_PROJECT_ROOT")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(message: str) -> None:
    print(f"[scaiecho {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class StackConfig:
    port: int = DEFAULT_PORT
    moto_port: int = 0
    nodes: int = 2
    node_ready_timeout_s: float = 180.0
    model_dir: str | None = None
    stage: str = "local"
    region: str = "us-east-1"
    write_state_file: bool = True


@dataclass
class LocalStack:
    config: StackConfig
    moto_server: Any = None
    moto_url: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    nodes: list[Any] = field(default_factory=list)
    demo_api_key: str = ""
    provisioned: Any = None
    stream_replies: Any = None
    _uvicorn: Any = None
    _api_thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.config.port}/v1/modules/scaiecho"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.config.port}/v1/modules/scaiecho/stream"

    # -------------------------------------------------------------- lifecycle
    def start_aws(self) -> None:
        """moto on loopback, patched, and provisioned from template.yaml."""
        import boto3
        from moto.server import ThreadedMotoServer

        from scaiecho.adapters.aws import reset_clients
        from scaiecho.local import moto_patches
        from scaiecho.local.provision import provision
        from scaiecho.settings import get_settings

        port = self.config.moto_port or free_port()
        self.moto_url = f"http://127.0.0.1:{port}"
        base_env = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": self.config.region,
            "AWS_DEFAULT_REGION": self.config.region,
            "MOTO_PORT": str(port),  # moto's Step Functions interpreter calls back on this port
            "SCAIECHO_STAGE": self.config.stage,
            "SCAIECHO_WORKFLOW_SYNC_API": "false",
        }
        os.environ.update(base_env)
        moto_patches.apply()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per moto call is noise
        self.moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.moto_server.start()
        # moto keeps its backends per process: start every stack from an empty account.
        reset = urllib.request.Request(f"{self.moto_url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310 - loopback moto admin
        say(f"moto (DynamoDB, S3, KMS, Lambda, Step Functions, SageMaker runtime) on {self.moto_url}")

        self.provisioned = provision(
            boto3.Session(region_name=self.config.region),
            project_root() / "template.yaml",
            stage=self.config.stage,
            region=self.config.region,
        )
        # The template's values, then what makes them local (moto, no StartSyncExecution).
        self.environment = {**self.provisioned.environment, **base_env}
        # The template's bound fits API Gateway's 29 s limit; locally there is no such limit and
        # CPU-only nodes are slower, so intake waits longer for the fan-out (unless told otherwise).
        self.environment["SCAIECHO_WORKFLOW_WAIT_S"] = os.environ.get(
            "SCAIECHO_LOCAL_WORKFLOW_WAIT_S", str(LOCAL_WORKFLOW_WAIT_S)
        )
        self.environment["SCAIECHO_STREAM_CAPACITY_PER_NODE"] = os.environ.get(
            "SCAIECHO_LOCAL_STREAM_CAPACITY_PER_NODE", str(LOCAL_STREAM_CAPACITY_PER_NODE)
        )
        os.environ.update(self.environment)
        get_settings.cache_clear()
        reset_clients()
        summary = self.provisioned.summary()
        say(
            f"provisioned from template.yaml: {len(summary['tables'])} tables, "
            f"{len(summary['buckets'])} bucket(s), {len(summary['functions'])} functions, "
            f"{len(summary['state_machines'])} state machine(s)"
        )

    def start_nodes(self) -> None:
        from scaiecho.adapters.nodes import NodeStore
        from scaiecho.local import moto_patches
        from scaiecho.local.nodes import node_engine_available, start_node, threads_per_node, wait_ready

        if self.config.nodes <= 0:
            say("no local pyannote nodes requested")
            return
        if not node_engine_available():
            say("the node engine (extra [node]) is not installed: starting without nodes")
            return
        log_dir = Path(os.environ.get("SCAIECHO_HOME") or Path.home() / ".scaiecho") / "logs"
        store = NodeStore()
        for i in range(1, self.config.nodes + 1):
            node_id = f"node-{i}"
            endpoint = f"scaiecho-{self.config.stage}-{node_id}"
            node = start_node(node_id, endpoint, free_port(), log_dir, self.config.model_dir,
                              threads=threads_per_node(self.config.nodes))
            self.nodes.append(node)
            store.register(node_id, endpoint)
        say(f"starting {len(self.nodes)} pyannote node(s) (loading models; logs in {log_dir})")
        ready = wait_ready(self.nodes, self.config.node_ready_timeout_s)
        for node in self.nodes:
            if node in ready:
                moto_patches.register_endpoint(node.endpoint_name, node.url)
                say(f"node {node.node_id} ready at {node.url} (endpoint {node.endpoint_name})")
            else:
                say(f"node {node.node_id} did not become ready; see {node.log_path}")
        self.probe_nodes()

    def probe_nodes(self) -> dict[str, Any]:
        """Run the node-probe state machine (on AWS it runs every 5 minutes)."""
        from scaiecho.adapters.workflows import WorkflowRunner
        from scaiecho.domain import executions
        from scaiecho.settings import get_settings

        arn = get_settings().node_probe_state_machine_arn
        if not arn:
            return {}
        run = WorkflowRunner().run(arn, {}, name=executions.node_probe(time.strftime("%Y%m%dT%H%M%S")),
                                   wait_s=60)
        return dict(run.output or {}) if run.status != "RUNNING" else {}

    def create_demo_key(self) -> str:
        from scaiecho.services.keys import create_key

        self.demo_api_key = create_key(DEMO_TENANT, ALL_SCOPES, label="demo (local stack)").api_key
        return self.demo_api_key

    def start_api(self, *, in_thread: bool) -> None:
        import uvicorn

        from scaiecho.api.app import API_PREFIX, create_app
        from scaiecho.local.console import mount_console
        from scaiecho.local.gateway import mount

        app = create_app()
        self.stream_replies = mount(app, API_PREFIX)  # the WebSocket API's stand-in
        mount_console(app, API_PREFIX)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.config.port, log_level="warning", access_log=False,
        )
        self._uvicorn = uvicorn.Server(config)
        if in_thread:
            self._api_thread = threading.Thread(target=self._uvicorn.run, daemon=True)
            self._api_thread.start()
            deadline = time.monotonic() + 30
            while not self._uvicorn.started and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self._uvicorn.started:
                raise RuntimeError(f"the REST API did not start on port {self.config.port}")
        else:
            self._uvicorn.run()

    def write_state(self) -> None:
        from scaiecho.local.state import write_state

        if not self.config.write_state_file:
            return
        write_state(
            {
                "pid": os.getpid(),
                "api_url": self.api_url,
                "stream_url": self.stream_url,
                "moto_url": self.moto_url,
                "demo_api_key": self.demo_api_key,
                "demo_tenant": DEMO_TENANT,
                "nodes": [{"node_id": n.node_id, "url": n.url, "endpoint": n.endpoint_name}
                          for n in self.nodes],
                "environment": self.environment,
                # For `scaiecho invoke` / `scaiecho env --sam`: each function as Lambda knows it.
                "project_root": str(project_root()),
                "functions": {k: spec.serialize()
                              for k, spec in self.provisioned.function_specs.items()},
            }
        )

    def stop(self) -> None:
        from scaiecho.local.state import clear_state

        if self._uvicorn is not None and self._api_thread is not None:
            self._uvicorn.should_exit = True
            self._api_thread.join(timeout=10)
        for node in self.nodes:
            node.stop()
        if self.moto_server is not None:
            self.moto_server.stop()
            self.moto_server = None
        if self.config.write_state_file:
            clear_state(os.getpid())


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(config: StackConfig) -> int:
    """Foreground entry point for ``make run``: start everything, serve until Ctrl-C."""
    stack = LocalStack(config)
    # SIGTERM (kill, timeout, a supervisor) must clean up like Ctrl-C: the nodes run in their own
    # sessions and would outlive us. uvicorn re-raises a captured SIGTERM after its own shutdown.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.start_aws()
        stack.create_demo_key()
        stack.start_nodes()
        stack.write_state()
        say("ready")
        print(
            "\n  REST API   " + stack.api_url
            + "\n  WebSocket  " + stack.stream_url
            + "\n  health     " + stack.api_url + "/health"
            + "\n  API docs   " + stack.api_url + "/docs"
            + "\n  console    " + stack.api_url + "/console/"
            + f"\n  demo key   {stack.demo_api_key}   (tenant '{DEMO_TENANT}', all scopes)"
            + f"\n\n  try: curl -s -H 'Authorization: Bearer {stack.demo_api_key}' {stack.api_url}/keys/me"
            + "\n  Ctrl-C stops the stack (state is in memory and is discarded).\n",
            flush=True,
        )
        stack.start_api(in_thread=False)
    except KeyboardInterrupt:
        pass
    finally:
        say("shutting down")
        stack.stop()
        say("stopped")
    return 0
