"""Streaming use cases: a WebSocket session from $connect to $disconnect.

The same code runs behind API Gateway (one Lambda invocation per route event, replies through
``@connections``) and behind the local gateway (:mod:`scaiecho.local.gateway`). Nothing lives in
memory between frames: the session row (DynamoDB ``connections``) carries the open parameters,
the decoder state, the audio of the utterance in progress, the session's voice clusters and the
delta counter, and is written back with a compare-and-set.

Per audio frame: decode to 16 kHz PCM, append to the pending buffer, endpoint (VAD + pause).
Each complete utterance goes to the backend:

- A (nodes): ``transcribe`` on one online node and, with ``diarize``, ``embed`` on another (in
  parallel); the embedding is scored against the tenant's ready speakers' voiceprints from that
  node (:func:`scaiecho.domain.identification.best_match`, the node's calibrated threshold). A
  match labels the delta with the speaker id; otherwise the session's online clusters give
  ``spk_0``, ``spk_1``...
- B (managed STT relay): text only; ``diarize`` is ignored silently.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaiecho.adapters.candidates import TenantVoiceprints
from scaiecho.adapters.connections import ConnectionStore, StreamSession
from scaiecho.adapters.managed_stt import AmazonTranscribeStreaming, ManagedSttUnavailable
from scaiecho.adapters.nodes import Node, NodeClient, NodeStore
from scaiecho.adapters.replies import ReplyPort
from scaiecho.audio.stream import PcmState, feed, from_record, pcm_to_float, to_record, wav_bytes
from scaiecho.contracts.node import InlineAudio
from scaiecho.domain.auth import Principal, Scope, parse_scopes
from scaiecho.domain.endpointing import RATE, EndpointConfig, endpoint
from scaiecho.domain.identification import (
    COSINE_THRESHOLD,
    SCORE_SLOPE,
    Candidate,
    assign_session_cluster,
    best_match,
    cosine_matrix,
    score_from_cosine,
)
from scaiecho.domain.streaming import (
    AudioFrame,
    Backend,
    CloseFrame,
    Delta,
    OpenFrame,
    OpenParams,
    StreamError,
    closed_frame,
    error_frame,
    parse_frame,
    ready_frame,
)
from scaiecho.errors import NodeError, TooManyRequests
from scaiecho.observability import get_logger
from scaiecho.services.keys import require_scopes
from scaiecho.services.voice_profiles import ProfileCandidate, match_candidate
from scaiecho.settings import get_settings

_CAS_ATTEMPTS = 8


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


def connect(connection_id: str, principal: Principal, reply_endpoint: str | None,
            store: ConnectionStore | None = None) -> None:
    """$connect: the key must allow transcription; the diarize scope is checked at ``open``."""
    require_scopes(principal, Scope.TRANSCRIBE)
    store = store or ConnectionStore()
    settings = get_settings()
    if store.count_for_tenant(principal.tenant_id) >= settings.max_streams_per_tenant:
        raise TooManyRequests(
            f"your tenant already has {settings.max_streams_per_tenant} streaming sessions open",
            code="too_many_streams",
            details={"limit": settings.max_streams_per_tenant,
                     "retry_after_s": settings.fair_use_retry_after_s},
        )
    store.create(StreamSession(
        connection_id=connection_id, tenant_id=principal.tenant_id, key_id=principal.key_id,
        scopes=",".join(sorted(s.value for s in principal.scopes)), reply_endpoint=reply_endpoint,
        user_id=principal.user_id,
    ))
    get_logger().info("stream connected", extra={"tenant_id": principal.tenant_id})


def disconnect(connection_id: str, store: ConnectionStore | None = None) -> None:
    """$disconnect (client left, network dropped, or we closed): the session and its audio go."""
    (store or ConnectionStore()).delete(connection_id)


@dataclass
class StreamSessionHandler:
    """$default: one client frame of one connection."""

    replies: ReplyPort
    store: ConnectionStore = field(default_factory=ConnectionStore)
    nodes: NodeStore = field(default_factory=NodeStore)
    node_client: NodeClient = field(default_factory=NodeClient)
    voiceprints: TenantVoiceprints = field(default_factory=TenantVoiceprints)
    managed: AmazonTranscribeStreaming = field(default_factory=AmazonTranscribeStreaming)

    def handle(self, connection_id: str, body: str | bytes | None, *, binary: bool,
               received_at: float | None = None) -> None:
        """One frame; ``received_at`` (epoch s) is when the gateway got it, for lag reports."""
        session = self.store.get(connection_id)
        if session is None:
            self._fail(connection_id, StreamError("no_session", "this connection has no session", fatal=True))
            return
        settings = get_settings()
        if time.time() - session.last_activity > settings.stream_idle_timeout_s:
            self._fail(connection_id, idle_error())
            return
        try:
            frame = parse_frame(body, binary=binary)
            if isinstance(frame, OpenFrame):
                self._open(session, frame.params)
            elif isinstance(frame, AudioFrame):
                self._audio(session, frame.data, received_at)
            elif isinstance(frame, CloseFrame):
                self._close(session)
        except StreamError as exc:
            self._fail(connection_id, exc)

    # ------------------------------------------------------------------ frames
    def _open(self, session: StreamSession, params: OpenParams) -> None:
        if session.is_open:
            raise StreamError("already_open", "the session is already open")
        principal_scopes = parse_scopes(session.scopes)
        if params.diarize and Scope.DIARIZE not in principal_scopes:
            raise StreamError("insufficient_scope",
                              "diarize=true needs the scaiecho:diarize scope", fatal=True)
        if params.match_me:
            # The voice-profile routes' gates, as error frames.
            if not get_settings().voice_profiles_enabled_for(session.tenant_id):
                raise StreamError("feature_not_available",
                                  "voice profiles are not available for this tenant", fatal=True)
            if not session.user_id:
                raise StreamError("user_key_required",
                                  "match_me needs an API key bound to a user", fatal=True)
        backend = Backend(get_settings().stream_backend_for(session.tenant_id))
        if backend is Backend.NODES:
            self._admit(len(self._online_nodes()))
        if backend is Backend.MANAGED:
            try:
                self.managed.check_available()
            except ManagedSttUnavailable as exc:
                raise StreamError("backend_unavailable", str(exc), fatal=True) from None
        pcm, pcm_bytes = to_record(PcmState.start(params.media_type, params.sample_rate))
        session.status, session.params, session.backend = "open", params.serialize(), backend.value
        session.pcm, session.pcm_bytes, session.last_activity = pcm, pcm_bytes, time.time()
        session.opened_at = session.last_activity
        if not self.store.save(session):
            raise StreamError("conflict", "the session changed while opening; open again")
        if backend is Backend.NODES:
            # the count before saving races with opens at the same instant: rank after it
            self._admit(len(self._online_nodes()), session)
        self.replies.send(session.connection_id, ready_frame(backend))
        if params.match_me and backend is Backend.NODES and self._profile(session) is None:
            self.replies.send(session.connection_id, error_frame(
                "voice_profile_unavailable",
                "no active voice profile for this user (none, or it needs re-consent): "
                "deltas carry no voiceMatchScore"))
        get_logger().info("stream opened", extra={"backend": backend.value, "diarize": params.diarize,
                                                  "media_type": params.media_type})

    def _admit(self, online: int, opened: StreamSession | None = None) -> None:
        """Refuse a stream the nodes cannot keep real-time, rather than let every stream lag.

        Capacity is ``stream_capacity_per_node`` x online nodes (measured by make bench-load);
        concurrent opens may overshoot it by the few admitted at the same instant."""
        if not online:
            raise StreamError("backend_unavailable",
                              "no pyannote node is online to transcribe; try again later", fatal=True)
        settings = get_settings()
        capacity = settings.stream_capacity_per_node * online
        ahead = self.store.open_rank(opened) if opened is not None else self.store.count_open()
        if ahead >= capacity:
            raise StreamError(
                "capacity_exhausted",
                f"all {capacity} real-time stream slots ({online} node(s)) are in use; retry later",
                fatal=True, extra={"retry_after_s": settings.fair_use_retry_after_s, "capacity": capacity},
            )

    def _audio(self, session: StreamSession, data: bytes, received_at: float | None = None) -> None:
        if not session.is_open:
            raise StreamError("not_open", 'send {"type": "open", ...} before audio', fatal=True)
        for _ in range(_CAS_ATTEMPTS):
            utterances = self._append(session, data, flush=False)
            if self.store.save(session):
                break
            reloaded = self.store.get(session.connection_id)
            if reloaded is None:
                return  # disconnected meanwhile: nothing to answer
            session = reloaded
        else:
            raise StreamError("conflict", "the session is too busy; send frames one at a time")
        self._deliver(session, utterances)
        if utterances and received_at is not None:
            self._report_lag(session.connection_id, time.time() - received_at)

    def _report_lag(self, connection_id: str, lag_s: float) -> None:
        """Tell the client when its deltas trail its audio by more than stream_behind_s (frames
        queue while earlier utterances are recognised): it may slow down, or reconnect later."""
        limit = get_settings().stream_behind_s
        if lag_s > limit:
            self.replies.send(connection_id, error_frame(
                "falling_behind",
                f"this session's deltas are {lag_s:.1f} s behind its audio (limit {limit:g} s): "
                "the nodes are saturated", lag_s=round(lag_s, 2)))

    def _close(self, session: StreamSession) -> None:
        cid = session.connection_id
        if session.is_open:
            utterances = self._append(session, b"", flush=True)
            session.pending, session.consumed = b"", 0
            if self.store.save(session):
                self._deliver(session, utterances)
        self.replies.send(cid, closed_frame())
        self.store.delete(cid)
        self.replies.close(cid)

    def _fail(self, connection_id: str, exc: StreamError) -> None:
        self.replies.send(connection_id, exc.frame())
        if exc.fatal:
            self.store.delete(connection_id)
            self.replies.close(connection_id)
        get_logger().info("stream error", extra={"code": exc.code, "fatal": exc.fatal})

    # ------------------------------------------------------------------ audio → utterances
    def _append(self, session: StreamSession, data: bytes, *, flush: bool) -> list[PendingUtterance]:
        state = from_record(session.pcm or {}, session.pcm_bytes)
        state, pcm = feed(state, data) if data else (state, b"")
        session.pcm, session.pcm_bytes = to_record(state)
        buffer = session.pending + pcm
        settings = get_settings()
        cfg = EndpointConfig(endpoint_silence_s=settings.stream_endpoint_silence_s,
                             max_utterance_s=settings.stream_max_utterance_s)
        cut = endpoint(pcm_to_float(buffer), session.consumed, flush=flush, cfg=cfg)
        utterances = [
            PendingUtterance(buffer[2 * u.start:2 * u.end], session.pending_start + u.start,
                             session.pending_start + u.end)
            for u in cut.utterances
        ]
        session.pending = buffer[2 * cut.drop:]
        session.consumed = cut.consumed - cut.drop
        session.pending_start += cut.drop
        session.last_activity = time.time()
        return utterances

    # ------------------------------------------------------------------ utterances → deltas
    def _deliver(self, session: StreamSession, utterances: list[PendingUtterance]) -> None:
        if not utterances:
            return
        params = session.params or {}
        try:
            if session.backend == Backend.MANAGED.value:
                recognised = [self._managed(u, params.get("language_hint")) for u in utterances]
            else:
                profile = self._profile(session) if params.get("match_me") else None
                recognised = [self._nodes(session, u, params, profile) for u in utterances]
        except StreamError as exc:
            self._fail(session.connection_id, exc)
            return
        deltas = self._label(session, [r for r in recognised if r.text])
        if deltas is None:
            return  # the session ended meanwhile
        for seq, delta in deltas:
            if not self.replies.send(session.connection_id, delta.frame(seq)):
                return

    def _managed(self, utterance: PendingUtterance, language: str | None) -> Recognised:
        try:
            segments = self.managed.transcribe(utterance.pcm16, sample_rate=RATE, language=language)
        except ManagedSttUnavailable as exc:
            raise StreamError("backend_unavailable", str(exc), fatal=True) from None
        return Recognised(utterance, " ".join(s.text.strip() for s in segments if s.text.strip()))

    def _profile(self, session: StreamSession) -> ProfileCandidate | None:
        """The caller's active voice profile (read per delivery: it may be deleted mid-session)."""
        return match_candidate(session.tenant_id, session.user_id)

    def _nodes(self, session: StreamSession, utterance: PendingUtterance,
               params: dict[str, Any], profile: ProfileCandidate | None = None) -> Recognised:
        nodes = self._online_nodes()
        if not nodes:
            raise StreamError("backend_unavailable", "no pyannote node is online to transcribe")
        audio = InlineAudio.of(wav_bytes(utterance.pcm16), "audio/wav")
        first = (session.seq + utterance.start) % len(nodes)
        order = nodes[first:] + nodes[:first]
        embed_node = order[1] if len(order) > 1 else order[0]
        with ThreadPoolExecutor(max_workers=2) as pool:
            text_job = pool.submit(self._transcribe, order, audio, params.get("language_hint"))
            embed_job = pool.submit(self._embed, embed_node, audio) if params.get("diarize") else None
            text = text_job.result()
            embedding = embed_job.result() if embed_job is not None else None
        out = Recognised(utterance, text, embedding)
        if embedding is not None:
            settings = get_settings()
            candidates = self.voiceprints.on_node(
                session.tenant_id, embed_node.node_id,
                min_speech_s=settings.identification_min_speech_s(session.tenant_id))
            names = {v.speaker_id: v.display_name for v in candidates}
            external_ids = {v.speaker_id: v.external_id for v in candidates}
            match = best_match(
                embedding, [Candidate(v.speaker_id, v.embedding) for v in candidates],
                threshold=settings.id_threshold or COSINE_THRESHOLD,
                slope=settings.id_slope or SCORE_SLOPE,
            )
            if match is not None:
                out.speaker_id, out.score = match.speaker_id, match.score
                out.speaker_name = names.get(match.speaker_id)
                out.external_id = external_ids.get(match.speaker_id)
            if profile is not None and len(profile.embedding) == embedding.size:
                cos = float(cosine_matrix(embedding, np.asarray(profile.embedding))[0, 0])
                out.voice_match_score = float(score_from_cosine(
                    cos, threshold=settings.id_threshold or COSINE_THRESHOLD,
                    slope=settings.id_slope or SCORE_SLOPE))
        return out

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

    def _label(self, session: StreamSession, recognised: list[Recognised]) -> list[tuple[int, Delta]] | None:
        """Session labels for unmatched voices + delta numbers, written with a compare-and-set."""
        max_clusters = get_settings().stream_max_session_speakers
        threshold = get_settings().id_threshold or COSINE_THRESHOLD
        for _ in range(_CAS_ATTEMPTS):
            centroids, counts = session.centroids, list(session.cluster_counts)
            out = []
            for i, r in enumerate(recognised):
                label = r.speaker_id
                if label is None and r.embedding is not None:
                    idx, centroids, counts = assign_session_cluster(
                        r.embedding, centroids, counts, threshold=threshold, max_clusters=max_clusters)
                    label = f"spk_{idx}"
                delta = Delta(
                    text=r.text, start=r.utterance.start / RATE, end=r.utterance.end / RATE,
                    final=True, speaker_label=label, speaker_name=r.speaker_name if r.speaker_id else None,
                    external_id=r.external_id if r.speaker_id else None,
                    match_score=r.score, voice_match_score=r.voice_match_score,
                )
                out.append((session.seq + i, delta))
            session.centroids, session.cluster_counts = centroids, counts
            session.seq += len(recognised)
            if not recognised or self.store.save(session):
                return out
            reloaded = self.store.get(session.connection_id)
            if reloaded is None:
                return None
            session = reloaded
        raise StreamError("conflict", "the session is too busy; send frames one at a time")

    def _online_nodes(self) -> list[Node]:
        return [n for n in self.nodes.list() if n.status == "online"]


def idle_error() -> StreamError:
    return StreamError(
        "idle_timeout",
        f"no frame for {get_settings().stream_idle_timeout_s:g} s; the session is closed",
        fatal=True,
    )


def end_idle(connection_id: str, replies: ReplyPort, store: ConnectionStore | None = None) -> None:
    """Tell an idle client why, forget its session, close the connection."""
    store = store or ConnectionStore()
    replies.send(connection_id, idle_error().frame())
    store.delete(connection_id)
    replies.close(connection_id)


def sweep_idle(replies_for: Any, store: ConnectionStore | None = None) -> int:
    """End every session idle past the timeout (AWS: a scheduled function). Returns how many."""
    store = store or ConnectionStore()
    cutoff = time.time() - get_settings().stream_idle_timeout_s
    ended = 0
    for connection_id, endpoint_url in store.idle_since(cutoff):
        if endpoint_url:
            end_idle(connection_id, replies_for(endpoint_url), store)
        else:
            store.delete(connection_id)
        ended += 1
    return ended


__all__ = ["StreamSessionHandler", "connect", "disconnect", "end_idle", "error_frame", "sweep_idle"]
