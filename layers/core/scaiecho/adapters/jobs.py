"""Transcription jobs in DynamoDB (keyed by tenant) and their files in S3 (SSE-KMS).

Layout in the audio bucket:
- ``uploads/{tenant_id}/jobs/{job_id}/audio.{ext}``: the input (transient: the bucket's
  ``uploads/`` lifecycle rule expires it), uploaded with the request or downloaded from a remote
  ``audio_urls`` entry by the workflow's fetch step; also where presigned uploads land
  (``uploads/{tenant_id}/{upload_id}/…``);
- ``tenant/{tenant_id}/jobs/{job_id}/{asr,diarization,transcript}.json``: step results and the
  transcript. Step results never hold embeddings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, UpdateError

from scaiecho.adapters.blobs import BlobStore
from scaiecho.adapters.cursors import decode_cursor, encode_cursor
from scaiecho.adapters.storage import storage_call
from scaiecho.adapters.tables import JobRow, SpeakerRow, utcnow
from scaiecho.domain.jobs import JobStatus
from scaiecho.errors import StorageError

JOB_PREFIX = "job_"
BATCH_PREFIX = "bat_"


def input_key(tenant_id: str, job_id: str, extension: str) -> str:
    return f"uploads/{tenant_id}/jobs/{job_id}/audio.{extension}"


def batch_job_id(batch_id: str, index: int) -> str:
    """The id of a batch's ``index``-th file: ``job_<batch hex>_<index>`` (zero-padded, so the
    batch's jobs sort in file order and one prefix query lists them)."""
    return f"{batch_job_prefix(batch_id)}{index:03d}"


def batch_job_prefix(batch_id: str) -> str:
    return f"{JOB_PREFIX}{batch_id.removeprefix(BATCH_PREFIX)}_"


def result_key(tenant_id: str, job_id: str, name: str) -> str:
    return f"tenant/{tenant_id}/jobs/{job_id}/{name}.json"


@dataclass(frozen=True)
class Job:
    tenant_id: str
    job_id: str
    status: JobStatus
    request: dict[str, Any]
    audio_key: str
    audio_bytes: int
    result_key: str | None
    warnings: list[str]
    progress: dict[str, str]
    error_code: str | None
    error_message: str | None
    duration_s: float | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    match_user_id: str | None = None
    source_url: str | None = None
    batch_id: str | None = None
    batch_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _job(row: JobRow) -> Job:
    return Job(
        tenant_id=row.tenant_id, job_id=row.job_id, status=JobStatus(row.status),
        request=json.loads(row.request), audio_key=row.audio_key, audio_bytes=int(row.audio_bytes or 0),
        result_key=row.result_key, warnings=[str(w) for w in row.warnings or []],
        progress=dict(row.progress.as_dict() if row.progress else {}),
        error_code=row.error_code, error_message=row.error_message,
        duration_s=float(row.duration_s) if row.duration_s is not None else None,
        created_at=row.created_at, updated_at=row.updated_at, completed_at=row.completed_at,
        match_user_id=row.match_user_id, source_url=row.source_url, batch_id=row.batch_id,
        batch_index=int(row.batch_index) if row.batch_index is not None else None,
    )


def _progress(stage: str) -> Any:
    """The document path ``progress.<stage>`` (pynamodb's stubs type map items as values)."""
    return cast(Any, JobRow.progress)[stage]


_OPEN = (JobStatus.QUEUED.value, JobStatus.PROCESSING.value)


class JobStore:
    @storage_call("could not store the job")
    def create(self, *, tenant_id: str, job_id: str, request: dict[str, Any], audio_key: str,
               audio_bytes: int, match_user_id: str | None = None, source_url: str | None = None,
               batch_id: str | None = None, batch_index: int | None = None) -> Job:
        now = utcnow()
        row = JobRow(tenant_id, job_id, status=JobStatus.QUEUED.value, request=json.dumps(request),
                     audio_key=audio_key, audio_bytes=audio_bytes, progress={}, warnings=[],
                     match_user_id=match_user_id, source_url=source_url, batch_id=batch_id,
                     batch_index=batch_index, created_at=now, updated_at=now)
        row.save(condition=JobRow.job_id.does_not_exist())
        return _job(row)

    @storage_call("could not read the job")
    def get(self, tenant_id: str, job_id: str) -> Job | None:
        """Tenant-scoped: another tenant's job is not found."""
        if not job_id.startswith(JOB_PREFIX):
            return None
        try:
            return _job(JobRow.get(tenant_id, job_id, consistent_read=True))
        except DoesNotExist:
            return None

    @storage_call("could not list jobs")
    def page(self, tenant_id: str, *, limit: int, cursor: str | None) -> tuple[list[Job], str | None]:
        result = JobRow.query(
            tenant_id, range_key_condition=JobRow.job_id.startswith(JOB_PREFIX), limit=limit,
            scan_index_forward=False,
            last_evaluated_key=decode_cursor(cursor, tenant_id=tenant_id, range_key="job_id",
                                             prefix=JOB_PREFIX),
        )
        jobs = [_job(r) for r in result]
        return jobs, encode_cursor(result.last_evaluated_key)

    @storage_call("could not count the jobs")
    def active_count(self, tenant_id: str) -> int:
        """The tenant's jobs still QUEUED or PROCESSING (fair use): a query of its partition."""
        return sum(1 for _ in JobRow.query(
            tenant_id, filter_condition=JobRow.status.is_in(JobStatus.QUEUED.value,
                                                            JobStatus.PROCESSING.value),
            attributes_to_get=["job_id"],
        ))

    @storage_call("could not update the job")
    def _update(self, tenant_id: str, job_id: str, actions: list[Any], *, only_open: bool = True) -> bool:
        """Apply ``actions``; False when the job is already settled (a late step changes nothing)."""
        condition = JobRow.job_id.exists()
        if only_open:
            condition = condition & JobRow.status.is_in(*_OPEN)
        try:
            JobRow(tenant_id, job_id).update(actions=[*actions, JobRow.updated_at.set(utcnow())],
                                             condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @storage_call("could not list the batch")
    def page_batch(self, tenant_id: str, batch_id: str, *, limit: int,
              cursor: str | None) -> tuple[list[Job], str | None]:
        """The jobs of one batch, in file order: their ids share the batch's prefix (a keyed
        query of the tenant's partition, never a scan)."""
        prefix = batch_job_prefix(batch_id)
        result = JobRow.query(
            tenant_id, range_key_condition=JobRow.job_id.startswith(prefix), limit=limit,
            last_evaluated_key=decode_cursor(cursor, tenant_id=tenant_id, range_key="job_id",
                                             prefix=prefix),
        )
        jobs = [_job(r) for r in result]
        return jobs, encode_cursor(result.last_evaluated_key)

    def set_audio(self, tenant_id: str, job_id: str, *, audio_key: str, audio_bytes: int) -> bool:
        """The fetch step stored the remote recording here."""
        return self._update(tenant_id, job_id, [JobRow.audio_key.set(audio_key),
                                                JobRow.audio_bytes.set(audio_bytes)])

    def set_execution(self, tenant_id: str, job_id: str, execution_arn: str) -> None:
        self._update(tenant_id, job_id, [JobRow.execution_arn.set(execution_arn)])

    def stage(self, tenant_id: str, job_id: str, stage: str, state: str) -> bool:
        """Record a step's progress; the first step to start moves the job to PROCESSING."""
        return self._update(tenant_id, job_id, [
            JobRow.status.set(JobStatus.PROCESSING.value),
            _progress(stage).set(state),
        ])

    def complete(self, tenant_id: str, job_id: str, *, result: str, warnings: list[str],
                 duration_s: float) -> bool:
        return self._update(tenant_id, job_id, [
            JobRow.status.set(JobStatus.COMPLETED.value), JobRow.result_key.set(result),
            JobRow.warnings.set(cast(Any, warnings)), JobRow.duration_s.set(duration_s),
            _progress("merge").set("done"),
            JobRow.completed_at.set(utcnow()),
        ])

    def fail(self, tenant_id: str, job_id: str, *, code: str, message: str) -> bool:
        return self._update(tenant_id, job_id, [
            JobRow.status.set(JobStatus.FAILED.value), JobRow.error_code.set(code),
            JobRow.error_message.set(message[:1000]), JobRow.completed_at.set(utcnow()),
        ])


class JobFiles(BlobStore):
    """The job's objects in the audio bucket (always SSE-KMS with the deployment's key)."""

    def put_data(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                               **self.sse_params())
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not store the job's data") from exc

    def put_file(self, key: str, fileobj: Any, content_type: str) -> None:
        """Stream a file object (a fetched recording, possibly hundreds of MB) to S3."""
        try:
            self.s3.upload_fileobj(fileobj, self.bucket, key,
                                   ExtraArgs={"ContentType": content_type, **self.sse_params()})
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not store the job's data") from exc

    def put_json(self, key: str, doc: dict[str, Any]) -> None:
        self.put_data(key, json.dumps(doc, ensure_ascii=False).encode(), "application/json")

    def get_json(self, key: str) -> dict[str, Any]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not read the job's data") from exc
        doc: dict[str, Any] = json.loads(body)
        return doc

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is no such object."""
        try:
            return int(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError("could not read the audio object") from exc
        except BotoCoreError as exc:
            raise StorageError("could not read the audio object") from exc

    def head_bytes(self, key: str, length: int) -> bytes:
        """The first ``length`` bytes of an object (enough to sniff and probe its container)."""
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}")
            data: bytes = resp["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not read the audio object") from exc
        return data

    def presigned_post(self, key: str, *, max_bytes: int, expires_s: int) -> dict[str, Any]:
        """A browser/CLI upload straight to S3, bounded in size by the signed policy."""
        sse = self.sse_params()
        fields = {"x-amz-server-side-encryption": sse["ServerSideEncryption"]}
        conditions: list[Any] = [["content-length-range", 1, max_bytes],
                                 {"x-amz-server-side-encryption": sse["ServerSideEncryption"]}]
        if "SSEKMSKeyId" in sse:
            fields["x-amz-server-side-encryption-aws-kms-key-id"] = sse["SSEKMSKeyId"]
            conditions.append({"x-amz-server-side-encryption-aws-kms-key-id": sse["SSEKMSKeyId"]})
        try:
            post: dict[str, Any] = self.s3.generate_presigned_post(
                Bucket=self.bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_s,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not sign the upload") from exc
        return post


@storage_call("could not record the speaker's use")
def mark_speakers_used(tenant_id: str, speaker_ids: list[str], attempts: int = 5) -> None:
    """Identification named these speakers: their retention period counts from now."""
    now = utcnow()
    for sid in speaker_ids:
        for _ in range(attempts):  # the row is versioned: re-read on a concurrent write
            try:
                row = SpeakerRow.get(tenant_id, sid, consistent_read=True)
                if row.tombstoned_at is not None:
                    break
                row.update(actions=[SpeakerRow.last_used_at.set(now)],
                           condition=SpeakerRow.tombstoned_at.does_not_exist())
                break
            except DoesNotExist:
                break
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
