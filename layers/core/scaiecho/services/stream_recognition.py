"""Streaming: what a backend makes of one utterance (text, and with ``diarize`` who said it).

- Nodes: ``transcribe`` on one online node and ``embed`` on another, in parallel (the node order
  rotates per utterance, so a session's load spreads); the embedding is scored against the
  tenant's ready voiceprints on the embedding node with the calibrated identification scoring,
  and against the caller's voice profile for ``match_me``.
- Managed STT relay: text only.

Session labels (``spk_N``) for voices that match nobody are given later, by
:mod:`scaiecho.services.stream_labels`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from scaiecho.adapters.candidates import TenantVoiceprints
from scaiecho.adapters.managed_stt import AmazonTranscribeStreaming, ManagedSttUnavailable
from scaiecho.adapters.nodes import Node, NodeClient, NodeStore
from scaiecho.audio.stream import wav_bytes
from scaiecho.contracts.node import InlineAudio
from scaiecho.domain.endpointing import RATE
from scaiecho.domain.identification import (
    COSINE_THRESHOLD,
    SCORE_SLOPE,
    Candidate,
    best_match,
    cosine_matrix,
    score_from_cosine,
)
from scaiecho.domain.streaming import StreamError
from scaiecho.errors import NodeError
from scaiecho.observability import get_logger
from scaiecho.services.voice_profiles import ProfileCandidate
from scaiecho.settings import get_settings


@dataclass(frozen=True)
class PendingUtterance:
    pcm16: bytes
    start: int  # session sample index
    end: int


@dataclass
class Recognised:
    """What the backend made of one utterance, before session labels are assigned."""

    utterance: PendingUtterance
    text: str
    embedding: np.ndarray | None = None
    speaker_id: str | None = None
    speaker_name: str | None = None
    external_id: str | None = None
    score: float | None = None
    voice_match_score: float | None = None


@dataclass
class ManagedRecognizer:
    """Backend B: a managed speech-to-text relay; text only (``diarize`` is ignored)."""

    managed: AmazonTranscribeStreaming = field(default_factory=AmazonTranscribeStreaming)

    def check_available(self) -> None:
        try:
            self.managed.check_available()
        except ManagedSttUnavailable as exc:
            raise StreamError("backend_unavailable", str(exc), fatal=True) from None

    def recognise(self, utterance: PendingUtterance, language: str | None) -> Recognised:
        try:
            segments = self.managed.transcribe(utterance.pcm16, sample_rate=RATE, language=language)
        except ManagedSttUnavailable as exc:
            raise StreamError("backend_unavailable", str(exc), fatal=True) from None
        return Recognised(utterance, " ".join(s.text.strip() for s in segments if s.text.strip()))


@dataclass
class NodeRecognizer:
    """Backend A: the platform's own nodes."""

    nodes: NodeStore = field(default_factory=NodeStore)
    node_client: NodeClient = field(default_factory=NodeClient)
    voiceprints: TenantVoiceprints = field(default_factory=TenantVoiceprints)

    def online(self) -> list[Node]:
        return [n for n in self.nodes.list() if n.status == "online"]

    def recognise(self, tenant_id: str, utterance: PendingUtterance, *, turn: int,
                  language: str | None, diarize: bool,
                  profile: ProfileCandidate | None = None) -> Recognised:
        """``turn`` picks the node order (the session's delta count plus the utterance's start)."""
        nodes = self.online()
        if not nodes:
            raise StreamError("backend_unavailable", "no pyannote node is online to transcribe")
        audio = InlineAudio.of(wav_bytes(utterance.pcm16), "audio/wav")
        first = turn % len(nodes)
        order = nodes[first:] + nodes[:first]
        embed_node = order[1] if len(order) > 1 else order[0]
        with ThreadPoolExecutor(max_workers=2) as pool:
            text_job = pool.submit(self._transcribe, order, audio, language)
            embed_job = pool.submit(self._embed, embed_node, audio) if diarize else None
            text = text_job.result()
            embedding = embed_job.result() if embed_job is not None else None
        out = Recognised(utterance, text, embedding)
        if embedding is not None:
            self._identify(out, embedding, tenant_id, embed_node, profile)
        return out

    def _identify(self, out: Recognised, embedding: np.ndarray, tenant_id: str, node: Node,
                  profile: ProfileCandidate | None) -> None:
        settings = get_settings()
        threshold = settings.id_threshold or COSINE_THRESHOLD
        slope = settings.id_slope or SCORE_SLOPE
        candidates = self.voiceprints.on_node(
            tenant_id, node.node_id, min_speech_s=settings.identification_min_speech_s(tenant_id))
        match = best_match(embedding, [Candidate(v.speaker_id, v.embedding) for v in candidates],
                           threshold=threshold, slope=slope)
        if match is not None:
            matched = next(v for v in candidates if v.speaker_id == match.speaker_id)
            out.speaker_id, out.score = match.speaker_id, match.score
            out.speaker_name, out.external_id = matched.display_name, matched.external_id
        if profile is not None and len(profile.embedding) == embedding.size:
            cos = float(cosine_matrix(embedding, np.asarray(profile.embedding))[0, 0])
            out.voice_match_score = float(score_from_cosine(cos, threshold=threshold, slope=slope))

    def _transcribe(self, nodes: list[Node], audio: InlineAudio, language: str | None) -> str:
        """Text from the first node that can transcribe (a node may predate the action)."""
        last: NodeError | None = None
        for node in nodes:
            try:
                data = self.node_client.transcribe(node.endpoint_name, audio, language=language,
                                                   word_timestamps=False, priority="realtime")
            except NodeError as exc:
                code = (exc.details or {}).get("node_code")
                if code == "unsupported_language":
                    raise StreamError("unsupported_language", exc.message, fatal=True) from None
                if code == "no_speech":
                    return ""
                last = exc
                continue
            return data.text
        raise StreamError("transcription_failed",
                          f"no node could transcribe the utterance: {last.message if last else ''}")

    def _embed(self, node: Node, audio: InlineAudio) -> np.ndarray | None:
        try:
            data = self.node_client.embed(node.endpoint_name, audio, priority="realtime")
        except NodeError as exc:
            # too little speech for a voiceprint, or the node failed: the delta goes unlabelled
            get_logger().info("utterance not embedded", extra={
                "node_id": node.node_id, "node_code": (exc.details or {}).get("node_code")})
            return None
        return np.asarray(data.embedding, dtype=np.float64) if data.embedding else None
