"""The far-field meeting simulation and gain normalisation (no model; synthetic 'readers')."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from scaiecho_node.farfield import MeetingSpec, make_meetings, reader_pool, room_impulse_response
from scaiecho_node.gain import normalise_gain

SR = 16000


def readers(n: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    out = {}
    for k in range(n):
        # bursts of tone-modulated noise with pauses, 12 s each: enough for speech_spans
        t = np.arange(12 * SR) / SR
        env = (np.sin(2 * np.pi * 0.5 * t) > -0.3).astype(np.float32)
        out[str(100 + k)] = (0.1 * env * rng.standard_normal(len(t))).astype(np.float32)
    return out


def test_pools_are_disjoint_and_cover_everyone() -> None:
    u = readers()
    dev, test = set(reader_pool(u, "dev")), set(reader_pool(u, "test"))
    assert not dev & test and dev | test == set(u)


def test_meetings_are_seeded_and_match_their_spec() -> None:
    u = readers()
    spec = (MeetingSpec("m0", 3, 40.0),)
    a, b = make_meetings(u, spec, "test"), make_meetings(u, spec, "test")
    assert np.array_equal(a[0].samples, b[0].samples) and a[0].reference == b[0].reference
    assert a[0].duration_s == pytest.approx(40.0)
    speakers = {r for _, _, r in a[0].reference}
    assert len(speakers) == 3 and speakers <= set(reader_pool(u, "test"))
    assert all(0 <= s < e <= 40.0 for s, e, _ in a[0].reference)
    assert float(np.max(np.abs(a[0].samples))) <= 0.5  # quiet far-field recording
    overlap = sum(  # someone talks over someone else at least once
        1 for i, (s1, e1, r1) in enumerate(a[0].reference)
        for s2, e2, r2 in a[0].reference[i + 1 :] if r1 != r2 and s2 < e1 and s1 < e2)
    assert overlap > 0


def test_room_impulse_response_decays() -> None:
    rir = room_impulse_response(np.random.default_rng(0), rt60=0.5, distance_m=2.0)
    head = np.abs(rir[: SR // 20]).max()
    tail = np.abs(rir[-SR // 20 :]).max()
    assert head == pytest.approx(1.0) and tail < 0.05


def test_peak_gain_normalisation_is_capped_and_leaves_silence_alone() -> None:
    quiet = np.full(100, 0.1, np.float32)  # -20 dBFS peak → -1 dBFS
    out = normalise_gain(quiet, "peak")
    assert float(out.max()) == pytest.approx(10 ** (-1 / 20), rel=1e-3)
    tiny = np.full(100, 1e-4, np.float32)  # -80 dBFS: the gain stops at +30 dB
    assert float(normalise_gain(tiny, "peak").max()) == pytest.approx(1e-4 * 10 ** 1.5, rel=1e-3)
    assert not normalise_gain(np.zeros(10, np.float32), "peak").any()
    loud = np.full(10, 0.99, np.float32)
    assert normalise_gain(loud, "peak") is loud
    with pytest.raises(ValueError):
        normalise_gain(quiet, "agc")
