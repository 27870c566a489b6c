"""Server → client frames. On AWS through API Gateway's ``@connections`` management API; the
local gateway (:mod:`scaiecho.local.gateway`) implements the same port over its sockets."""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from scaiecho.errors import UpstreamError
from scaiecho.settings import get_settings


class ReplyPort(Protocol):
    def send(self, connection_id: str, frame: dict[str, Any]) -> bool:
        """Deliver one JSON frame; False when the client is gone."""
        ...

    def close(self, connection_id: str) -> None:
        """Close the connection from the server side (idempotent)."""
        ...


def management_endpoint(domain_name: str, stage: str) -> str:
    """The @connections endpoint for a WebSocket event's ``domainName`` and ``stage``."""
    return f"https://{domain_name}/{stage}"


class ApiGatewayReplies:
    """``apigatewaymanagementapi`` for one API stage; the client is created on first use."""

    def __init__(self, endpoint_url: str, client: Any | None = None) -> None:
        self.endpoint_url = endpoint_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            settings = get_settings()
            endpoint = self.endpoint_url
            if settings.aws_endpoint_url:
                # Against the local stack (a replayed event, `scaiecho invoke`) every AWS API is
                # moto's, @connections of the event's stage included; never the real domain.
                endpoint = settings.aws_endpoint_url.rstrip("/") + urlsplit(self.endpoint_url).path
            self._client = boto3.client(
                "apigatewaymanagementapi", endpoint_url=endpoint, region_name=settings.region,
            )
        return self._client

    def send(self, connection_id: str, frame: dict[str, Any]) -> bool:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(frame).encode())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "GoneException":
                return False
            raise UpstreamError(f"could not reply on the WebSocket: {exc}", code="reply_failed") from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"could not reply on the WebSocket: {exc}", code="reply_failed") from exc
        return True

    def close(self, connection_id: str) -> None:
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "GoneException":
                raise UpstreamError(f"could not close the WebSocket: {exc}", code="reply_failed") from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"could not close the WebSocket: {exc}", code="reply_failed") from exc
