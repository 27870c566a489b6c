"""Audio blobs in S3, always SSE-KMS, under ``tenant/{tenant_id}/…``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scaiecho.adapters.aws import client
from scaiecho.errors import StorageError
from scaiecho.settings import get_settings


def speaker_prefix(tenant_id: str, speaker_id: str) -> str:
    return f"tenant/{tenant_id}/speakers/{speaker_id}/"


@dataclass
class DeletionReport:
    keys: list[str] = field(default_factory=list)
    versions: int = 0
    bytes: int = 0


class BlobStore:
    def __init__(self, s3: Any | None = None, bucket: str | None = None) -> None:
        self._s3 = s3
        self.bucket = bucket or get_settings().audio_bucket

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = client("s3")
        return self._s3

    def put(self, key: str, data: bytes, content_type: str, *, sha256_hex: str) -> str | None:
        settings = get_settings()
        extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
        if settings.kms_key_id:
            extra["SSEKMSKeyId"] = settings.kms_key_id
        try:
            resp = self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                Metadata={"sha256": sha256_hex}, **extra,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not store the audio") from exc
        version: str | None = resp.get("VersionId")
        return version

    def delete_prefix(self, prefix: str) -> DeletionReport:
        """Delete every version and delete marker under ``prefix`` (versioned bucket)."""
        report = DeletionReport()
        try:
            paginator = self.s3.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                batch = []
                for v in page.get("Versions", []):
                    batch.append({"Key": v["Key"], "VersionId": v["VersionId"]})
                    report.bytes += int(v.get("Size", 0))
                    if v["Key"] not in report.keys:
                        report.keys.append(v["Key"])
                batch += [
                    {"Key": m["Key"], "VersionId": m["VersionId"]} for m in page.get("DeleteMarkers", [])
                ]
                for start in range(0, len(batch), 1000):
                    chunk = batch[start : start + 1000]
                    resp = self.s3.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True}
                    )
                    if resp.get("Errors"):
                        raise StorageError(f"could not delete {len(resp['Errors'])} audio object(s)")
                    report.versions += len(chunk)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not delete audio") from exc
        return report

    def delete_keys(self, keys: list[str]) -> DeletionReport:
        report = DeletionReport()
        for key in keys:
            part = self.delete_prefix(key)
            report.keys += part.keys
            report.versions += part.versions
            report.bytes += part.bytes
        return report
