"""Step Functions tasks of the transcription workflow (statemachine/transcribe.asl.json)."""

from __future__ import annotations

from typing import Any

from scaiecho.services import transcription_tasks


def fetch(event: dict[str, Any]) -> dict[str, Any]:
    return transcription_tasks.fetch(
        tenant_id=event["tenant_id"], job_id=event["job_id"], bucket=event["bucket"],
    )


def run_asr(event: dict[str, Any]) -> dict[str, Any]:
    return transcription_tasks.run_asr(
        tenant_id=event["tenant_id"], job_id=event["job_id"], bucket=event["bucket"],
        audio_key=event.get("audio_key"), language=(event.get("options") or {}).get("language"),
    )


def run_diarize(event: dict[str, Any]) -> dict[str, Any]:
    return transcription_tasks.run_diarize(
        tenant_id=event["tenant_id"], job_id=event["job_id"], bucket=event["bucket"],
        audio_key=event.get("audio_key"), options=event.get("options") or {},
    )


def merge(event: dict[str, Any]) -> dict[str, Any]:
    return transcription_tasks.merge(
        tenant_id=event["tenant_id"], job_id=event["job_id"], bucket=event["bucket"],
        options=event.get("options") or {}, asr=event["asr"], diarization=event.get("diarization") or {},
        diarization_timeout_s=event.get("diarization_timeout_s"),
    )


def fail(event: dict[str, Any]) -> dict[str, Any]:
    return transcription_tasks.fail(
        tenant_id=event["tenant_id"], job_id=event["job_id"], error=event.get("error") or {},
        execution_arn=event.get("execution_arn"),
    )
