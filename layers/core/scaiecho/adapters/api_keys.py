"""API key storage (DynamoDB via pynamodb). Returns domain objects, never raw items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from scaiecho.adapters.storage import storage_call
from scaiecho.adapters.tables import ApiKeyRow, utcnow
from scaiecho.domain.auth import Scope


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    tenant_id: str
    secret_hash: str
    scopes: frozenset[Scope]
    user_id: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _to_domain(row: ApiKeyRow) -> StoredKey:
    return StoredKey(
        key_id=row.key_id,
        tenant_id=row.tenant_id,
        secret_hash=row.secret_hash,
        scopes=frozenset(Scope(s) for s in (row.scopes or set()) if s in Scope._value2member_map_),
        user_id=row.user_id,
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class ApiKeyStore:
    @storage_call("could not store the API key")
    def put(
        self,
        *,
        key_id: str,
        tenant_id: str,
        secret_hash: str,
        scopes: frozenset[Scope],
        user_id: str | None,
        label: str | None,
    ) -> StoredKey:
        row = ApiKeyRow(
            key_id,
            tenant_id=tenant_id,
            secret_hash=secret_hash,
            scopes={s.value for s in scopes},
            user_id=user_id,
            label=label,
            created_at=utcnow(),
        )
        row.save(condition=ApiKeyRow.key_id.does_not_exist())
        return _to_domain(row)

    @storage_call("could not read the API key")
    def get(self, key_id: str) -> StoredKey | None:
        try:
            return _to_domain(ApiKeyRow.get(key_id))
        except DoesNotExist:
            return None

    @storage_call("could not list API keys")
    def list_for_tenant(self, tenant_id: str) -> list[StoredKey]:
        return [_to_domain(r) for r in ApiKeyRow.tenant_index.query(tenant_id)]

    @storage_call("could not list API keys")
    def list_all(self) -> list[StoredKey]:
        return [_to_domain(r) for r in ApiKeyRow.scan()]

    @storage_call("could not revoke the API key")
    def revoke(self, key_id: str) -> StoredKey | None:
        try:
            row = ApiKeyRow.get(key_id)
            if row.revoked_at is None:
                row.update(actions=[ApiKeyRow.revoked_at.set(utcnow())])
            return _to_domain(row)
        except DoesNotExist:
            return None
