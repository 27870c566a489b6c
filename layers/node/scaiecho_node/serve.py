"""Local node process speaking the SageMaker container contract.

    python -m scaiecho_node.serve --port 8081 --node-id node-a [--model-dir .models/default]

``GET /ping`` answers 200 once the model is loaded and warmed up (503 before), ``POST
/invocations`` runs the shared dispatcher. The HTTP socket opens at once and the model loads in
the background, so a supervisor can poll /ping. SIGTERM/SIGINT stop the server cleanly (the
request in flight finishes). stdlib ``http.server`` keeps this free of web-framework deps;
torch inference is serialised inside the engine anyway.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scaiecho.contracts.node import error_reply
from scaiecho.errors import NotFound, PayloadTooLarge, ScaiEchoError, ServiceUnavailable
from scaiecho_node.settings import NodeSettings

logger = logging.getLogger("scaiecho_node.serve")
MAX_BODY_BYTES = 300 * 1024 * 1024


class NodeState:
    """What the HTTP handlers see: the dispatcher once loaded, or why it is not."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.dispatcher: Any = None
        self.load_error: str | None = None
        self.ready = threading.Event()

    def load(self) -> None:
        try:
            from scaiecho_node.engine import Engine
            from scaiecho_node.invocation import Dispatcher

            engine = Engine(self.settings)
            engine.warm_up()
            self.dispatcher = Dispatcher(engine)
            self.ready.set()
            logger.info("node %s ready (%s)", self.settings.node_id, self.settings.model_dir)
        except Exception as exc:  # reported on /ping and /invocations
            logger.exception("model load failed")
            self.load_error = f"{type(exc).__name__}: {exc}"


def make_handler(state: NodeState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "scaiecho-node"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _fail(self, exc: ScaiEchoError) -> None:
            self._send(*error_reply(exc))

        def _not_ready(self) -> None:
            if state.load_error:
                self._fail(ServiceUnavailable(state.load_error, code="model_load_failed"))
            else:
                self._fail(ServiceUnavailable("the model is loading", code="model_loading"))

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/ping":
                self._fail(NotFound(self.path))
            elif state.ready.is_set():
                self._send(200, {"status": "ok", "node_id": state.settings.node_id})
            else:
                self._not_ready()

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/invocations":
                self._fail(NotFound(self.path))
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._fail(PayloadTooLarge("request body too large; use audio.s3"))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            if not state.ready.is_set():
                self._not_ready()
                return
            status, payload = state.dispatcher.handle_bytes(body)
            self._send(status, payload)

    return Handler


def serve(settings: NodeSettings, host: str, port: int) -> int:
    state = NodeState(settings)
    server = ThreadingHTTPServer((host, port), make_handler(state))
    server.daemon_threads = True
    stop = threading.Event()

    def _shutdown(signum: int, _frame: Any) -> None:
        logger.info("signal %s: shutting down", signum)
        stop.set()
        # shutdown() blocks until serve_forever returns, so call it off the main thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    threading.Thread(target=state.load, name="model-load", daemon=True).start()
    print(f"scaiecho node {settings.node_id} listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaiecho_node.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--node-id", default=None)
    parser.add_argument("--model-dir", default=None, help="default: $SCAIECHO_MODEL_DIR or .models/default")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = NodeSettings.from_env(model_dir=args.model_dir, node_id=args.node_id)
    return serve(settings, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
