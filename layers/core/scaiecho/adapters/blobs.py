"""Audio blobs in S3, always SSE-KMS, under ``tenant/{tenant_id}/…``.

Intake writes blobs *staged*: tagged ``scaiecho-state=pending`` until the rows that reference
them commit, then re-tagged ``committed`` (retried; if that keeps failing, the rows are undone).
API functions may not delete audio (only the erasure functions can), so a failed intake leaves
its staged blobs to the bucket's lifecycle rule, which expires pending objects (every version)
after a day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scaiecho.adapters.aws import client
from scaiecho.errors import StorageError
from scaiecho.observability import get_logger
from scaiecho.settings import get_settings

STATE_TAG = "scaiecho-state"
PENDING = "pending"
COMMITTED = "committed"
# Re-tagging after the rows committed: 4 tries over ~1.5 s ride out a throttled or flaky S3.
COMMIT_ATTEMPTS = 4
COMMIT_BACKOFF_S = 0.2


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

    @staticmethod
    def sse_params() -> dict[str, str]:
        """SSE-KMS with the deployment's key (the bucket default too; explicit so it never lapses)."""
        key = get_settings().kms_key_id
        return {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": key} if key else {})}

    def put(
        self, key: str, data: bytes, content_type: str, *, sha256_hex: str, staged: bool = False
    ) -> str | None:
        """Store one object; ``staged`` tags it pending until :meth:`commit` (see module doc)."""
        extra: dict[str, Any] = self.sse_params()
        if staged:
            extra["Tagging"] = f"{STATE_TAG}={PENDING}"
        try:
            resp = self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                Metadata={"sha256": sha256_hex}, **extra,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not store the audio") from exc
        version: str | None = resp.get("VersionId")
        return version

    @contextmanager
    def staging(
        self, *, undo: Callable[[], None] | None = None
    ) -> Iterator[Callable[[str, bytes, str, str], None]]:
        """Stage blobs for rows written in the ``with`` body, then commit them.

        ``stage(key, data, content_type, sha256_hex)`` writes a pending blob. If the body fails,
        its blobs stay pending and expire (this process may not delete audio). Once it succeeds,
        they are committed, retried with backoff: the rows already reference them, and a pending
        blob under committed rows would expire. If the re-tag still fails, ``undo`` removes the
        rows the body wrote (so nothing references the blobs that will expire) and the request
        fails with a StorageError the client can retry.
        """
        staged: list[tuple[str, str | None]] = []

        def stage(key: str, data: bytes, content_type: str, sha256_hex: str) -> None:
            staged.append((key, self.put(key, data, content_type, sha256_hex=sha256_hex, staged=True)))

        try:
            yield stage
        except BaseException:
            if staged:
                get_logger().warning("staged audio left to expire", extra={"count": len(staged)})
            raise
        try:
            self._commit_with_retries(staged)
        except StorageError:
            if undo is None:
                get_logger().error("could not commit staged audio", extra={"count": len(staged)})
                raise
            try:
                undo()
            except Exception:
                # Rows reference audio that will expire: the one case an operator must repair.
                get_logger().exception("could not commit staged audio nor undo its rows",
                                       extra={"count": len(staged), "keys": [k for k, _ in staged]})
                raise
            get_logger().warning("staged audio not committed; its rows were undone",
                                 extra={"count": len(staged)})
            raise

    def _commit_with_retries(self, staged: list[tuple[str, str | None]]) -> None:
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                self.commit(staged)
                return
            except StorageError:
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise
                time.sleep(COMMIT_BACKOFF_S * 2**attempt)

    def commit(self, staged: list[tuple[str, str | None]]) -> None:
        """Re-tag staged ``(key, version_id)`` objects as committed, so the lifecycle keeps them."""
        try:
            for key, version_id in staged:
                kwargs: dict[str, Any] = {"VersionId": version_id} if version_id else {}
                self.s3.put_object_tagging(
                    Bucket=self.bucket, Key=key,
                    Tagging={"TagSet": [{"Key": STATE_TAG, "Value": COMMITTED}]}, **kwargs,
                )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not commit the stored audio") from exc

    def presigned_get(self, key: str, expires_s: int) -> str:
        """A short-lived GET URL for one object (the consent evidence route)."""
        try:
            url: str = self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError("could not sign a URL for the recording") from exc
        return url

    def state(self, key: str, version_id: str | None = None) -> str | None:
        """The staging tag of one object (``pending`` / ``committed``), None when untagged."""
        kwargs: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        try:
            tags = self.s3.get_object_tagging(Bucket=self.bucket, Key=key, **kwargs)["TagSet"]
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not read the audio's tags") from exc
        return next((t["Value"] for t in tags if t["Key"] == STATE_TAG), None)

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
