"""Request dependencies: who is calling, and may they do this."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from scaiecho.domain.auth import Principal, Scope, key_from_headers, parse_scopes
from scaiecho.services.keys import authenticate, require_scopes


def _bearer(request: Request) -> str | None:
    return key_from_headers(request.headers)  # Starlette's headers look up case-insensitively


def _from_authorizer(request: Request) -> Principal | None:
    """On AWS the Lambda authorizer already checked the key; its context rides on the event."""
    event: dict[str, Any] | None = request.scope.get("aws.event")
    ctx = ((event or {}).get("requestContext") or {}).get("authorizer") or {}
    if not ctx.get("tenant_id"):
        return None
    return Principal(
        tenant_id=ctx["tenant_id"],
        key_id=ctx.get("key_id", ""),
        scopes=parse_scopes(ctx.get("scopes", "")),
        user_id=ctx.get("user_id") or None,
    )


def current_principal(request: Request) -> Principal:
    return _from_authorizer(request) or authenticate(_bearer(request))


def presented_principal(request: Request) -> Principal | None:
    """None when the caller presented no credentials; the principal when it did (401 if invalid)."""
    if _from_authorizer(request) is None and not request.headers.get("authorization"):
        return None
    return current_principal(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def requires(*scopes: Scope) -> Any:
    """A dependency that yields the principal after checking the route's scopes (403 otherwise)."""

    def _check(principal: CurrentPrincipal) -> Principal:
        require_scopes(principal, *scopes)
        return principal

    return Depends(_check)
