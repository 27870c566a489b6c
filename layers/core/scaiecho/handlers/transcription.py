"""Step Functions tasks of the transcription workflow (statemachine/transcribe.asl.json)."""

from __future__ import annotations

from typing import Any

from scaiecho.handlers.events import JobFailTask, JobTask, MergeTask, parse_event
from scaiecho.services import transcription_tasks


def fetch(event: dict[str, Any]) -> dict[str, Any]:
    task = parse_event(event, JobTask)
    return transcription_tasks.fetch(tenant_id=task.tenant_id, job_id=task.job_id, bucket=task.bucket)


def run_asr(event: dict[str, Any]) -> dict[str, Any]:
    task = parse_event(event, JobTask)
    return transcription_tasks.run_asr(
        tenant_id=task.tenant_id, job_id=task.job_id, bucket=task.bucket,
        audio_key=task.audio_key, language=task.language,
    )


def run_diarize(event: dict[str, Any]) -> dict[str, Any]:
    task = parse_event(event, JobTask)
    return transcription_tasks.run_diarize(
        tenant_id=task.tenant_id, job_id=task.job_id, bucket=task.bucket,
        audio_key=task.audio_key, options=task.options,
    )


def merge(event: dict[str, Any]) -> dict[str, Any]:
    task = parse_event(event, MergeTask)
    return transcription_tasks.merge(
        tenant_id=task.tenant_id, job_id=task.job_id, bucket=task.bucket, options=task.options,
        asr=task.asr, diarization=task.diarization, diarization_timeout_s=task.diarization_timeout_s,
    )


def fail(event: dict[str, Any]) -> dict[str, Any]:
    task = parse_event(event, JobFailTask)
    return transcription_tasks.fail(tenant_id=task.tenant_id, job_id=task.job_id, error=task.error,
                                    execution_arn=task.execution_arn)
