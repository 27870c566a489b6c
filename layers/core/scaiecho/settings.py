"""One typed settings object, read from the environment once per process.

On AWS every value comes from the function's environment (template.yaml sets them); the embedded
local stack sets the same variables for the resources it provisioned.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCAIECHO_", extra="ignore", frozen=True)

    stage: str = "local"
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    # Set only for the embedded stack (moto); boto3 and pynamodb then talk to it.
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")

    # Resource names (template.yaml passes them to every function).
    api_keys_table: str = "scaiecho-local-api-keys"
    nodes_table: str = "scaiecho-local-nodes"
    speakers_table: str = "scaiecho-local-speakers"
    consents_table: str = "scaiecho-local-consents"
    warm_registry_table: str = "scaiecho-local-warm-registry"
    erasure_audit_table: str = "scaiecho-local-erasure-audit"
    idempotency_table: str = "scaiecho-local-idempotency"
    audio_bucket: str = "scaiecho-local-audio"
    kms_key_id: str | None = None
    enroll_state_machine_arn: str | None = None
    node_probe_state_machine_arn: str | None = None

    # Express workflows on AWS answer StartSyncExecution; moto has no such call, so the local
    # stack turns this off and the adapter polls DescribeExecution instead.
    workflow_sync_api: bool = True
    workflow_wait_s: float = 60.0

    # Nodes: how long one node call may take, and how stale a heartbeat may be.
    node_timeout_s: float = 120.0
    node_stale_after_s: float = 300.0

    # Upload limits.
    max_upload_mb: float = 50.0

    # Enrollment is "complete" once the samples hold this much speech.
    enrollment_complete_speech_s: float = 12.0

    log_level: str = "INFO"

    @field_validator("max_upload_mb", "workflow_wait_s", "node_timeout_s")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
