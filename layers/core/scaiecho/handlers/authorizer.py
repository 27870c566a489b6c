"""API Gateway Lambda authorizer (REQUEST type) for the REST and WebSocket APIs.

The key comes from ``Authorization: Bearer``, ``X-API-Key`` or, for browsers on the WebSocket handshake, the
``api_key`` query parameter. Neither is ever logged. The principal rides to the API functions in
the authorizer context (strings only: API Gateway's rule).
"""

from __future__ import annotations

from typing import Any

from scaiecho.domain.auth import key_from_headers
from scaiecho.errors import Unauthenticated
from scaiecho.observability import get_logger
from scaiecho.services.keys import authenticate


def _key_from_event(event: dict[str, Any]) -> str | None:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    key = key_from_headers(headers)
    if key:
        return key
    query = event.get("queryStringParameters") or {}
    return query.get("api_key") or None


def _policy(principal_id: str, effect: str, resource: str) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }


def handle(event: dict[str, Any]) -> dict[str, Any]:
    resource = event.get("methodArn", "*")
    try:
        principal = authenticate(_key_from_event(event))
    except Unauthenticated:
        get_logger().info("authorizer denied a request")
        # API Gateway answers 401 for this exact exception message.
        raise Exception("Unauthorized") from None
    # Allow every route of this API for the key; scopes are checked per route by the functions.
    arn_base = resource.split("/", 1)[0] + "/*" if "/" in resource else resource
    response = _policy(principal.key_id, "Allow", arn_base)
    response["context"] = {
        "tenant_id": principal.tenant_id,
        "key_id": principal.key_id,
        "scopes": ",".join(sorted(s.value for s in principal.scopes)),
        "user_id": principal.user_id or "",
    }
    return response
