"""Personal voice profiles: create/replace, status, delete, and the matching hook.

Privacy: the sample bytes live only in this request. They go to one node inline (base64, never
through S3), which answers with an embedding; the embedding is sealed with KMS under a context
binding tenant and user, and only the ciphertext is stored. Nothing here logs audio or vectors.

Matching hook (for batch jobs and streaming sessions, ``match_me=true``)::

    candidate = match_candidate(principal.tenant_id, principal.user_id)   # None: nothing to match
    if candidate:
        payload["candidates"].append(candidate.node_candidate())          # one more diarize candidate
    ...
    scores = voice_match_scores(result, candidate_id=candidate.candidate_id,
                                embedding=candidate.embedding)            # {label: score in [0, 1]}
    identified = without_profile(result["identified"], candidate.candidate_id)

(``voice_match_scores``/``without_profile`` live in :mod:`scaiecho.domain.voice_match`.)
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from scaiecho.adapters.nodes import Node, NodeClient, NodeStore
from scaiecho.adapters.tables import utcnow
from scaiecho.adapters.voice_profiles import VoiceProfileStore
from scaiecho.adapters.voiceprints import VoiceprintCipher
from scaiecho.audio.decode import MEDIA_TYPES, DecodedAudio, decode_audio, detect_format
from scaiecho.contracts.node import Candidate as NodeCandidate
from scaiecho.contracts.node import EmbedResult, InlineAudio
from scaiecho.domain.auth import Principal
from scaiecho.domain.identification import Candidate, best_match
from scaiecho.domain.speakers import new_id
from scaiecho.domain.vad import detect_speech
from scaiecho.domain.voice_profiles import (
    PROVIDER,
    ProfileStatus,
    VoiceProfile,
    check_sample_duration,
    check_sample_format,
    check_sample_size,
    subject_id,
)
from scaiecho.errors import (
    AudioError,
    AudioTooLong,
    BadRequest,
    Conflict,
    FeatureNotAvailable,
    Forbidden,
    ScaiEchoError,
    VoiceProviderError,
)
from scaiecho.observability import get_logger
from scaiecho.services.enrollment_tasks import probe
from scaiecho.services.uploads import Upload
from scaiecho.settings import get_settings

# Below this much detected speech a sample cannot give a voiceprint; say so before a node does.
MIN_SPEECH_S = 1.0
# Best-effort eviction: attempts per node and the pause before each retry (seconds).
EVICT_ATTEMPTS = 3
EVICT_BACKOFF_S = (0.2, 0.5)
_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream")


@dataclass(frozen=True)
class ProfileCandidate:
    """What matching needs, and only that: an opaque id and the voiceprint (never serialized out)."""

    candidate_id: str  # the profile's opaque id; reveals neither the user nor the tenant
    embedding: list[float] = field(repr=False)  # L2-normalised, in the node model's space
    model_version: str | None  # the node model that produced it (compare with the node's)

    def node_candidate(self) -> NodeCandidate:
        """One entry for a node ``diarize`` request's ``candidates``."""
        return NodeCandidate(speaker_id=self.candidate_id, embedding=list(self.embedding))


# ------------------------------------------------------------------------------ gates
def _require_enabled(tenant_id: str) -> None:
    if not get_settings().voice_profiles_enabled_for(tenant_id):
        raise FeatureNotAvailable("voice profiles are not available for this tenant")


def require_user(principal: Principal) -> str:
    """The caller's user id; 404 when the feature is off for the tenant, 403 for a key with no user."""
    _require_enabled(principal.tenant_id)
    if not principal.user_id:
        raise Forbidden(
            "voice profiles belong to a user: use an API key bound to a user "
            "(scaiecho keys create --user ...)",
            code="user_key_required",
        )
    return principal.user_id


# ------------------------------------------------------------------------------ use cases
def upsert_profile(principal: Principal, sample: Upload, *, allow_duplicate_voice: bool = False
                   ) -> VoiceProfile:
    """Create or replace the caller's profile from one sample; returns the stored profile.
    409 ``voice_already_enrolled`` when the sample is another user's voice in the tenant."""
    user_id = require_user(principal)
    settings = get_settings()
    audio = _check_sample(sample)
    vector, meta = _embed(sample, audio)
    if not allow_duplicate_voice:
        _refuse_another_users_voice(principal.tenant_id, user_id, vector, meta.get("model_version"))
    profile = VoiceProfile(
        tenant_id=principal.tenant_id,
        user_id=user_id,
        profile_id=new_id("vp"),
        provider=PROVIDER,
        consent_version=settings.voice_consent_version,
        created_at=utcnow(),
        sample_duration_s=audio.duration_s,
        dim=len(vector),
        model_id=meta.get("model_id"),
        model_version=meta.get("model_version"),
        sealed_embedding=VoiceprintCipher().seal(
            vector, tenant_id=principal.tenant_id, subject_id=subject_id(user_id)
        ),
    )
    store = VoiceProfileStore()
    previous = store.get(principal.tenant_id, user_id)
    store.put(profile)
    if previous is not None:  # the replaced voiceprint must not linger in node caches either
        evict_everywhere(previous.profile_id)
    get_logger().info("voice profile stored", extra={"replaced": previous is not None,
                                                      "model_version": profile.model_version})
    return profile


def current_profile(principal: Principal) -> VoiceProfile | None:
    """The caller's profile (None: MISSING); its status depends on the consent version in force."""
    return VoiceProfileStore().get(principal.tenant_id, require_user(principal))


def delete_profile(principal: Principal) -> None:
    """Idempotent: remove the row, then evict on the nodes (best effort, never an error)."""
    user_id = require_user(principal)
    store = VoiceProfileStore()
    profile = store.get(principal.tenant_id, user_id)
    if profile is None:
        return
    store.delete(principal.tenant_id, user_id)
    evict_everywhere(profile.profile_id)


# ------------------------------------------------------------------------------ matching hook
def match_candidate(tenant_id: str, user_id: str | None) -> ProfileCandidate | None:
    """The caller's profile as a diarize candidate, or None when there is nothing to match.

    None when the feature is off for the tenant, the principal has no user, there is no profile,
    or the profile was consented under another version (REQUIRES_RECONSENT). Keyed by tenant:
    a user id of another tenant never finds this tenant's profile.
    """
    settings = get_settings()
    if not user_id or not settings.voice_profiles_enabled_for(tenant_id):
        return None
    profile = VoiceProfileStore().get(tenant_id, user_id)
    if profile is None or profile.status(settings.voice_consent_version) is not ProfileStatus.ACTIVE:
        return None
    vector = VoiceprintCipher().open(
        profile.sealed_embedding, tenant_id=tenant_id, subject_id=subject_id(user_id)
    )
    return ProfileCandidate(profile.profile_id, vector, profile.model_version)


# ------------------------------------------------------------------------------ internals
def _check_sample(sample: Upload) -> DecodedAudio:
    """413 size, 415 type (declared or sniffed), 422 undecodable/no speech, 400 duration."""
    settings = get_settings()
    check_sample_size(len(sample.data), settings.voice_sample_max_bytes)
    declared = (sample.media_type or "").split(";", 1)[0].strip().lower()
    if declared not in _GENERIC_TYPES:
        check_sample_format(MEDIA_TYPES.get(declared))
    check_sample_format(detect_format(sample.data))
    try:
        audio = decode_audio(sample.data, media_type=sample.media_type,
                             max_duration_s=settings.voice_sample_max_s)
    except AudioTooLong as exc:  # refused before or while decoding: the route's own code
        said = (exc.details or {}).get("duration_s")
        if said is not None:
            check_sample_duration(float(said), min_s=settings.voice_sample_min_s,
                                  max_s=settings.voice_sample_max_s)
        raise BadRequest(f"the voice sample is longer than {settings.voice_sample_max_s:g} s",
                         code="voice_sample_too_long",
                         details={"max_s": settings.voice_sample_max_s}) from exc
    check_sample_duration(
        audio.duration_s, min_s=settings.voice_sample_min_s, max_s=settings.voice_sample_max_s
    )
    if detect_speech(audio.samples, audio.sample_rate).speech_s < MIN_SPEECH_S:
        raise AudioError("no speech was detected in the voice sample", code="voice_sample_no_speech")
    return audio


def _embed(sample: Upload, audio: DecodedAudio) -> tuple[list[float], dict[str, str]]:
    """Embed on the first online node that answers; every node failure is a 502."""
    online, _ = probe(NodeStore().list())
    if not online:
        raise VoiceProviderError("no voice provider node is online; try again later")
    inline = InlineAudio.of(sample.data, f"audio/{audio.source_format}")
    node_client = NodeClient()
    failures: list[str] = []
    for node in online:
        try:
            resp = node_client.embed(node.endpoint_name, inline)
            meta = {"model_id": resp.model_id, "model_version": resp.model_version}
            return _unit_vector(resp, node), {k: v for k, v in meta.items() if v is not None}
        except ScaiEchoError as exc:
            get_logger().warning("voice profile embedding failed on a node",
                                 extra={"node_id": node.node_id, "code": exc.code})
            failures.append(node.node_id)
    raise VoiceProviderError("the voice provider failed to process the sample",
                             details={"failed_nodes": failures})


def _refuse_another_users_voice(tenant_id: str, user_id: str, vector: list[float],
                                model_version: str | None) -> None:
    """Compared with the tenant's other profiles from the same model (other spaces do not
    compare). The other user is not named: a profile owner may not learn who else is enrolled."""
    threshold = get_settings().consent_policy_for(tenant_id).duplicate_voice_threshold
    candidates = [
        Candidate(p.user_id, np.asarray(VoiceprintCipher().open(
            p.sealed_embedding, tenant_id=tenant_id, subject_id=subject_id(p.user_id)), dtype=np.float64))
        for p in VoiceProfileStore().others(tenant_id, user_id)
        if p.model_version == model_version
    ]
    match = best_match(np.asarray(vector), candidates, threshold=threshold)
    if match is not None:
        raise Conflict("this voice already has another user's voice profile in this tenant; "
                       "send allow_duplicate_voice=true if that is intended",
                       code="voice_already_enrolled", details={"match_score": round(match.score, 4)})


def _unit_vector(resp: EmbedResult, node: Node) -> list[float]:
    vector = np.asarray(resp.embedding, dtype=np.float64)
    norm = float(np.linalg.norm(vector)) if vector.size else 0.0
    if vector.ndim != 1 or not vector.size or not np.all(np.isfinite(vector)) or norm == 0.0:
        raise VoiceProviderError(f"node {node.node_id} returned no usable embedding")
    unit: list[float] = (vector / norm).tolist()
    return unit


def evict_everywhere(profile_id: str) -> dict[str, bool]:
    """Ask every node not known offline to drop ``profile_id``; retried, logged, never raised.

    Nodes hold no profile state beyond a per-id cache of recent diarize candidates, so a node
    that stays unreachable (or restarts) loses it anyway; the stored row is already gone.
    """
    try:
        nodes = [n for n in NodeStore().list() if n.status != "offline"]
    except ScaiEchoError as exc:
        get_logger().warning("voice profile eviction skipped: nodes unreadable", extra={"code": exc.code})
        return {}
    if not nodes:
        return {}
    node_client = NodeClient()

    def evict(node: Node) -> tuple[str, bool]:
        for attempt in range(EVICT_ATTEMPTS):
            try:
                node_client.evict(node.endpoint_name, [profile_id])
                return node.node_id, True
            except ScaiEchoError as exc:
                get_logger().warning(
                    "voice profile eviction failed",
                    extra={"node_id": node.node_id, "attempt": attempt + 1, "code": exc.code},
                )
                if attempt < EVICT_ATTEMPTS - 1:
                    time.sleep(EVICT_BACKOFF_S[min(attempt, len(EVICT_BACKOFF_S) - 1)])
        return node.node_id, False

    with ThreadPoolExecutor(max_workers=min(8, len(nodes))) as pool:
        return dict(pool.map(evict, nodes))
