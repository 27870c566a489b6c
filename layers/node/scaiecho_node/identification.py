"""Identification: which diarized clusters are which enrolled candidates.

The scoring (cosine, calibrated threshold, logistic match score) lives in
:mod:`scaiecho.domain.identification`, shared with the torch-free streaming path; this module adds
the one-to-one assignment of many clusters to many candidates, which needs scipy.

Assignment is one-to-one (Hungarian on the scores): a candidate names at most one cluster and a
cluster at most one candidate; pairs below the threshold are dropped, so unmatched clusters keep
their anonymous labels. Only candidates passed in can ever be named.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from scaiecho.domain.identification import (
    COSINE_THRESHOLD,
    SCORE_SLOPE,
    Candidate,
    Match,
    cosine_matrix,
    l2_normalise,
    score_from_cosine,
)

__all__ = [
    "COSINE_THRESHOLD", "SCORE_SLOPE", "Candidate", "Match", "assign", "cosine_matrix",
    "l2_normalise", "score_from_cosine",
]


def assign(
    cluster_embeddings: np.ndarray,
    candidates: Sequence[Candidate],
    *,
    threshold: float = COSINE_THRESHOLD,
    slope: float = SCORE_SLOPE,
) -> list[Match]:
    """One-to-one assignment of clusters to candidates above ``threshold``.

    Maximises the summed margin above the threshold (Hungarian), then keeps pairs whose cosine
    is at least ``threshold``. Returns matches sorted by cluster index.
    """
    if len(candidates) == 0 or len(cluster_embeddings) == 0:
        return []
    cand = np.stack([c.embedding for c in candidates])
    cosines = cosine_matrix(np.asarray(cluster_embeddings), cand)
    # benefit of a pair = its margin above the threshold (0 below it), so that a pair under
    # the threshold never pushes a valid pair out of the optimal assignment.
    benefit = np.where(cosines >= threshold, cosines - threshold + 1e-6, 0.0)
    rows, cols = linear_sum_assignment(benefit, maximize=True)
    matches = [
        Match(
            cluster=int(r),
            speaker_id=candidates[c].speaker_id,
            score=float(score_from_cosine(cosines[r, c], threshold=threshold, slope=slope)),
            cosine=float(cosines[r, c]),
        )
        for r, c in zip(rows, cols, strict=True)
        if cosines[r, c] >= threshold
    ]
    return sorted(matches, key=lambda m: m.cluster)
