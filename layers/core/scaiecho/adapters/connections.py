"""Streaming sessions in DynamoDB (the ``connections`` table) and their pending audio (the
``stream-audio`` table). Domain objects out.

Every route invocation of a connection reads the session, works, and writes it back with a
compare-and-set on ``rev``: on API Gateway two frames of one connection may be handled by two
Lambdas at once, and neither may silently overwrite the other's audio.

A frame's audio is written as its own item *before* the compare-and-set that lists it in the
session, so a listed chunk always exists; a frame that loses the race deletes its chunk and
redoes its work on the fresh session. Work and write units per frame are proportional to the
frame, not to the utterance so far (the row holds chunk keys and the VAD's state, not audio).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from scaiecho.adapters.storage import storage_call
from scaiecho.adapters.tables import ConnectionRow, StreamAudioRow, utcnow
from scaiecho.domain.vad_track import VadTrack
from scaiecho.errors import Conflict, StorageError
from scaiecho.settings import get_settings


@dataclass
class StreamSession:
    connection_id: str
    tenant_id: str
    key_id: str
    scopes: str
    reply_endpoint: str | None = None
    user_id: str | None = None
    status: str = "connected"
    params: dict[str, Any] | None = None
    backend: str | None = None
    pcm: dict[str, Any] | None = None
    pcm_bytes: bytes = b""
    chunks: list[str] = field(default_factory=list)  # keys of the pending buffer's audio items
    vad: VadTrack = field(default_factory=VadTrack.empty, repr=False)  # the buffer's VAD state
    consumed: int = 0
    pending_start: int = 0
    centroids: np.ndarray | None = field(default=None, repr=False)
    cluster_counts: list[int] = field(default_factory=list)
    seq: int = 0
    last_activity: float = 0.0
    opened_at: float = 0.0
    rev: int = 0

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def _to_domain(row: ConnectionRow) -> StreamSession:
    centroids = None
    if row.centroids and row.cluster_counts:
        centroids = np.frombuffer(row.centroids, dtype="<f4").reshape(len(row.cluster_counts), -1)
    vad = VadTrack(np.frombuffer(row.vad_band or b"", dtype="<f4"),
                   np.frombuffer(row.vad_tail or b"", dtype="<f4"))
    return StreamSession(
        connection_id=row.connection_id, tenant_id=row.tenant_id, key_id=row.key_id,
        scopes=row.scopes, reply_endpoint=row.reply_endpoint, user_id=row.user_id, status=row.status,
        params=row.params, backend=row.backend, pcm=row.pcm, pcm_bytes=row.pcm_bytes or b"",
        chunks=(row.chunks or "").split(), vad=vad, consumed=int(row.consumed or 0),
        pending_start=int(row.pending_start or 0), centroids=centroids,
        cluster_counts=[int(str(c)) for c in (row.cluster_counts or [])], seq=int(row.seq or 0),
        last_activity=float(row.last_activity or 0), opened_at=float(row.opened_at or 0),
        rev=int(row.rev or 0),
    )


def _to_row(session: StreamSession, rev: int) -> ConnectionRow:
    ttl = _expiry()
    has_clusters = session.centroids is not None and len(session.cluster_counts) > 0
    return ConnectionRow(
        session.connection_id, tenant_id=session.tenant_id, key_id=session.key_id,
        scopes=session.scopes, reply_endpoint=session.reply_endpoint, user_id=session.user_id,
        status=session.status,
        params=session.params, backend=session.backend, pcm=session.pcm,
        pcm_bytes=session.pcm_bytes or None, chunks=" ".join(session.chunks) or None,
        vad_band=np.asarray(session.vad.band, dtype="<f4").tobytes() or None,
        vad_tail=np.asarray(session.vad.tail, dtype="<f4").tobytes() or None,
        consumed=session.consumed, pending_start=session.pending_start,
        centroids=np.asarray(session.centroids, dtype="<f4").tobytes() if has_clusters else None,
        cluster_counts=list(session.cluster_counts) if has_clusters else None,
        seq=session.seq, connected_at=utcnow(), last_activity=session.last_activity,
        opened_at=session.opened_at or None, expires_at=ttl, rev=rev,
    )


def _expiry() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=get_settings().stream_session_ttl_s)


def chunk_start(key: str) -> int:
    """The session sample index an audio chunk starts at (its key's prefix)."""
    return int(key.split(".", 1)[0])


def chunks_before(chunks: list[str], end_of_last: int, start: int) -> int:
    """How many of ``chunks`` (the last one ends at sample ``end_of_last``) end at or before
    sample ``start``: the chunks a buffer starting at ``start`` no longer needs."""
    ends = [chunk_start(k) for k in chunks[1:]] + [end_of_last]
    return sum(1 for end in ends if end <= start)


class ConnectionStore:
    @storage_call("could not create the streaming session")
    def create(self, session: StreamSession) -> StreamSession:
        session.last_activity = time.time()
        try:
            _to_row(session, 0).save(condition=ConnectionRow.connection_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise Conflict("the connection already has a session", code="session_exists") from exc
            raise
        session.rev = 0
        return session

    @storage_call("could not read the streaming session")
    def get(self, connection_id: str) -> StreamSession | None:
        try:
            return _to_domain(ConnectionRow.get(connection_id, consistent_read=True))
        except DoesNotExist:
            return None

    @storage_call("could not save the streaming session")
    def save(self, session: StreamSession) -> bool:
        """Write the session if nobody else did since it was read (False: reload and redo)."""
        try:
            _to_row(session, session.rev + 1).save(
                condition=ConnectionRow.connection_id.exists() & (ConnectionRow.rev == session.rev)
            )
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        session.rev += 1
        return True

    @storage_call("could not delete the streaming session")
    def delete(self, connection_id: str) -> bool:
        """Forget the session and its pending audio (idempotent); True when a row was deleted."""
        try:
            ConnectionRow(connection_id).delete(condition=ConnectionRow.connection_id.exists())
            deleted = True
        except DeleteError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            deleted = False
        # every chunk of the connection, listed or not (a frame that died before its save)
        self.delete_audio(connection_id, [
            r.chunk for r in StreamAudioRow.query(connection_id, consistent_read=True,
                                                  attributes_to_get=["connection_id", "chunk"])
        ])
        return deleted

    # ------------------------------------------------------------------ pending audio
    @storage_call("could not store the stream's audio")
    def put_audio(self, connection_id: str, start: int, pcm: bytes) -> str:
        """Store one frame's audio (int16, starting at session sample ``start``); its chunk key."""
        key = f"{start:012d}.{secrets.token_hex(4)}"  # the token: a racing frame's chunk differs
        StreamAudioRow(connection_id, key, pcm=pcm, expires_at=_expiry()).save()
        return key

    @storage_call("could not read the stream's audio")
    def read_audio(self, connection_id: str, chunks: list[str], start: int, end: int) -> bytes:
        """Samples ``[start, end)`` (session sample indices, int16) of the listed ``chunks``."""
        wanted = [k for i, k in enumerate(chunks)
                  if chunk_start(k) < end and (i + 1 == len(chunks) or chunk_start(chunks[i + 1]) > start)]
        if not wanted or end <= start:
            return b""
        keys = set(wanted)
        pieces = [r.pcm for r in StreamAudioRow.query(
            connection_id, StreamAudioRow.chunk.between(wanted[0], wanted[-1]), consistent_read=True)
            if r.chunk in keys]
        if len(pieces) != len(wanted):
            raise StorageError("the stream's pending audio is incomplete")
        first = chunk_start(wanted[0])
        return b"".join(pieces)[2 * (start - first):2 * (end - first)]

    @storage_call("could not delete the stream's audio")
    def delete_audio(self, connection_id: str, chunks: list[str]) -> None:
        if not chunks:
            return
        with StreamAudioRow.batch_write() as batch:
            for key in chunks:
                batch.delete(StreamAudioRow(connection_id, key))

    @storage_call("could not scan the streaming sessions")
    def idle_since(self, before_epoch: float) -> list[tuple[str, str | None]]:
        """(connection id, reply endpoint) of sessions without activity since ``before_epoch``."""
        return [
            (r.connection_id, r.reply_endpoint)
            for r in ConnectionRow.scan(
                filter_condition=ConnectionRow.last_activity < before_epoch,
                attributes_to_get=["connection_id", "reply_endpoint"],
            )
        ]

    @storage_call("could not count the streaming sessions")
    def count_for_tenant(self, tenant_id: str) -> int:
        return sum(1 for _ in ConnectionRow.tenant_index.query(tenant_id))

    @storage_call("could not count the streaming sessions")
    def count_open(self) -> int:
        """Sessions past ``open`` (streaming audio), every tenant: the nodes' real-time load."""
        return sum(1 for _ in ConnectionRow.scan(filter_condition=ConnectionRow.status == "open",
                                                 attributes_to_get=["connection_id"]))

    @storage_call("could not count the streaming sessions")
    def open_rank(self, session: StreamSession) -> int:
        """How many open sessions were admitted before ``session`` (by ``opened_at``, then id):
        of streams opened at the same instant, exactly the first ``capacity`` stay."""
        mine = (session.opened_at, session.connection_id)
        return sum(
            1 for r in ConnectionRow.scan(filter_condition=ConnectionRow.status == "open",
                                          attributes_to_get=["connection_id", "opened_at"])
            if (float(r.opened_at or 0), r.connection_id) < mine
        )

    @storage_call("could not count the streaming sessions")
    def count(self) -> int:
        return sum(1 for _ in ConnectionRow.scan(attributes_to_get=["connection_id"]))
