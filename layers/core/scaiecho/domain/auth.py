"""API keys and principals (pure).

A key looks like ``se_<key_id>_<secret>``. Only sha256(secret) is stored: the secret has 256 bits
of entropy, so a fast hash is safe and the lookup stays one GetItem by ``key_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from scaiecho.errors import ValidationFailed

KEY_PREFIX = "se"


class Scope(StrEnum):
    ENROLL = "scaiecho:enroll"
    TRANSCRIBE = "scaiecho:transcribe"
    DIARIZE = "scaiecho:diarize"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, the key's scopes, and (optionally) a user of that tenant."""

    tenant_id: str
    key_id: str
    scopes: frozenset[Scope]
    user_id: str | None = None

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret_hash: str
    plaintext: str  # shown to the caller once, never stored


def parse_scopes(raw: str | list[str]) -> frozenset[Scope]:
    items = raw.split(",") if isinstance(raw, str) else raw
    scopes: set[Scope] = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            scopes.add(Scope(item))
        except ValueError:
            raise ValidationFailed(
                f"unknown scope {item!r}",
                code="unknown_scope",
                details={"allowed": [s.value for s in Scope]},
            ) from None
    if not scopes:
        raise ValidationFailed("at least one scope is required", code="unknown_scope")
    return frozenset(scopes)


def validate_tenant_id(tenant_id: str) -> str:
    tenant_id = tenant_id.strip()
    if not tenant_id or len(tenant_id) > 64 or not all(c.isalnum() or c in "-_." for c in tenant_id):
        raise ValidationFailed(
            "tenant id must be 1-64 characters of letters, digits, '-', '_' or '.'",
            code="invalid_tenant_id",
        )
    return tenant_id


def issue_key() -> IssuedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return IssuedKey(
        key_id=key_id, secret_hash=hash_secret(secret), plaintext=f"{KEY_PREFIX}_{key_id}_{secret}"
    )


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(plaintext: str) -> tuple[str, str] | None:
    """Return (key_id, secret) or None when the string is not shaped like one of our keys."""
    parts = plaintext.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The API key a request presents: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

    ``headers`` must have lower-case names. Both forms are accepted everywhere (REST, the
    WebSocket handshake, the AWS authorizer): clients of the transcription-job API send
    ``X-API-Key``. Never a REST query string (it would end up in access logs).
    """
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = (headers.get("x-api-key") or "").strip()
    return api_key or None
