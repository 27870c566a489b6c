"""Streaming: session labels and delta numbers for recognised utterances.

An utterance matched to an enrolled speaker carries that speaker's id; any other voice joins the
session's online clusters (``spk_0``, ``spk_1``...; at most ``stream_max_session_speakers``),
whose centroids live in the session row. Pure: the caller saves the session.
"""

from __future__ import annotations

from scaiecho.adapters.connections import StreamSession
from scaiecho.domain.endpointing import RATE
from scaiecho.domain.identification import COSINE_THRESHOLD, assign_session_cluster
from scaiecho.domain.streaming import Delta
from scaiecho.services.stream_recognition import Recognised
from scaiecho.settings import get_settings


def label(session: StreamSession, recognised: list[Recognised]) -> list[tuple[int, Delta]]:
    """Numbered deltas for ``recognised``; updates the session's clusters and delta counter."""
    settings = get_settings()
    threshold = settings.id_threshold or COSINE_THRESHOLD
    centroids, counts = session.centroids, list(session.cluster_counts)
    out = []
    for i, r in enumerate(recognised):
        speaker = r.speaker_id
        if speaker is None and r.embedding is not None:
            idx, centroids, counts = assign_session_cluster(
                r.embedding, centroids, counts, threshold=threshold,
                max_clusters=settings.stream_max_session_speakers)
            speaker = f"spk_{idx}"
        delta = Delta(
            text=r.text, start=r.utterance.start / RATE, end=r.utterance.end / RATE,
            final=True, speaker_label=speaker, speaker_name=r.speaker_name if r.speaker_id else None,
            external_id=r.external_id if r.speaker_id else None,
            match_score=r.score, voice_match_score=r.voice_match_score,
        )
        out.append((session.seq + i, delta))
    session.centroids, session.cluster_counts = centroids, counts
    session.seq += len(recognised)
    return out
