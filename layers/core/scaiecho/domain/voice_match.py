"""``voiceMatchScore``: how likely each diarized speaker is the caller's own voice profile (pure).

Batch jobs and streaming sessions that honour ``match_me=true`` send the caller's profile to the
node as one more ``diarize`` candidate (``services.voice_profiles.match_candidate``), then turn
the node's answer into one score per speaker label with :func:`voice_match_scores`, and remove
the profile from the identification map with :func:`without_profile` before naming speakers.
The transcript thus carries a number per segment and nothing else about the profile: not its
opaque id, not its embedding, not the cosine.

Scores follow the node's calibrated mapping (``scaiecho.domain.identification``, which the node
uses too): ``1 / (1 + exp(-slope * (cosine - threshold)))``, 0.5 at the decision threshold.
The cluster the node attributed to the profile keeps the node's own score;
every other cluster is scored from its cosine to the profile and capped below 0.5, since the
node decided it is not the profile (below the threshold, or the one-to-one assignment gave the
profile to a better cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scaiecho.domain.identification import cosine_matrix, score_from_cosine

NOT_MATCHED_CAP = 0.49


def _score_against(cluster_embedding: Sequence[float], profile: Sequence[float]) -> float:
    """The calibrated score of one cluster against the profile; 0 when they cannot be compared."""
    a = np.asarray(cluster_embedding, dtype=np.float64)
    b = np.asarray(profile, dtype=np.float64)
    if a.size == 0 or a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return 0.0
    return float(score_from_cosine(float(cosine_matrix(a, b)[0, 0])))


def voice_match_scores(
    diarization: Mapping[str, Any], *, candidate_id: str, embedding: Sequence[float]
) -> dict[str, float]:
    """One score in [0, 1] per speaker label of a node ``diarize`` result.

    ``diarization`` is the node's data: ``speakers [{label, embedding}]`` and ``identified
    {label: {speaker_id, score, cosine}}``; ``candidate_id``/``embedding`` are the profile's (as
    sent in ``candidates``). A label whose cluster has no comparable embedding scores 0.
    """
    identified: Mapping[str, Any] = diarization.get("identified") or {}
    matched = {
        label: float(ident.get("score", 0.0))
        for label, ident in identified.items()
        if isinstance(ident, Mapping) and ident.get("speaker_id") == candidate_id
    }
    scores: dict[str, float] = {}
    for cluster in diarization.get("speakers") or []:
        label = cluster.get("label")
        if not isinstance(label, str):
            continue
        if label in matched:
            score = matched[label]
        else:
            score = min(_score_against(cluster.get("embedding") or [], embedding), NOT_MATCHED_CAP)
        scores[label] = round(min(max(score, 0.0), 1.0), 4)
    for label, score in matched.items():  # a node that lists no clusters still names the match
        scores.setdefault(label, round(min(max(score, 0.0), 1.0), 4))
    return scores


def without_profile(identified: Mapping[str, Any], candidate_id: str) -> dict[str, Any]:
    """The identification map minus the profile's entry: the profile never names a speaker."""
    return {
        label: ident for label, ident in identified.items()
        if not (isinstance(ident, Mapping) and ident.get("speaker_id") == candidate_id)
    }
