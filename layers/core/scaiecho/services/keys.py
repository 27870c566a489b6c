"""API key use cases: create, list, revoke, authenticate."""

from __future__ import annotations

from dataclasses import dataclass

from scaiecho.adapters.api_keys import ApiKeyStore, StoredKey
from scaiecho.domain.auth import (
    Principal,
    Scope,
    issue_key,
    parse_scopes,
    secret_matches,
    split_key,
    validate_tenant_id,
)
from scaiecho.errors import Forbidden, NotFound, Unauthenticated


@dataclass(frozen=True)
class CreatedKey:
    api_key: str  # plaintext, returned once
    key: StoredKey


def create_key(
    tenant_id: str,
    scopes: str | list[str],
    *,
    user_id: str | None = None,
    label: str | None = None,
    store: ApiKeyStore | None = None,
) -> CreatedKey:
    store = store or ApiKeyStore()
    issued = issue_key()
    stored = store.put(
        key_id=issued.key_id,
        tenant_id=validate_tenant_id(tenant_id),
        secret_hash=issued.secret_hash,
        scopes=parse_scopes(scopes),
        user_id=user_id,
        label=label,
    )
    return CreatedKey(api_key=issued.plaintext, key=stored)


def list_keys(tenant_id: str | None = None, *, store: ApiKeyStore | None = None) -> list[StoredKey]:
    store = store or ApiKeyStore()
    keys = store.list_for_tenant(tenant_id) if tenant_id else store.list_all()
    return sorted(keys, key=lambda k: k.created_at)


def revoke_key(key_id: str, *, store: ApiKeyStore | None = None) -> StoredKey:
    store = store or ApiKeyStore()
    revoked = store.revoke(key_id)
    if revoked is None:
        raise NotFound(f"no API key {key_id!r}", code="api_key_not_found")
    return revoked


def authenticate(plaintext: str | None, *, store: ApiKeyStore | None = None) -> Principal:
    """Resolve a bearer key to its principal; every failure is the same 401 (no oracle)."""
    parts = split_key(plaintext) if plaintext else None
    if parts is None:
        raise Unauthenticated(
            "a valid API key is required (Authorization: Bearer <key>, or X-API-Key: <key>)"
        )
    key_id, secret = parts
    stored = (store or ApiKeyStore()).get(key_id)
    if stored is None or not stored.active or not secret_matches(secret, stored.secret_hash):
        raise Unauthenticated("the API key is invalid or revoked", code="invalid_api_key")
    return Principal(
        tenant_id=stored.tenant_id, key_id=stored.key_id, scopes=stored.scopes, user_id=stored.user_id
    )


def require_scopes(principal: Principal, *scopes: Scope) -> None:
    missing = [s.value for s in scopes if not principal.has(s)]
    if missing:
        raise Forbidden(
            f"this API key lacks the scope(s): {', '.join(missing)}",
            code="insufficient_scope",
            details={"required": missing},
        )
