"""The caller's own key, and the tenant's keys (metadata only; secrets are never returned)."""

from __future__ import annotations

from fastapi import APIRouter

from scaiecho.adapters.api_keys import ApiKeyStore
from scaiecho.api.deps import CurrentPrincipal
from scaiecho.api.schemas.accounts import Caller, KeyPublic
from scaiecho.api.schemas.common import Envelope, error_responses
from scaiecho.errors import NotFound

router = APIRouter(prefix="/keys", tags=["keys"])


@router.get("/me", responses=error_responses(401, 429))
def who_am_i(principal: CurrentPrincipal) -> Envelope[Caller]:
    return Envelope(data=Caller.from_domain(principal))


@router.get("/{key_id}", responses=error_responses(401, 404, 429))
def get_key(key_id: str, principal: CurrentPrincipal) -> Envelope[KeyPublic]:
    key = ApiKeyStore().get(key_id)
    # Another tenant's key is indistinguishable from a missing one.
    if key is None or key.tenant_id != principal.tenant_id:
        raise NotFound(f"no API key {key_id!r}", code="api_key_not_found")
    return Envelope(data=KeyPublic.from_domain(key))
