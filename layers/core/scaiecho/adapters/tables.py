"""pynamodb models for every table, bound to names and endpoint from the settings in force.

pynamodb reads ``Meta.table_name``/``region``/``host`` when it opens a table connection, so every
model derives from :class:`SettingsBoundModel`, which fills them in from the one settings object
each time the settings object changes (lazily, never at import time): no registry, no bind call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from scaiecho.settings import Settings, get_settings


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Unbound:
    table_name = "unbound"
    region = "us-east-1"
    host: str | None = None
    table_setting = ""  # the Settings field naming the table


class SettingsBoundModel(Model):
    """A table model whose name, region and endpoint follow :func:`get_settings`.

    pynamodb caches one connection per class and renews it only when the table name changes; a
    new endpoint (tests, the local stack's moto server) must renew it too, so the binding is
    checked here, at the one place every pynamodb operation asks for its connection.
    """

    _bound_to: ClassVar[Settings | None] = None

    @classmethod
    def _get_connection(cls) -> TableConnection:
        settings = get_settings()
        if cls.__dict__.get("_bound_to") is not settings:
            meta: Any = cls.Meta
            meta.table_name = getattr(settings, meta.table_setting)
            meta.region = settings.region
            meta.host = settings.aws_endpoint_url
            cls._connection = None
            cls._bound_to = settings
        return super()._get_connection()


class TenantKeysIndex(GlobalSecondaryIndex["ApiKeyRow"]):
    class Meta:
        index_name = "tenant-index"
        projection = AllProjection()

    tenant_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class ApiKeyRow(SettingsBoundModel):
    """One API key: only the secret's hash is stored."""

    class Meta(_Unbound):
        table_setting = "api_keys_table"

    key_id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    scopes = UnicodeSetAttribute()
    user_id = UnicodeAttribute(null=True)
    label = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    revoked_at = UTCDateTimeAttribute(null=True)
    tenant_index = TenantKeysIndex()


class NodeRow(SettingsBoundModel):
    """A pyannote node: a SageMaker endpoint (or a local process behind the same contract)."""

    class Meta(_Unbound):
        table_setting = "nodes_table"

    node_id = UnicodeAttribute(hash_key=True)
    endpoint_name = UnicodeAttribute()
    engine = UnicodeAttribute(default="pyannote")
    model_id = UnicodeAttribute(null=True)
    model_version = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="unknown")  # online | offline | unknown
    last_seen = UTCDateTimeAttribute(null=True)
    # When it last came online (a restarted node holds no speaker it held before: the lifecycle
    # pass re-warms every speaker whose voiceprint on it is older than this).
    online_since = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    embedding_dim = NumberAttribute(null=True)


class SampleMap(MapAttribute[str, object]):
    sample_id = UnicodeAttribute()
    key = UnicodeAttribute()
    sha256 = UnicodeAttribute()
    media_type = UnicodeAttribute()
    duration_s = NumberAttribute()
    speech_s = NumberAttribute()
    grade = UnicodeAttribute()
    bytes = NumberAttribute()
    created_at = UTCDateTimeAttribute()


class SpeakerRow(SettingsBoundModel):
    """A speaker profile. Sort key ``spk_…``; the same table holds external-id claims (``ext#…``)."""

    class Meta(_Unbound):
        table_setting = "speakers_table"

    tenant_id = UnicodeAttribute(hash_key=True)
    speaker_id = UnicodeAttribute(range_key=True)
    external_id = UnicodeAttribute(null=True)
    display_name = UnicodeAttribute(null=True)
    language_primary = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    enrollment_status = UnicodeAttribute(default="pending")
    samples = ListAttribute(of=SampleMap, default=list)
    total_speech_s = NumberAttribute(default=0)
    enrollment_quality = UnicodeAttribute(null=True)
    consent_id = UnicodeAttribute(null=True)
    consent_version = UnicodeAttribute(null=True)
    enrolled_on = UnicodeSetAttribute(null=True)
    note = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    last_used_at = UTCDateTimeAttribute(null=True)
    tombstoned_at = UTCDateTimeAttribute(null=True)
    erasure_audit_id = UnicodeAttribute(null=True)  # set with tombstoned_at by erasure
    # Enrolled although its voice matched this ready speaker (the request said so).
    allow_duplicate_voice = BooleanAttribute(null=True)
    duplicate_voice_of = UnicodeAttribute(null=True)
    version = VersionAttribute()


class ExternalIdClaimRow(SettingsBoundModel):
    """Makes ``external_id`` unique per tenant: written in the same transaction as the speaker."""

    class Meta(_Unbound):
        table_setting = "speakers_table"

    tenant_id = UnicodeAttribute(hash_key=True)
    speaker_id = UnicodeAttribute(range_key=True)  # "ext#<external_id>"
    claimed_by = UnicodeAttribute()


class ConsentRow(SettingsBoundModel):
    """Immutable consent record: written once (conditional put), never updated."""

    class Meta(_Unbound):
        table_setting = "consents_table"

    tenant_id = UnicodeAttribute(hash_key=True)
    consent_key = UnicodeAttribute(range_key=True)  # "<speaker_id>#<consent_id>"
    consent_id = UnicodeAttribute()
    speaker_id = UnicodeAttribute()
    full_name = UnicodeAttribute()
    stated_purpose = UnicodeAttribute()
    consent_text = UnicodeAttribute()
    consent_version = UnicodeAttribute()
    audio_key = UnicodeAttribute()
    audio_sha256 = UnicodeAttribute()
    captured_at = UTCDateTimeAttribute(default=utcnow)
    actor = UnicodeAttribute()
    # The checks made before it was written (absent on records older than the checks).
    voice_status = UnicodeAttribute(null=True)
    voice_score = NumberAttribute(null=True)
    voice_cosine = NumberAttribute(null=True)
    voice_threshold = NumberAttribute(null=True)
    text_status = UnicodeAttribute(null=True)
    text_score = NumberAttribute(null=True)
    text_threshold = NumberAttribute(null=True)
    text_heard = UnicodeAttribute(null=True)
    text_reason = UnicodeAttribute(null=True)
    checked_on_node = UnicodeAttribute(null=True)
    check_model_version = UnicodeAttribute(null=True)


class WarmRow(SettingsBoundModel):
    """(speaker, node) -> sealed voiceprint: the source of truth for which node holds a speaker."""

    class Meta(_Unbound):
        table_setting = "warm_registry_table"

    speaker_key = UnicodeAttribute(hash_key=True)  # "<tenant_id>#<speaker_id>"
    node_id = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    speaker_id = UnicodeAttribute()
    # KMS-encrypted; never stored or logged in clear.
    sealed_embedding = BinaryAttribute(legacy_encoding=False)
    model_id = UnicodeAttribute(null=True)
    model_version = UnicodeAttribute(null=True)
    dim = NumberAttribute()
    sample_ids = UnicodeSetAttribute(null=True)
    enrolled_at = UTCDateTimeAttribute(default=utcnow)


class ErasureAuditRow(SettingsBoundModel):
    """An erasure's audit header: written once (conditional put), never updated or deleted.

    The same table holds its append-only events (:class:`ErasureEventRow`) under
    ``<audit_id>#…`` sort keys; the header's sort key is the bare ``audit_id``.
    """

    class Meta(_Unbound):
        table_setting = "erasure_audit_table"

    tenant_id = UnicodeAttribute(hash_key=True)
    audit_key = UnicodeAttribute(range_key=True)  # "<audit_id>"
    audit_id = UnicodeAttribute()
    speaker_id = UnicodeAttribute()
    actor = UnicodeAttribute()
    reason = UnicodeAttribute()
    blob_prefix = UnicodeAttribute()
    node_ids = UnicodeSetAttribute(null=True)
    requested_at = UTCDateTimeAttribute(default=utcnow)


class ErasureEventRow(SettingsBoundModel):
    """One append-only outcome of an erasure step or node eviction (conditional put, never updated)."""

    class Meta(_Unbound):
        table_setting = "erasure_audit_table"

    tenant_id = UnicodeAttribute(hash_key=True)
    audit_key = UnicodeAttribute(range_key=True)  # "<audit_id>#step#<name>" | "<audit_id>#evt#<ts>#<n>"
    audit_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    at = UTCDateTimeAttribute(default=utcnow)
    actor = UnicodeAttribute(null=True)
    node_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    deleted_count = NumberAttribute(null=True)
    bytes = NumberAttribute(null=True)
    keys = ListAttribute(of=UnicodeAttribute, null=True)


class VoiceProfileRow(SettingsBoundModel):
    """A user's own voice profile: one row per (tenant, user); a re-upload replaces it in place.

    Only the KMS-sealed embedding is kept (the sample itself never leaves the request).
    """

    class Meta(_Unbound):
        table_setting = "voice_profiles_table"

    tenant_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    # Opaque id the nodes know the embedding by (diarize candidates, evict); new per upload.
    profile_id = UnicodeAttribute()
    provider = UnicodeAttribute(default="pyannote")
    # KMS-encrypted with a context binding tenant + user; never stored or logged in clear.
    sealed_embedding = BinaryAttribute(legacy_encoding=False)
    dim = NumberAttribute()
    model_id = UnicodeAttribute(null=True)
    model_version = UnicodeAttribute(null=True)
    consent_version = UnicodeAttribute()
    sample_duration_s = NumberAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)


class JobRow(SettingsBoundModel):
    """A transcription job. The transcript itself lives in S3 (``result_key``)."""

    class Meta(_Unbound):
        table_setting = "jobs_table"

    tenant_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute(default="QUEUED")  # QUEUED | PROCESSING | COMPLETED | FAILED
    request = UnicodeAttribute()  # the validated options, JSON
    audio_key = UnicodeAttribute()
    audio_bytes = NumberAttribute(default=0)
    result_key = UnicodeAttribute(null=True)
    warnings = ListAttribute(of=UnicodeAttribute, default=list)
    # stage (asr | diarization | merge) -> running | done | failed
    progress: MapAttribute[str, str] = MapAttribute(default=dict)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    # match_me=true: whose voice profile the diarization step scores against (read at run time,
    # so a profile deleted or needing re-consent in between is not used). Never the embedding.
    match_user_id = UnicodeAttribute(null=True)
    # A remote audio_urls entry (https://): the workflow's fetch step downloads it to audio_key.
    source_url = UnicodeAttribute(null=True)
    # Several audio_urls in one request: the batch (bat_...) and this file's place in it.
    batch_id = UnicodeAttribute(null=True)
    batch_index = NumberAttribute(null=True)
    duration_s = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    completed_at = UTCDateTimeAttribute(null=True)


class TenantConnectionsIndex(GlobalSecondaryIndex["ConnectionRow"]):
    """A tenant's open sessions (fair use counts them at $connect)."""

    class Meta:
        index_name = "tenant-index"
        projection = KeysOnlyProjection()

    tenant_id = UnicodeAttribute(hash_key=True)


class ConnectionRow(SettingsBoundModel):
    """A WebSocket streaming session (API Gateway connection id). Deleted at close/disconnect;
    ``expires_at`` (TTL) removes rows of connections that vanished without a $disconnect.

    ``vad_tail`` (a few ms of audio) and ``centroids`` (session voice clusters) are biometric:
    the table is encrypted with the platform's KMS key, and they are never logged.
    """

    class Meta(_Unbound):
        table_setting = "connections_table"

    connection_id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    user_id = UnicodeAttribute(null=True)  # the key's user: whose voice profile match_me uses
    scopes = UnicodeAttribute()  # comma-separated, as the authorizer context carries them
    reply_endpoint = UnicodeAttribute(null=True)  # @connections management endpoint
    status = UnicodeAttribute(default="connected")  # connected | open
    params = JSONAttribute(null=True)  # the open frame's parameters
    backend = UnicodeAttribute(null=True)
    pcm = JSONAttribute(null=True)  # streamed-audio decoder state (no audio)
    pcm_bytes = BinaryAttribute(null=True, legacy_encoding=False)  # WAV header / partial sample
    # The pending buffer (audio not yet transcribed, plus context) lives in StreamAudioRow items;
    # the row keeps their keys and the VAD's per-frame state (domain.vad_track), never the audio.
    # StreamAudioRow.chunk keys in order, space-separated: one string, as a list of strings
    # costs a structure per key in every read and write of the row
    chunks = UnicodeAttribute(null=True)
    vad_band = BinaryAttribute(null=True, legacy_encoding=False)  # float32 per analysed frame
    vad_tail = BinaryAttribute(null=True, legacy_encoding=False)  # float32 unframed samples
    consumed = NumberAttribute(default=0)  # samples of the pending buffer already endpointed
    pending_start = NumberAttribute(default=0)  # session sample index of the buffer's start
    centroids = BinaryAttribute(null=True, legacy_encoding=False)  # float32 (n, dim)
    cluster_counts = ListAttribute(of=NumberAttribute, null=True)
    seq = NumberAttribute(default=0)  # deltas sent
    connected_at = UTCDateTimeAttribute(default=utcnow)
    last_activity = NumberAttribute(default=0)  # epoch seconds
    opened_at = NumberAttribute(null=True)  # epoch seconds of `open`: admission order
    expires_at = TTLAttribute(null=True)
    rev = NumberAttribute(default=0)  # compare-and-set revision
    tenant_index = TenantConnectionsIndex()


class StreamAudioRow(SettingsBoundModel):
    """One frame's decoded audio of a streaming session (16 kHz int16 mono), keyed by the session
    sample index it starts at. Biometric: encrypted with the platform's key, never logged; deleted
    once transcribed and with the session, ``expires_at`` (TTL) for connections that vanished."""

    class Meta(_Unbound):
        table_setting = "stream_audio_table"

    connection_id = UnicodeAttribute(hash_key=True)
    chunk = UnicodeAttribute(range_key=True)  # f"{first sample:012d}.{token}": sorts by time
    pcm = BinaryAttribute(legacy_encoding=False)
    expires_at = TTLAttribute(null=True)
