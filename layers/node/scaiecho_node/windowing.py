"""Diarizing long audio in windows: where the windows fall, and how their clusters become
speakers.

Pure numpy, no model: the engine runs the pipeline on each window (``plan_windows``), then
``link`` joins the windows' clusters into speakers by their embeddings, ``merge_closest``
enforces an upper speaker bound, and ``assemble`` labels the result by first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scaiecho_node import identification
from scaiecho_node.inference import CLUSTER_SPEECH_CAP_S
from scaiecho_node.results import SpeakerCluster, Turn


@dataclass
class WindowCluster:
    """One speaker cluster of one window, in absolute seconds."""

    window: int
    turns: list[tuple[float, float]]
    speech_s: float
    embedding: np.ndarray | None  # L2-normalised, or None when too little speech
    exclusive: list[tuple[float, float]] = field(default_factory=list)


def plan_windows(total: int, step: int) -> list[tuple[int, int]]:
    """``(begin, end)`` sample ranges covering ``total`` samples in windows of ``step``; a tail
    shorter than a quarter window joins the last window rather than standing alone."""
    if total <= step + step // 4:
        return [(0, total)]
    starts = list(range(0, total, step))
    if total - starts[-1] < step // 4:
        starts.pop()
    ends = [*starts[1:], total]
    return list(zip(starts, ends, strict=True))


def link(pieces: list[WindowCluster], threshold: float, dim: int) -> list[list[WindowCluster]]:
    """Link window clusters into speakers, window by window, one-to-one.

    Two clusters of the same window are never merged (the pipeline already told them apart);
    a cluster joins the speaker whose running embedding it matches best (Hungarian on cosine,
    at least ``threshold``), otherwise it starts a new speaker.
    """
    speakers: list[list[WindowCluster]] = []
    centroids: list[np.ndarray] = []
    for window in sorted({p.window for p in pieces}):
        members = [p for p in pieces if p.window == window]
        usable = [p for p in members if p.embedding is not None]
        matched: dict[int, int] = {}
        if usable and centroids:
            matches = identification.assign(
                np.stack([p.embedding for p in usable if p.embedding is not None]),
                [identification.Candidate(str(k), c) for k, c in enumerate(centroids)],
                threshold=threshold,
            )
            matched = {id(usable[m.cluster]): int(m.speaker_id) for m in matches}
        for piece in members:
            k = matched.get(id(piece))
            if k is None:
                speakers.append([piece])
                centroids.append(piece.embedding if piece.embedding is not None else np.zeros(dim))
            else:
                speakers[k].append(piece)
                centroids[k] = merged_embedding(speakers[k], len(centroids[k]))
    return speakers


def merged_embedding(pieces: list[WindowCluster], dim: int) -> np.ndarray:
    """Speech-weighted mean of the pieces' embeddings (each piece's weight capped), unit norm."""
    total = np.zeros(dim)
    for p in pieces:
        if p.embedding is not None:
            total += min(p.speech_s, CLUSTER_SPEECH_CAP_S) * p.embedding
    norm = np.linalg.norm(total)
    return total / norm if norm > 0 else total


def merge_closest(
    speakers: list[list[WindowCluster]], limit: int, dim: int
) -> list[list[WindowCluster]]:
    """Merge the two speakers with the most similar voices until at most ``limit`` remain."""
    groups = [list(g) for g in speakers]
    while len(groups) > max(1, limit):
        cents = np.stack([merged_embedding(g, dim) for g in groups])
        sims = cents @ cents.T
        np.fill_diagonal(sims, -np.inf)
        a, b = (int(v) for v in np.unravel_index(int(np.argmax(sims)), sims.shape))
        i, j = min(a, b), max(a, b)
        groups[i] += groups.pop(j)
    return groups


def assemble(
    speakers: list[list[WindowCluster]], dim: int
) -> tuple[list[Turn], list[SpeakerCluster], list[Turn]]:
    """Turns, speaker clusters and exclusive turns, labelled SPEAKER_00, 01, ... by first
    appearance."""
    firsts = [min(s for p in group for s, _ in p.turns) for group in speakers]
    order = sorted(range(len(speakers)), key=lambda k: firsts[k])
    turns: list[Turn] = []
    exclusive: list[Turn] = []
    clusters: list[SpeakerCluster] = []
    for rank, k in enumerate(order):
        label = f"SPEAKER_{rank:02d}"
        group = speakers[k]
        turns += [Turn(s, e, label) for p in group for s, e in p.turns]
        exclusive += [Turn(s, e, label) for p in group for s, e in p.exclusive]
        clusters.append(
            SpeakerCluster(
                label=label,
                speech_s=sum(p.speech_s for p in group),
                embedding=[float(x) for x in merged_embedding(group, dim)],
            )
        )
    turns.sort(key=lambda t: (t.start, t.end))
    exclusive.sort(key=lambda t: (t.start, t.end))
    return turns, clusters, exclusive
