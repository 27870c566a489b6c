"""A tiny process honouring the node's SageMaker ``/invocations`` contract, for tests about
routing, workflows and erasure (the real engine is tested in tests/node and tests/e2e).

It answers ``health`` and ``evict`` (recording what it was asked to evict) and rejects any other
action with the node's JSON error shape, as the real dispatcher does. ``answers`` scripts other
actions: a fixed ``(status, JSON body)`` or a function of the request body giving one, e.g. to
make ``diarize`` fail; every request body is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ActionHandler = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
Answer = tuple[int, dict[str, Any]] | ActionHandler


class ContractNode:
    def __init__(self, model_id: str = "contract-node",
                 answers: dict[str, Answer] | None = None) -> None:
        self.evicted: list[str] = []
        self.answers = dict(answers or {})
        self.requests: list[dict[str, Any]] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.requests.append(body)
                status, out = 200, {"data": {"model_id": model_id, "device": "cpu"}}
                if body.get("action") in node.answers:
                    answer = node.answers[body["action"]]
                    status, out = answer(body) if callable(answer) else answer
                elif body.get("action") == "evict":
                    node.evicted += body["speaker_ids"]
                    out = {"data": {"evicted": body["speaker_ids"], "not_held": []}}
                elif body.get("action") != "health":
                    status, out = 400, {"error": {"code": "unknown_action", "message": "bad action"}}
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def registered(answers: dict[str, Answer] | None = None, *, node_id: str = "node-1",
               online: bool = False, model_id: str = "contract-node") -> Iterator[ContractNode]:
    """A contract node registered in the nodes table as ``node_id`` (endpoint
    ``scaiecho-local-<node_id>``, which moto's SageMaker runtime routes to it); stopped after.
    ``online`` records a successful probe, as the node-probe workflow would."""
    from scaiecho.adapters.nodes import NodeStore
    from scaiecho.local import moto_patches

    node = ContractNode(model_id, answers)
    store = NodeStore()
    store.register(node_id, f"scaiecho-local-{node_id}")
    if online:
        store.record_probe(node_id, online=True, health={"model_id": model_id}, error=None)
    moto_patches.register_endpoint(f"scaiecho-local-{node_id}", node.url)
    try:
        yield node
    finally:
        node.stop()
