"""Multipart file parts -> Upload, reading no more than the size limit allows."""

from __future__ import annotations

from starlette.datastructures import UploadFile

from scaiecho.errors import ValidationFailed
from scaiecho.services.uploads import Upload
from scaiecho.settings import get_settings


def read_upload(field: str, file: UploadFile | None, *, limit_bytes: int | None = None) -> Upload:
    """``limit_bytes`` defaults to the deployment's upload limit (a route may set a tighter one)."""
    if file is None:
        raise ValidationFailed(
            f"required field(s) missing or empty: {field}", code="missing_field",
            details={"fields": [field]},
        )
    # Read at most one byte past the limit: enough for services.uploads to refuse it (413).
    limit = get_settings().max_upload_bytes if limit_bytes is None else limit_bytes
    data = file.file.read(limit + 1)
    return Upload(field=field, data=data, filename=file.filename, media_type=file.content_type)
