"""Streaming use cases: a WebSocket session from $connect to $disconnect.

The same code runs behind API Gateway (one Lambda invocation per route event, replies through
``@connections``) and behind the local gateway (:mod:`scaiecho.local.gateway`). Nothing lives in
memory between frames: the session row (DynamoDB ``connections``) carries the open parameters,
the decoder state, the VAD state and chunk keys of the utterance in progress, the session's voice
clusters and the delta counter, and is written back with a compare-and-set; the audio itself is
one item per frame (:mod:`scaiecho.adapters.connections`).

Per audio frame: decode to 16 kHz PCM, store it, extend the VAD over it alone, endpoint (pause).
Each complete utterance is recognised by the session's backend
(:mod:`scaiecho.services.stream_recognition`), labelled
(:mod:`scaiecho.services.stream_labels`) and sent as a delta. This module is the frame protocol:
open / audio / close, admission, errors, idle sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scaiecho.adapters.connections import ConnectionStore, StreamSession, chunks_before
from scaiecho.adapters.replies import ReplyPort
from scaiecho.audio.stream import PcmState, feed, from_record, pcm_to_float, to_record
from scaiecho.domain.auth import Principal, Scope, parse_scopes
from scaiecho.domain.endpointing import EndpointConfig, endpoint_runs
from scaiecho.domain.streaming import (
    AudioFrame,
    Backend,
    CloseFrame,
    OpenFrame,
    OpenParams,
    StreamError,
    closed_frame,
    error_frame,
    parse_frame,
    ready_frame,
)
from scaiecho.domain.vad_track import VadTrack
from scaiecho.errors import TooManyRequests
from scaiecho.observability import get_logger
from scaiecho.services import stream_labels
from scaiecho.services.keys import require_scopes
from scaiecho.services.stream_recognition import (
    ManagedRecognizer,
    NodeRecognizer,
    PendingUtterance,
    Recognised,
)
from scaiecho.services.voice_profiles import ProfileCandidate, match_candidate
from scaiecho.settings import get_settings

_CAS_ATTEMPTS = 8
T = TypeVar("T")


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


@dataclass(frozen=True)
class _Appended:
    utterances: list[PendingUtterance]
    written: list[str]  # audio chunks this attempt stored: deleted again if its save loses
    released: list[str]  # chunks the saved session no longer needs: deleted after the save


@dataclass
class StreamSessionHandler:
    """$default: one client frame of one connection."""

    replies: ReplyPort
    store: ConnectionStore = field(default_factory=ConnectionStore)
    nodes: NodeRecognizer = field(default_factory=NodeRecognizer)
    managed: ManagedRecognizer = field(default_factory=ManagedRecognizer)

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
            self._admit(len(self.nodes.online()))
        if backend is Backend.MANAGED:
            self.managed.check_available()
        pcm, pcm_bytes = to_record(PcmState.start(params.media_type, params.sample_rate))
        session.status, session.params, session.backend = "open", params.serialize(), backend.value
        session.pcm, session.pcm_bytes, session.last_activity = pcm, pcm_bytes, time.time()
        session.opened_at = session.last_activity
        if not self.store.save(session):
            raise StreamError("conflict", "the session changed while opening; open again")
        if backend is Backend.NODES:
            # the count before saving races with opens at the same instant: rank after it
            self._admit(len(self.nodes.online()), session)
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
        cid = session.connection_id
        saved = self._saved(session, lambda s: self._append(s, data, flush=False),
                            undo=lambda lost: self.store.delete_audio(cid, lost.written))
        if saved is None:
            return  # disconnected meanwhile: nothing to answer
        session, appended = saved
        self.store.delete_audio(cid, appended.released)
        utterances = appended.utterances
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
            utterances = self._append(session, b"", flush=True).utterances
            session.vad, session.chunks, session.consumed = VadTrack.empty(), [], 0
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
    def _append(self, session: StreamSession, data: bytes, *, flush: bool) -> _Appended:
        state = from_record(session.pcm or {}, session.pcm_bytes)
        state, pcm = feed(state, data) if data else (state, b"")
        session.pcm, session.pcm_bytes = to_record(state)
        cid, written = session.connection_id, []
        if pcm:
            written.append(self.store.put_audio(cid, session.pending_start + session.vad.samples, pcm))
            session.chunks = [*session.chunks, *written]
            session.vad = session.vad.extend(pcm_to_float(pcm))
        settings = get_settings()
        cfg = EndpointConfig(endpoint_silence_s=settings.stream_endpoint_silence_s,
                             max_utterance_s=settings.stream_max_utterance_s)
        cut = endpoint_runs(session.vad.speech(), session.vad.samples, session.consumed, flush=flush, cfg=cfg)
        start = session.pending_start
        utterances = [
            PendingUtterance(self.store.read_audio(cid, session.chunks, start + u.start, start + u.end),
                             start + u.start, start + u.end)
            for u in cut.utterances
        ]
        end = start + session.vad.samples
        session.vad = session.vad.drop(cut.drop)
        session.consumed = cut.consumed - cut.drop
        session.pending_start += cut.drop
        released = chunks_before(session.chunks, end, session.pending_start)
        released_keys, session.chunks = session.chunks[:released], session.chunks[released:]
        session.last_activity = time.time()
        return _Appended(utterances, written, released_keys)

    # ------------------------------------------------------------------ utterances → deltas
    def _deliver(self, session: StreamSession, utterances: list[PendingUtterance]) -> None:
        if not utterances:
            return
        params = session.params or {}
        try:
            recognised = [r for r in self._recognise(session, utterances, params) if r.text]
            if not recognised:
                return
            saved = self._saved(session, lambda s: stream_labels.label(s, recognised))
        except StreamError as exc:
            self._fail(session.connection_id, exc)
            return
        if saved is None:
            return  # the session ended meanwhile
        for seq, delta in saved[1]:
            if not self.replies.send(session.connection_id, delta.frame(seq)):
                return

    def _recognise(self, session: StreamSession, utterances: list[PendingUtterance],
                   params: dict[str, Any]) -> list[Recognised]:
        language = params.get("language_hint")
        if session.backend == Backend.MANAGED.value:
            return [self.managed.recognise(u, language) for u in utterances]
        profile = self._profile(session) if params.get("match_me") else None
        return [
            self.nodes.recognise(session.tenant_id, u, turn=session.seq + u.start, language=language,
                                 diarize=bool(params.get("diarize")), profile=profile)
            for u in utterances
        ]

    def _profile(self, session: StreamSession) -> ProfileCandidate | None:
        """The caller's active voice profile (read per delivery: it may be deleted mid-session)."""
        return match_candidate(session.tenant_id, session.user_id)

    def _saved(self, session: StreamSession, change: Callable[[StreamSession], T],
               undo: Callable[[T], None] | None = None) -> tuple[StreamSession, T] | None:
        """Apply ``change`` and save with a compare-and-set, re-reading the session and applying
        it again when another frame saved first (``undo`` cleans up after a lost attempt's
        side effects); None when the session is gone."""
        for _ in range(_CAS_ATTEMPTS):
            result = change(session)
            if self.store.save(session):
                return session, result
            if undo is not None:
                undo(result)
            reloaded = self.store.get(session.connection_id)
            if reloaded is None:
                return None
            session = reloaded
        raise StreamError("conflict", "the session is too busy; send frames one at a time")


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
