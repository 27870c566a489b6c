"""Voice and consent checks that need a node's answer *before* intake stores anything.

Intake calls one online node synchronously (inline audio, ``SCAIECHO_CONSENT_CHECK_TIMEOUT_S``
per call): ``embed`` the reference and the consent recording, ``transcribe`` the consent. The
enrollment fan-out (Step Functions) only runs once the checks passed and the rows exist.

No node online → 503 ``consent_check_unavailable`` and nothing is stored: a consent that was
never checked is not evidence, and a speaker stored unchecked could become ``ready`` later
without anyone having heard the consent.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scaiecho.adapters.aws import client
from scaiecho.adapters.candidates import TenantVoiceprints
from scaiecho.adapters.nodes import Node, NodeClient, NodeStore
from scaiecho.adapters.speakers import WarmRegistry
from scaiecho.adapters.voiceprints import VoiceprintCipher
from scaiecho.contracts.node import EmbedResult, InlineAudio, S3Audio
from scaiecho.domain.consent_checks import (
    CheckStatus,
    ConsentPolicy,
    TextCheck,
    VoiceCheck,
    check_text,
    check_voice,
    skipped_text,
)
from scaiecho.domain.identification import Candidate, Match, best_match
from scaiecho.domain.speakers import Speaker
from scaiecho.errors import NodeError, ScaiEchoError, ServiceUnavailable
from scaiecho.observability import get_logger
from scaiecho.services.enrollment_tasks import probe
from scaiecho.services.uploads import CheckedAudio
from scaiecho.settings import get_settings

NO_NODE_MESSAGE = ("no pyannote node is online to check the {what}; nothing was stored; "
                   "retry when a node is up")


@dataclass(frozen=True)
class ConsentVerdict:
    """What the node said about one enrollment (voiceprints stay in memory, never stored here)."""

    node_id: str
    model_id: str | None
    model_version: str | None
    reference: np.ndarray  # the reference's embedding on that node, L2-normalised
    voice: VoiceCheck
    text: TextCheck


def verify_consent(
    *, tenant_id: str, policy: ConsentPolicy, reference: CheckedAudio, consent: CheckedAudio,
    consent_text: str, full_name: str, language: str,
) -> ConsentVerdict:
    """Embed both recordings and transcribe the consent on the first online node that answers.

    Raises 503 ``consent_check_unavailable`` when no node is online, 502 ``node_error`` when
    every online node failed. The verdict itself is returned, pass or fail: the caller decides.
    """
    nodes = _spread(_online("consent"))
    node_client = _client()
    asr_reason = _asr_unsupported(language)
    failures: list[dict[str, str]] = []
    for i, node in enumerate(nodes):
        # Both voiceprints come from one node (comparable); the consent is transcribed on the
        # next one, in parallel, so concurrent intakes spread over every online node.
        text_node = nodes[(i + 1) % len(nodes)]
        try:
            with ThreadPoolExecutor(max_workers=3) as pool:
                ref_f = pool.submit(_embed, node_client, node, reference)
                con_f = pool.submit(_embed, node_client, node, consent)
                heard_f = pool.submit(_transcribe, node_client, text_node, consent, language) \
                    if asr_reason is None else None
                ref, meta = ref_f.result()
                con, _ = con_f.result()
                heard = heard_f.result() if heard_f is not None else None
            text = _text_check(heard, asr_reason, consent_text, full_name, policy)
            if text.status is CheckStatus.FAILED:
                # the short window can drop end words: only a failure in full context counts
                heard = _transcribe(node_client, text_node, consent, language, window="full")
                text = _text_check(heard, asr_reason, consent_text, full_name, policy)
        except ScaiEchoError as exc:
            get_logger().warning("consent check failed on a node",
                                 extra={"node_id": node.node_id, "code": exc.code})
            failures.append({"node_id": node.node_id, "error": exc.message[:200]})
            continue
        voice = check_voice(ref, con, policy)
        get_logger().info("consent checked", extra={
            "tenant_id": tenant_id, "node_id": node.node_id, "voice": voice.status.value,
            "voice_score": round(voice.score, 4), "text": text.status.value,
            "text_score": text.coverage})
        return ConsentVerdict(node.node_id, meta.get("model_id"), meta.get("model_version"), ref,
                              voice, text)
    raise NodeError("every online node failed to check the consent", details={"nodes": failures})


def _text_check(heard: str | _Skipped | None, asr_reason: str | None, consent_text: str,
                full_name: str, policy: ConsentPolicy) -> TextCheck:
    if isinstance(heard, str):
        return check_text(consent_text, heard, full_name=full_name, policy=policy)
    return skipped_text(heard.reason if isinstance(heard, _Skipped) else asr_reason or "", policy)


def _spread(nodes: list[Node]) -> list[Node]:
    """The online nodes from a random one on: the first node answered every intake's checks
    while the others idled (20 intakes at once queued 60 calls on one node)."""
    first = random.randrange(len(nodes))  # noqa: S311 - load spreading, not security
    return nodes[first:] + nodes[:first]


def find_duplicate(tenant_id: str, verdict: ConsentVerdict, policy: ConsentPolicy) -> Match | None:
    """The tenant's ready speaker whose voiceprint (from the same node) matches the reference."""
    prints = TenantVoiceprints().on_node(tenant_id, verdict.node_id)
    # A voiceprint of another dimension comes from another model: not comparable, not a match.
    comparable = [Candidate(p.speaker_id, p.embedding) for p in prints
                  if p.embedding.shape == verdict.reference.shape]
    return best_match(verdict.reference, comparable,
                      threshold=policy.duplicate_voice_threshold, slope=policy.voice_slope)


def check_sample_voice(speaker: Speaker, sample: CheckedAudio, policy: ConsentPolicy,
                       bucket: str) -> VoiceCheck:
    """Is a new sample the speaker's voice? Against the speaker's voiceprint on the node that
    embeds the sample, or (not enrolled on that node yet) its first stored sample."""
    nodes = _online("sample's voice")
    node_client = _client()
    failures: list[dict[str, str]] = []
    warm = {row.node_id: row for row in WarmRegistry().for_speaker(speaker.tenant_id, speaker.speaker_id)}
    for node in nodes:
        try:
            new, _ = _embed(node_client, node, sample)
            row = warm.get(node.node_id)
            if row is not None and int(row.dim) == new.shape[0]:
                known = np.asarray(VoiceprintCipher().open(
                    row.sealed_embedding, tenant_id=speaker.tenant_id, subject_id=speaker.speaker_id))
            else:  # not enrolled there yet, or by another model
                resp = node_client.embed(node.endpoint_name, S3Audio.at(bucket, speaker.samples[0].key))
                known = _vector(resp, node)
        except ScaiEchoError as exc:
            get_logger().warning("sample voice check failed on a node",
                                 extra={"node_id": node.node_id, "code": exc.code})
            failures.append({"node_id": node.node_id, "error": exc.message[:200]})
            continue
        return check_voice(known, new, policy)
    raise NodeError("every online node failed to check the sample's voice", details={"nodes": failures})


# ------------------------------------------------------------------------------ internals
@dataclass(frozen=True)
class _Skipped:
    reason: str


def _online(what: str) -> list[Node]:
    online, _ = probe(NodeStore().list())
    if not online:
        raise ServiceUnavailable(NO_NODE_MESSAGE.format(what=what), code="consent_check_unavailable")
    return online


def _client() -> NodeClient:
    return NodeClient(client("sagemaker-runtime", read_timeout=get_settings().consent_check_timeout_s))


def _inline(audio: CheckedAudio) -> InlineAudio:
    return InlineAudio.of(audio.upload.data, audio.stored_media_type)


def _embed(node_client: NodeClient, node: Node, audio: CheckedAudio) -> tuple[np.ndarray, dict[str, str]]:
    resp = node_client.embed(node.endpoint_name, _inline(audio))
    meta = {"model_id": resp.model_id, "model_version": resp.model_version}
    return _vector(resp, node), {k: v for k, v in meta.items() if v is not None}


def _vector(resp: EmbedResult, node: Node) -> np.ndarray:
    vector = np.asarray(resp.embedding, dtype=np.float64)
    if vector.ndim != 1 or not vector.size or not np.all(np.isfinite(vector)) or not np.any(vector):
        raise NodeError(f"node {node.node_id} returned no usable embedding")
    return vector / float(np.linalg.norm(vector))


def _transcribe(node_client: NodeClient, node: Node, audio: CheckedAudio, language: str,
                window: Literal["short", "full"] = "short") -> str | _Skipped:
    try:
        # text only (word alignment would cost ~30 % more for nothing), first in Whisper's short
        # window: a quarter of the encoder's work for a consent under 9 s
        resp = node_client.transcribe(node.endpoint_name, _inline(audio), window=window,
                                      language=_base_language(language), word_timestamps=False)
    except NodeError as exc:
        if (exc.details or {}).get("node_code") == "unsupported_language":
            return _Skipped(f"asr_language_unsupported: the node's speech-to-text cannot do {language!r}")
        raise
    return resp.text


def _base_language(language: str) -> str:
    return language.replace("_", "-").split("-", 1)[0].lower()


def _asr_unsupported(language: str) -> str | None:
    supported = get_settings().supported_languages
    if supported and _base_language(language) not in supported:
        return (f"asr_language_unsupported: the configured speech-to-text covers "
                f"{', '.join(supported)}, not {language!r}")
    return None
