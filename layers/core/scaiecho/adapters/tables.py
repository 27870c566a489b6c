"""pynamodb models for every table, bound to names and endpoint from settings at first use.

pynamodb reads ``Meta.table_name`` from the class, so the classes carry placeholders and
:func:`bind` fills them in from the one settings object (lazily, never at import time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from scaiecho.settings import Settings, get_settings


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Unbound:
    table_name = "unbound"
    region = "us-east-1"
    host: str | None = None


class TenantKeysIndex(GlobalSecondaryIndex["ApiKeyRow"]):
    class Meta:
        index_name = "tenant-index"
        projection = AllProjection()

    tenant_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class ApiKeyRow(Model):
    """One API key: only the secret's hash is stored."""

    class Meta(_Unbound):
        pass

    key_id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    scopes = UnicodeSetAttribute()
    user_id = UnicodeAttribute(null=True)
    label = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    revoked_at = UTCDateTimeAttribute(null=True)
    tenant_index = TenantKeysIndex()


class NodeRow(Model):
    """A pyannote node: a SageMaker endpoint (or a local process behind the same contract)."""

    class Meta(_Unbound):
        pass

    node_id = UnicodeAttribute(hash_key=True)
    endpoint_name = UnicodeAttribute()
    engine = UnicodeAttribute(default="pyannote")
    model_id = UnicodeAttribute(null=True)
    model_version = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="unknown")  # online | offline | unknown
    last_seen = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    embedding_dim = NumberAttribute(null=True)


_TABLES: dict[type[Model], str] = {
    ApiKeyRow: "api_keys_table",
    NodeRow: "nodes_table",
}


def register(model: type[Model], settings_field: str) -> None:
    """Let other adapter modules add their models to the binding."""
    _TABLES[model] = settings_field


def bind(settings: Settings | None = None) -> None:
    """Point every model at its table and endpoint. Idempotent; call again after env changes."""
    settings = settings or get_settings()
    for model, field in _TABLES.items():
        meta: Any = model.Meta
        meta.table_name = getattr(settings, field)
        meta.region = settings.region
        meta.host = settings.aws_endpoint_url
        model._connection = None  # pynamodb caches the connection per class


_bound_for: list[Settings] = []


def ensure_bound() -> None:
    settings = get_settings()
    if not _bound_for or _bound_for[0] is not settings:
        bind(settings)
        _bound_for[:] = [settings]
