"""One typed settings object, read from the environment once per process.

On AWS every value comes from the function's environment (template.yaml sets them); the embedded
local stack sets the same variables for the resources it provisioned.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from scaiecho.domain.audio_urls import Allowlist
    from scaiecho.domain.consent_checks import ConsentPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCAIECHO_", extra="ignore", frozen=True)

    stage: str = "local"
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    # Set only for the embedded stack (moto); boto3 and pynamodb then talk to it. The template
    # declares SCAIECHO_AWS_ENDPOINT_URL empty, for `sam local invoke --env-vars` to set.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL", "SCAIECHO_AWS_ENDPOINT_URL"))

    # Resource names (template.yaml passes them to every function).
    api_keys_table: str = "scaiecho-local-api-keys"
    nodes_table: str = "scaiecho-local-nodes"
    speakers_table: str = "scaiecho-local-speakers"
    consents_table: str = "scaiecho-local-consents"
    warm_registry_table: str = "scaiecho-local-warm-registry"
    erasure_audit_table: str = "scaiecho-local-erasure-audit"
    idempotency_table: str = "scaiecho-local-idempotency"
    voice_profiles_table: str = "scaiecho-local-voice-profiles"
    jobs_table: str = "scaiecho-local-jobs"
    connections_table: str = "scaiecho-local-connections"
    stream_audio_table: str = "scaiecho-local-stream-audio"
    audio_bucket: str = "scaiecho-local-audio"
    kms_key_id: str | None = None
    enroll_state_machine_arn: str | None = None
    node_probe_state_machine_arn: str | None = None
    erasure_retry_state_machine_arn: str | None = None
    transcribe_state_machine_arn: str | None = None

    # Express workflows on AWS answer StartSyncExecution; moto has no such call, so the local
    # stack turns this off and the adapter polls DescribeExecution instead.
    workflow_sync_api: bool = True
    workflow_wait_s: float = 60.0
    # Enrollments in intake at once per API process, and how long one waits for a slot before a
    # 429 intake_busy (services/intake_slots.py; make bench-load measured the default).
    intake_concurrency: int = 4
    intake_queue_wait_s: float = 180.0

    # Idempotency-Key: a request that crashed leaves an in-progress record that blocks retries of
    # its key this long (it must outlast the slowest request: intake may wait
    # intake_queue_wait_s for a slot, then workflow_wait_s for the fan-out).
    idempotency_in_flight_s: float = 300.0

    # GET /health without a key answers from a report at most this old (it probes every node).
    health_cache_s: float = 5.0

    # Nodes: how long one node call may take.
    node_timeout_s: float = 120.0

    # Upload limits.
    max_upload_mb: float = 50.0
    # The longest recording enrollment, added samples and preflight decode (reference and consent
    # alike). Decoding stops here, so a tiny file that claims hours costs at most this much work.
    max_enroll_audio_s: float = 600.0

    # Transcription jobs: the largest recording (bytes and seconds) one job accepts, and the
    # languages the configured speech-to-text model can transcribe, comma-separated (empty = any:
    # a multilingual Whisper). The embedded default runs Whisper tiny.en, so English only.
    max_job_audio_mb: float = 1024.0
    # The largest recording a node reads (inline or from S3). A job can never be larger: the
    # effective job limit is the smaller of the two, so a job a node would refuse is refused at
    # submit (413 audio_too_large), never accepted and then failed.
    node_max_audio_mb: float = 200.0
    max_job_duration_s: float = 4 * 3600.0
    asr_languages: str = "en"
    # Remote audio_urls (https://) are downloaded by the job workflow's fetch step, never by the
    # API. The fetcher refuses loopback, private, CGNAT, link-local, multicast, reserved, IPv6
    # ULA/link-local and cloud-metadata addresses unless this operator allowlist names them:
    # comma-separated IP addresses, CIDR networks or host names, e.g.
    # SCAIECHO_AUDIO_URL_ALLOWLIST='10.20.0.0/16,media.internal'. A host name entry allows any
    # address that name resolves to, and plain http:// for it (http is refused otherwise); a
    # metadata address (169.254.169.254, fd00:ec2::254, ...) only opens when an entry is exactly
    # that address. The download is bounded by max_job_audio_mb/node_max_audio_mb and by
    # audio_url_fetch_timeout_s (the whole fetch, redirects and DNS included).
    audio_url_allowlist: str = ""
    audio_url_fetch_timeout_s: float = 600.0
    # A diarization step still running after this long is abandoned: the job completes without
    # speakers, with a warning (the workflow's TimeoutSecondsPath reads it from the job input).
    diarization_timeout_s: int = 1800

    # Fair use, per tenant: jobs QUEUED or PROCESSING at once, and open streaming sessions. Past
    # either bound a new one is refused with 429 and Retry-After (seconds). The count is read
    # before the new one is written, so concurrent requests may overshoot by a few.
    max_active_jobs_per_tenant: int = 10
    max_streams_per_tenant: int = 20
    fair_use_retry_after_s: int = 30

    # Enrollment is "complete" once the samples hold this much speech. An incomplete enrollment
    # is no identification candidate (jobs, streams), and naming one in speaker_ids is 422
    # enrollment_incomplete, unless the deployment or the tenant opts in, e.g.
    # SCAIECHO_IDENTIFY_INCOMPLETE_ENROLLMENTS_BY_TENANT='{"acme": true}'.
    enrollment_complete_speech_s: float = 12.0
    identify_incomplete_enrollments: bool = False
    identify_incomplete_enrollments_by_tenant: dict[str, bool] = Field(default_factory=dict)

    # Erasure (GDPR Art. 17): failed node evictions are retried in the background by the
    # erasure-retry workflow, every ``erasure_retry_wait_s`` seconds, at most this many times.
    erasure_retry_wait_s: int = 60
    erasure_retry_max_attempts: int = 30

    # Retention (BIPA-style): a speaker unused for this many days (since last use, else since
    # enrollment) is erased by the daily retention sweep; per-tenant overrides as a JSON object,
    # e.g. SCAIECHO_RETENTION_DAYS_BY_TENANT='{"acme": 30}'.
    retention_days: int = 3 * 365
    retention_days_by_tenant: dict[str, int] = Field(default_factory=dict)

    # Personal voice profiles (/users/me/voice-profile): a feature flag per deployment (template
    # parameter VoiceProfilesEnabled; off = every route answers 404 feature_not_available) with
    # per-tenant overrides (either way) as a JSON object, e.g.
    # SCAIECHO_VOICE_PROFILES_ENABLED_BY_TENANT='{"acme": true, "beta": false}'.
    voice_profiles_enabled: bool = True
    voice_profiles_enabled_by_tenant: dict[str, bool] = Field(default_factory=dict)
    voice_sample_min_s: float = 5.0
    voice_sample_max_s: float = 60.0
    voice_sample_max_mb: float = 10.0
    # The consent wording in force; a profile stamped with another version needs re-consent
    # (re-upload) before it is matched again.
    voice_consent_version: str = "2026-01"

    # Streaming (WebSocket): a session idle this long is ended with an ``idle_timeout`` error; a
    # session row outlives its connection at most ``stream_session_ttl_s`` (DynamoDB TTL; API
    # Gateway ends every connection after 2 h). Utterances end after a pause of
    # ``stream_endpoint_silence_s`` or are cut at ``stream_max_utterance_s`` (the pending audio
    # lives in the session row, and DynamoDB items are at most 400 KB).
    stream_idle_timeout_s: float = 60.0
    stream_session_ttl_s: int = 3 * 3600
    stream_endpoint_silence_s: float = 0.45
    stream_max_utterance_s: float = 8.0
    stream_max_session_speakers: int = 16
    # Real-time capacity: open node-backed streams per online node before a new one is refused
    # at ``open`` with ``capacity_exhausted`` (make bench-load measures what a node holds), and
    # the lag past which a session gets a ``falling_behind`` frame.
    stream_capacity_per_node: int = 2
    stream_behind_s: float = 3.0
    # Backend per tenant: "A" = the platform's nodes, "B" = managed STT relay (Amazon Transcribe),
    # e.g. SCAIECHO_STREAM_BACKEND_BY_TENANT='{"acme": "B"}'.
    stream_backend: str = "A"
    stream_backend_by_tenant: dict[str, str] = Field(default_factory=dict)

    # Identification overrides for model dirs other than the calibrated default (the node reads
    # the same variables): SCAIECHO_ID_THRESHOLD / SCAIECHO_ID_SLOPE.
    id_threshold: float | None = None
    id_slope: float | None = None

    # Consent checks at intake (python -m scaiecho_node.calibrate_consent measures them; README
    # "Consent checks"). Voice: cosine between the consent's and the reference's embeddings, on
    # the identification curve (0.54 = the identification threshold). Text: the share of the
    # consent text's words the node's ASR heard. Duplicate voice: cosine between a new reference
    # and an enrolled voiceprint of the tenant. Per-tenant overrides as a JSON object, e.g.
    # SCAIECHO_CONSENT_POLICY_BY_TENANT='{"acme": {"text_min_coverage": 0.5}}'.
    consent_voice_threshold: float = 0.54
    consent_text_min_coverage: float = 0.5
    duplicate_voice_threshold: float = 0.54
    consent_policy_by_tenant: dict[str, dict[str, float]] = Field(default_factory=dict)
    # How long intake waits for the node calls the checks need (embed x2, transcribe).
    consent_check_timeout_s: float = 20.0

    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _stage_table_names(cls, data: Any) -> Any:
        # Tables are named scaiecho-<stage>-<name> (template.yaml): SCAIECHO_STAGE=prod alone
        # points the CLI at a deployed stack's tables; explicit *_TABLE variables still win.
        if not isinstance(data, dict):
            return data
        stage = data.get("stage") or "local"
        for name, info in cls.model_fields.items():
            default = info.default
            if name.endswith("_table") and isinstance(default, str) and name not in data:
                data[name] = default.replace("scaiecho-local-", f"scaiecho-{stage}-", 1)
        return data

    @field_validator(
        "max_upload_mb", "max_enroll_audio_s", "idempotency_in_flight_s", "workflow_wait_s",
        "node_timeout_s", "voice_sample_min_s", "voice_sample_max_s", "voice_sample_max_mb",
        "max_job_audio_mb", "node_max_audio_mb", "max_job_duration_s",
        "stream_idle_timeout_s", "stream_endpoint_silence_s", "stream_capacity_per_node",
        "stream_behind_s", "audio_url_fetch_timeout_s", "intake_concurrency", "intake_queue_wait_s",
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("erasure_retry_wait_s", "erasure_retry_max_attempts", "retention_days",
                     "diarization_timeout_s", "max_active_jobs_per_tenant", "max_streams_per_tenant",
                     "fair_use_retry_after_s")
    @classmethod
    def _positive_int(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("retention_days_by_tenant")
    @classmethod
    def _positive_days(cls, value: dict[str, int]) -> dict[str, int]:
        if any(days <= 0 for days in value.values()):
            raise ValueError("every tenant's retention must be a positive number of days")
        return value

    @field_validator("audio_url_allowlist")
    @classmethod
    def _allowlist(cls, value: str) -> str:
        from scaiecho.domain.audio_urls import Allowlist

        Allowlist.parse(value)  # a typo fails at start-up, not at the first fetch
        return value

    @property
    def audio_url_allowed(self) -> Allowlist:
        from scaiecho.domain.audio_urls import Allowlist

        return Allowlist.parse(self.audio_url_allowlist)

    @field_validator("aws_endpoint_url")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("voice_consent_version")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @model_validator(mode="after")
    def _voice_sample_bounds(self) -> Settings:
        if self.voice_sample_min_s > self.voice_sample_max_s:
            raise ValueError("voice_sample_min_s must not exceed voice_sample_max_s")
        return self

    @field_validator("stream_max_utterance_s")
    @classmethod
    def _utterance_fits_an_item(cls, value: float) -> float:
        # 16 kHz 16-bit audio is 32 KB/s: 9 s + 1 s of context + one frame stays under 400 KB.
        if not 1.0 <= value <= 9.0:
            raise ValueError("must be between 1 and 9 seconds (the session row holds the audio)")
        return value

    @field_validator("stream_backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        if value not in ("A", "B"):
            raise ValueError('must be "A" (nodes) or "B" (managed STT)')
        return value

    @field_validator("stream_backend_by_tenant")
    @classmethod
    def _backends(cls, value: dict[str, str]) -> dict[str, str]:
        if any(v not in ("A", "B") for v in value.values()):
            raise ValueError('every tenant\'s backend must be "A" or "B"')
        return value

    def stream_backend_for(self, tenant_id: str) -> str:
        return self.stream_backend_by_tenant.get(tenant_id, self.stream_backend)

    @field_validator("consent_policy_by_tenant")
    @classmethod
    def _consent_overrides(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        known = {"voice_threshold", "text_min_coverage", "duplicate_voice_threshold"}
        for tenant, overrides in value.items():
            unknown = set(overrides) - known
            if unknown:
                raise ValueError(f"{tenant}: unknown consent setting(s) {sorted(unknown)}; "
                                 f"expected {sorted(known)}")
        return value

    def consent_policy_for(self, tenant_id: str) -> ConsentPolicy:
        # Imported here: settings is read by every function, most of which never score a voice.
        from scaiecho.domain.consent_checks import ConsentPolicy
        from scaiecho.domain.identification import SCORE_SLOPE

        overrides = self.consent_policy_by_tenant.get(tenant_id, {})
        return ConsentPolicy(
            voice_threshold=float(overrides.get("voice_threshold", self.consent_voice_threshold)),
            voice_slope=self.id_slope or SCORE_SLOPE,
            text_min_coverage=float(overrides.get("text_min_coverage", self.consent_text_min_coverage)),
            duplicate_voice_threshold=float(
                overrides.get("duplicate_voice_threshold", self.duplicate_voice_threshold)),
        )

    def identifies_incomplete_for(self, tenant_id: str) -> bool:
        return self.identify_incomplete_enrollments_by_tenant.get(
            tenant_id, self.identify_incomplete_enrollments)

    def identification_min_speech_s(self, tenant_id: str) -> float:
        """The speech an enrollment needs to be an identification candidate for the tenant."""
        return 0.0 if self.identifies_incomplete_for(tenant_id) else self.enrollment_complete_speech_s

    def voice_profiles_enabled_for(self, tenant_id: str) -> bool:
        return self.voice_profiles_enabled_by_tenant.get(tenant_id, self.voice_profiles_enabled)

    @property
    def voice_sample_max_bytes(self) -> int:
        return int(self.voice_sample_max_mb * 1024 * 1024)

    def retention_days_for(self, tenant_id: str) -> int:
        return self.retention_days_by_tenant.get(tenant_id, self.retention_days)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def supported_languages(self) -> tuple[str, ...]:
        return tuple(v.strip().lower() for v in self.asr_languages.split(",") if v.strip())

    @property
    def max_job_audio_bytes(self) -> int:
        return int(min(self.max_job_audio_mb, self.node_max_audio_mb) * 1024 * 1024)

    @property
    def node_max_audio_bytes(self) -> int:
        return int(self.node_max_audio_mb * 1024 * 1024)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
