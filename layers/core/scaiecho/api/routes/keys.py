"""The caller's own key, and the tenant's keys (metadata only; secrets are never returned)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from scaiecho.adapters.api_keys import ApiKeyStore, StoredKey
from scaiecho.api.deps import CurrentPrincipal
from scaiecho.errors import NotFound

router = APIRouter(prefix="/keys", tags=["keys"])


def key_public(key: StoredKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "tenant_id": key.tenant_id,
        "scopes": sorted(s.value for s in key.scopes),
        "user_id": key.user_id,
        "label": key.label,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@router.get("/me")
def who_am_i(principal: CurrentPrincipal) -> dict[str, Any]:
    return {
        "data": {
            "tenant_id": principal.tenant_id,
            "key_id": principal.key_id,
            "scopes": sorted(s.value for s in principal.scopes),
            "user_id": principal.user_id,
        }
    }


@router.get("/{key_id}")
def get_key(key_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
    key = ApiKeyStore().get(key_id)
    # Another tenant's key is indistinguishable from a missing one.
    if key is None or key.tenant_id != principal.tenant_id:
        raise NotFound(f"no API key {key_id!r}", code="api_key_not_found")
    return {"data": key_public(key)}
