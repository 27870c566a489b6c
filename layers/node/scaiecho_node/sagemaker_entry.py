"""SageMaker inference handler; packaged as ``code/inference.py`` in model.tar.gz.

The SageMaker PyTorch serving container calls ``model_fn(model_dir)`` once, then
``input_fn`` → ``predict_fn`` → ``output_fn`` per request. ``model_dir`` is the unpacked
model.tar.gz: the pyannote pipeline files (config.yaml, segmentation/, embedding/, plda/) at
its root, and ``code/`` (this file, the ``scaiecho_node`` and ``scaiecho`` sources, and
requirements.txt) beside them. The same dispatcher as the local node answers, so responses and
error bodies are identical; errors travel as ``{"error": …}`` with their status code in the
body's ``status`` field because the handler API has no way to set the HTTP status.
"""

from __future__ import annotations

import json
import os
from typing import Any

JSON = "application/json"


def model_fn(model_dir: str) -> Any:
    from scaiecho_node.engine import Engine
    from scaiecho_node.invocation import Dispatcher
    from scaiecho_node.settings import NodeSettings

    settings = NodeSettings.from_env(
        model_dir=os.environ.get("SCAIECHO_MODEL_DIR") or model_dir,
        node_id=os.environ.get("SCAIECHO_NODE_ID") or os.environ.get("SM_CURRENT_HOST"),
    )
    engine = Engine(settings)
    engine.warm_up()
    return Dispatcher(engine)


def input_fn(request_body: bytes | str, content_type: str = JSON) -> Any:
    if content_type and content_type.split(";")[0].strip() not in (JSON, "application/x-json"):
        return {"__invalid__": f"content type {content_type!r} is not accepted; send {JSON}"}
    if isinstance(request_body, bytes | bytearray):
        request_body = request_body.decode("utf-8", errors="replace")
    try:
        return json.loads(request_body or "null")
    except ValueError:
        return {"__invalid__": "the request body is not valid JSON"}


def predict_fn(payload: Any, dispatcher: Any) -> dict[str, Any]:
    from scaiecho.contracts.node import error_reply
    from scaiecho.errors import BadRequest

    if isinstance(payload, dict) and "__invalid__" in payload:
        status, body = error_reply(BadRequest(payload["__invalid__"]))
    else:
        status, body = dispatcher.handle(payload)
    if status != 200:
        body = {**body, "status": status}
    return body


def output_fn(prediction: dict[str, Any], accept: str = JSON) -> tuple[str, str]:
    return json.dumps(prediction), JSON
