"""Every workaround the embedded stack needs for moto, in one place (moto pinned: 5.2.5).

1. Step Functions execution: moto's ASL interpreter runs only with
   ``{"stepfunctions": {"execute_state_machine": true}}``; Lambda without Docker needs
   ``{"lambda": {"use_docker": false}}``.
2. In-process Lambda executor: without Docker, moto's Lambda returns canned data; we replace its
   ``invoke`` so the real handler of the function (from template.yaml) runs in this process, with
   errors reported as Lambda does (``FunctionError: Unhandled``) so ASL Retry/Catch work.
3. SageMaker runtime routing: moto's ``InvokeEndpoint`` returns canned data; we forward the body to
   the local node process registered for that endpoint name (the SageMaker ``/invocations``
   contract), so the production code path (boto3 ``invoke_endpoint``) runs unchanged.
4. DynamoDB atomicity: moto applies updates without a lock; concurrent conditional writes from
   threads (Map states, parallel requests) can interleave, so DynamoDB calls are serialised.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}

LambdaHandler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    timeout_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


@dataclass
class Registry:
    """What the patched services route to: function name -> handler, endpoint -> node URL."""

    handlers: dict[str, LambdaHandler] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)
    dynamodb_lock: threading.RLock = field(default_factory=threading.RLock)


REGISTRY = Registry()
_applied: list[bool] = []


def load_handler(code_dir: Path, handler: str) -> LambdaHandler:
    """Import ``functions/<name>/app.py`` by path (each function is its own root, as on Lambda)."""
    module_name, _, attr = handler.rpartition(".")
    path = code_dir / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"scaiecho_fn_{code_dir.name}_{module_name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load Lambda handler from {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn: LambdaHandler = getattr(module, attr)
    return fn


def register_function(name: str, handler: LambdaHandler) -> None:
    REGISTRY.handlers[name] = handler


def register_endpoint(endpoint_name: str, url: str) -> None:
    REGISTRY.endpoints[endpoint_name] = url.rstrip("/")


def unregister_endpoint(endpoint_name: str) -> None:
    REGISTRY.endpoints.pop(endpoint_name, None)


def run_lambda(function_name: str, body: bytes | str | None) -> tuple[bytes, bool]:
    """Run a registered handler; returns (payload, errored) exactly as Lambda would report it."""
    name = function_name.split(":function:")[-1].split(":")[0]
    handler = REGISTRY.handlers.get(name)
    if handler is None:
        return _lambda_error("ResourceNotFoundException", f"no local handler for {name}"), True
    event = json.loads(body) if body else {}
    return call_handler(handler, event, LambdaContext(function_name=name))


def call_handler(handler: LambdaHandler, event: Any, context: LambdaContext) -> tuple[bytes, bool]:
    """One invocation: the result as JSON, or (errored) the error document Lambda reports."""
    try:
        result = handler(event, context)
    except Exception as exc:
        return _lambda_error(type(exc).__name__, str(exc), traceback.format_exc()), True
    return json.dumps(result, default=str).encode(), False


def _lambda_error(error_type: str, message: str, trace: str = "") -> bytes:
    body: dict[str, Any] = {"errorType": error_type, "errorMessage": message}
    if trace:
        body["stackTrace"] = trace.splitlines()[-5:]
    return json.dumps(body).encode()


def forward_invocation(
    endpoint_name: str, body: bytes, timeout_s: float
) -> tuple[int, dict[str, str], bytes]:
    """POST a SageMaker runtime body to the local node; answer as SageMaker runtime does."""
    url = REGISTRY.endpoints.get(endpoint_name)
    if url is None:
        return _sagemaker_error(
            400, "ValidationError", f"Endpoint {endpoint_name} of account 123456789012 not found."
        )
    request = urllib.request.Request(  # noqa: S310 - a loopback URL from our own registry
        f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310
            return 200, {"Content-Type": "application/json", "status": "200"}, resp.read()
    except urllib.error.HTTPError as exc:
        # SageMaker wraps a container error as 424 ModelError with the original body.
        original = exc.read().decode(errors="replace")
        status, headers, payload = _sagemaker_error(
            424, "ModelError", f"Received client error ({exc.code}) from primary with message \"{original}\""
        )
        doc = json.loads(payload)
        doc["OriginalStatusCode"] = exc.code
        doc["OriginalMessage"] = original
        return status, headers, json.dumps(doc).encode()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        return _sagemaker_error(503, "ServiceUnavailable", f"endpoint {endpoint_name} is unavailable: {exc}")


def _sagemaker_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    # moto reads the HTTP status from the "status" header of a handler's response.
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code,
               "status": str(status)}
    return status, headers, json.dumps({"__type": code, "message": message}).encode()


def apply(node_timeout_s: float = 300.0) -> None:
    """Install the patches into moto (idempotent) and set its config."""
    from moto.core.config import default_user_config

    for key, value in MOTO_CONFIG.items():
        default_user_config.setdefault(key, {}).update(value)  # type: ignore[misc]
    if _applied:
        return

    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
               response_headers: dict[str, str]) -> bytes:
        payload, errored = run_lambda(function_name, body)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    def invoke_endpoint(self: Any) -> tuple[int, dict[str, str], bytes]:
        endpoint_name = self._get_params().get("EndpointName") or self.path.split("/")[2]
        body = self.body if isinstance(self.body, bytes) else str(self.body).encode()
        return forward_invocation(endpoint_name, body, node_timeout_s)

    original_call_action = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with REGISTRY.dynamodb_lock:
            return original_call_action(self)

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _applied.append(True)
