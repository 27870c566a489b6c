"""Multipart file parts -> Upload, reading no more than the size limit allows."""

from __future__ import annotations

from fastapi import UploadFile

from scaiecho.errors import PayloadTooLarge, ValidationFailed
from scaiecho.services.uploads import Upload
from scaiecho.settings import get_settings


def read_upload(field: str, file: UploadFile | None) -> Upload:
    if file is None:
        raise ValidationFailed(
            f"required field(s) missing or empty: {field}", code="missing_field",
            details={"fields": [field]},
        )
    limit = get_settings().max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"'{field}' is larger than the limit of {limit} bytes", code="audio_too_large",
            details={"field": field, "limit_bytes": limit},
        )
    return Upload(field=field, data=data, filename=file.filename, media_type=file.content_type)
