"""pyannote nodes: the node registry (DynamoDB) and the invocation client (SageMaker runtime).

The client always calls ``sagemaker-runtime:InvokeEndpoint``; on AWS that reaches the SageMaker
endpoint, in the embedded stack moto routes it to the local node process (see
``scaiecho.local.moto_patches``), so both run the same code path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel
from pynamodb.exceptions import DeleteError, DoesNotExist

from scaiecho.adapters.aws import client
from scaiecho.adapters.storage import storage_call
from scaiecho.adapters.tables import NodeRow, utcnow
from scaiecho.contracts.node import (
    Audio,
    Candidate,
    DiarizeRequest,
    DiarizeResult,
    EmbedRequest,
    EmbedResult,
    ErrorReply,
    EvictRequest,
    EvictResult,
    HealthRequest,
    HealthResult,
    NodeRequest,
    Priority,
    TranscribeRequest,
    TranscribeResult,
)
from scaiecho.errors import NodeError
from scaiecho.settings import get_settings

R = TypeVar("R", bound=BaseModel)  # one of the contract's results (NodeResult)


@dataclass(frozen=True)
class Node:
    node_id: str
    endpoint_name: str
    engine: str
    status: str
    model_id: str | None
    model_version: str | None
    last_seen: datetime | None
    last_error: str | None
    online_since: datetime | None = None

    def serialize(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "endpoint_name": self.endpoint_name,
            "engine": self.engine,
            "status": self.status,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "last_error": self.last_error,
        }


def _to_domain(row: NodeRow) -> Node:
    return Node(
        node_id=row.node_id,
        endpoint_name=row.endpoint_name,
        engine=row.engine,
        status=row.status,
        model_id=row.model_id,
        model_version=row.model_version,
        last_seen=row.last_seen,
        last_error=row.last_error,
        online_since=row.online_since,
    )


class NodeStore:
    @storage_call("could not register the node")
    def register(self, node_id: str, endpoint_name: str, engine: str = "pyannote") -> Node:
        row = NodeRow(node_id, endpoint_name=endpoint_name, engine=engine, status="unknown")
        row.save()
        return _to_domain(row)

    @storage_call("could not deregister the node")
    def deregister(self, node_id: str) -> bool:
        """Forget a node (its endpoint is being deleted): no enrollment, job or erasure waits on
        it any more. False when it was not registered."""
        try:
            NodeRow(node_id).delete(condition=NodeRow.node_id.exists())
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @storage_call("could not read the node")
    def get(self, node_id: str) -> Node | None:
        try:
            return _to_domain(NodeRow.get(node_id))
        except DoesNotExist:
            return None

    @storage_call("could not list nodes")
    def list(self) -> list[Node]:
        return sorted((_to_domain(r) for r in NodeRow.scan()), key=lambda n: n.node_id)

    @storage_call("could not record the node probe")
    def record_probe(
        self, node_id: str, *, online: bool, health: HealthResult | None, error: str | None
    ) -> None:
        actions: list[Any] = [NodeRow.status.set("online" if online else "offline")]
        if online:
            now = utcnow()
            # Set only when it comes (back) online: NodeRow.online_since says why.
            before = self.get(node_id)
            if before is None or before.status != "online" or before.online_since is None:
                actions.append(NodeRow.online_since.set(now))
            actions.append(NodeRow.last_seen.set(now))
            actions.append(NodeRow.last_error.remove())
            if health is not None:
                actions.append(NodeRow.model_id.set(health.model_id or ""))
                actions.append(NodeRow.model_version.set(health.model_version or ""))
        else:
            actions.append(NodeRow.last_error.set((error or "unreachable")[:500]))
        NodeRow(node_id).update(actions=actions, condition=NodeRow.node_id.exists())


class NodeClient:
    """Speaks a node's ``invocations`` protocol with the contract's models
    (:mod:`scaiecho.contracts.node`): one typed method per action."""

    def __init__(self, sagemaker_runtime: Any | None = None) -> None:
        self._client = sagemaker_runtime

    @property
    def _runtime(self) -> Any:
        if self._client is None:
            self._client = client("sagemaker-runtime", read_timeout=get_settings().node_timeout_s)
        return self._client

    def health(self, endpoint_name: str) -> HealthResult:
        return self._invoke(endpoint_name, HealthRequest(), HealthResult)

    def embed(self, endpoint_name: str, audio: Audio, *, priority: Priority = "interactive"
              ) -> EmbedResult:
        return self._invoke(endpoint_name, EmbedRequest(audio=audio, priority=priority), EmbedResult)

    def transcribe(self, endpoint_name: str, audio: Audio, *, language: str | None = None,
                   word_timestamps: bool = True, priority: Priority = "interactive",
                   window: Literal["short", "full"] | None = None) -> TranscribeResult:
        request = TranscribeRequest(audio=audio, language=language, word_timestamps=word_timestamps,
                                    priority=priority, window=window)
        return self._invoke(endpoint_name, request, TranscribeResult)

    def diarize(self, endpoint_name: str, audio: Audio, *, candidates: Sequence[Candidate] = (),
                min_speakers: int | None = None, max_speakers: int | None = None,
                num_speakers: int | None = None, priority: Priority = "interactive"
                ) -> DiarizeResult:
        request = DiarizeRequest(audio=audio, candidates=list(candidates), min_speakers=min_speakers,
                                 max_speakers=max_speakers, num_speakers=num_speakers,
                                 priority=priority)
        return self._invoke(endpoint_name, request, DiarizeResult)

    def evict(self, endpoint_name: str, speaker_ids: Sequence[str]) -> EvictResult:
        return self._invoke(endpoint_name, EvictRequest(speaker_ids=list(speaker_ids)), EvictResult)

    def _invoke(self, endpoint_name: str, request: NodeRequest, reply: type[R]) -> R:
        try:
            resp = self._runtime.invoke_endpoint(
                EndpointName=endpoint_name,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(request.wire()).encode(),
            )
            body = resp["Body"].read()
        except ClientError as exc:
            message, details = _describe_client_error(endpoint_name, exc)
            raise NodeError(message, details=details) from exc
        except BotoCoreError as exc:
            raise NodeError(f"node endpoint {endpoint_name!r} is unreachable: {exc}") from exc
        try:
            return reply.model_validate(json.loads(body)["data"])
        except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError included
            raise NodeError(f"node endpoint {endpoint_name!r} returned an invalid response") from exc


def _describe_client_error(endpoint_name: str, exc: ClientError) -> tuple[str, dict[str, Any] | None]:
    """The message, and the node's own error code/status when the node answered (so a caller can
    tell a request the node refused, e.g. ``unsupported_language``, from a node that failed)."""
    err = exc.response.get("Error", {})
    # A model container error (424 ModelError) carries the node's own JSON error body.
    original = exc.response.get("OriginalMessage") or err.get("Message", "")
    try:
        node_err = ErrorReply.model_validate_json(original).error
    except ValueError:
        node_err = None
    if node_err is not None and node_err.message:
        details = {"node_code": node_err.code, "node_status": exc.response.get("OriginalStatusCode")}
        return f"node {endpoint_name!r}: {node_err.message}", details
    return f"node endpoint {endpoint_name!r} failed: {err.get('Code', 'error')}: {original}", None
