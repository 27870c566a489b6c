"""Identification logic on synthetic vectors (pure: no model)."""

from __future__ import annotations

import numpy as np
import pytest

from scaiecho_node.identification import (
    COSINE_THRESHOLD,
    Candidate,
    assign,
    cosine_matrix,
    l2_normalise,
    score_from_cosine,
)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture
def basis() -> np.ndarray:
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((192, 192)))
    return q.T  # orthonormal rows


def near(v: np.ndarray, other: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector at cosine ``cos`` from unit ``v`` (``other`` orthogonal to v)."""
    return unit(cos * v + np.sqrt(1 - cos**2) * other)


def test_one_to_one_assignment(basis: np.ndarray) -> None:
    # Given two clusters that both resemble candidate A, B resembling cluster 1 best
    a, b = basis[0], basis[1]
    clusters = np.stack([near(a, basis[5], 0.9), near(a, near(b, basis[6], 0.95), 0.7)])
    cands = [Candidate("A", a), Candidate("B", b)]
    # When assigning
    matches = assign(clusters, cands)
    # Then each candidate names at most one cluster and each cluster at most one candidate
    assert [(m.cluster, m.speaker_id) for m in matches] == [(0, "A"), (1, "B")]


def test_threshold_leaves_clusters_anonymous(basis: np.ndarray) -> None:
    clusters = np.stack([near(basis[0], basis[3], COSINE_THRESHOLD - 0.05)])
    assert assign(clusters, [Candidate("A", basis[0])]) == []
    clusters = np.stack([near(basis[0], basis[3], COSINE_THRESHOLD + 0.05)])
    [match] = assign(clusters, [Candidate("A", basis[0])])
    assert match.speaker_id == "A" and 0.5 < match.score <= 1.0


def test_never_names_a_non_candidate(basis: np.ndarray) -> None:
    clusters = np.stack([basis[0], basis[1], basis[2]])
    matches = assign(clusters, [Candidate("only", basis[1])])
    assert [(m.cluster, m.speaker_id) for m in matches] == [(1, "only")]
    assert assign(clusters, []) == []


def test_below_threshold_pair_does_not_block_a_valid_pair(basis: np.ndarray) -> None:
    # cluster 0 matches A strongly; cluster 1 weakly prefers A over nothing else
    a = basis[0]
    clusters = np.stack([near(a, basis[4], 0.8), near(a, basis[5], 0.3)])
    matches = assign(clusters, [Candidate("A", a), Candidate("B", basis[9])])
    assert [(m.cluster, m.speaker_id) for m in matches] == [(0, "A")]


def test_score_mapping_is_monotonic_in_unit_interval() -> None:
    cos = np.linspace(-1, 1, 41)
    scores = score_from_cosine(cos)
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.all(np.diff(scores) > 0)
    assert score_from_cosine(COSINE_THRESHOLD) == pytest.approx(0.5)


def test_normalisation_and_cosine() -> None:
    v = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(v[0], [0.6, 0.8]) and np.all(v[1] == 0)
    assert cosine_matrix(np.array([[1.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 5.0]])).tolist() == [[1.0, 0.0]]
