"""``voiceMatchScore``: how likely each diarized speaker is the caller's own voice profile (pure).

Batch jobs and streaming sessions that honour ``match_me=true`` send the caller's profile to the
node as one more ``diarize`` candidate (``services.voice_profiles.match_candidate``), then turn
the node's answer into one score per speaker label with :func:`voice_match_scores`, and remove
the profile from the identification map with :func:`without_profile` before naming speakers.
The transcript thus carries a number per segment and nothing else about the profile: not its
opaque id, not its embedding, not the cosine.

Scores follow the node's calibrated mapping (``scaiecho_node.identification``; a node test
checks the constants agree): ``1 / (1 + exp(-slope * (cosine - threshold)))``, 0.5 at the
decision threshold. The cluster the node attributed to the profile keeps the node's own score;
every other cluster is scored from its cosine to the profile and capped below 0.5, since the
node decided it is not the profile (below the threshold, or the one-to-one assignment gave the
profile to a better cluster).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

COSINE_THRESHOLD = 0.54
SCORE_SLOPE = 40.0
NOT_MATCHED_CAP = 0.49


def score_from_cosine(cosine: float, *, threshold: float = COSINE_THRESHOLD,
                      slope: float = SCORE_SLOPE) -> float:
    # exp overflows past ~709; the score is 0 there anyway
    z = -slope * (cosine - threshold)
    return 0.0 if z > 700 else 1.0 / (1.0 + math.exp(z))


def cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cosine similarity, or None when the vectors cannot be compared."""
    if len(a) != len(b) or not a:
        return None
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0.0 or nb == 0.0 or not math.isfinite(dot / (na * nb)):
        return None
    return dot / (na * nb)


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
            cos = cosine(list(cluster.get("embedding") or []), list(embedding))
            score = 0.0 if cos is None else min(score_from_cosine(cos), NOT_MATCHED_CAP)
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
