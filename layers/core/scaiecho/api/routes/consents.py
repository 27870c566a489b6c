"""Tenant-wide consent export for a data-protection officer. Scope: scaiecho:enroll."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query
from fastapi.responses import PlainTextResponse

from scaiecho.api.deps import requires
from scaiecho.api.schemas.common import AUTH_ERRORS, error_responses
from scaiecho.domain.auth import Principal, Scope
from scaiecho.errors import ValidationFailed
from scaiecho.services import consents

router = APIRouter(prefix="/consents", tags=["consents"])

_MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


# Errors answer JSON (ErrorBody); the records themselves are documented per media type below.
@router.get("", response_model=None,
            responses={200: {"content": {m: {"schema": {"type": "string"}} for m in _MEDIA.values()},
                             "description": "one page of consent records; X-Next-Cursor: the next"},
                       **error_responses(*AUTH_ERRORS)})
def export_consents(
    principal: Principal = requires(Scope.ENROLL),
    start: str | None = Query(None, alias="from", description="ISO 8601, inclusive"),
    end: str | None = Query(None, alias="to", description="ISO 8601, exclusive"),
    format: str | None = Query(None, description="jsonl (default) or csv; else the Accept header"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None),
    accept: str | None = Header(None),
) -> PlainTextResponse:
    """One page of consent records (JSON lines or CSV); the next page's cursor is in the
    ``X-Next-Cursor`` header (absent on the last page)."""
    chosen = format or ("csv" if "text/csv" in (accept or "") else "jsonl")
    if chosen not in _MEDIA:
        raise ValidationFailed("format must be jsonl or csv", code="invalid_format",
                               details={"format": chosen})
    page, next_cursor = consents.export_consents(principal, start=start, end=end, limit=limit,
                                                 cursor=cursor)
    body = consents.as_csv(page) if chosen == "csv" else consents.as_jsonl(page)
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
    return PlainTextResponse(body, media_type=_MEDIA[chosen], headers=headers)
