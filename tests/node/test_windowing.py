"""The engine's windowing for long audio: window plan, linking, speaker bounds, labelling.
Pure numpy; the engine tests run the same code with the real pipeline."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

pytest.importorskip("scipy")

from scaiecho_node.windowing import WindowCluster, assemble, link, merge_closest, plan_windows


def unit(*v: float) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def piece(window: int, start: float, vec: np.ndarray | None, speech: float = 5.0) -> WindowCluster:
    return WindowCluster(window, [(start, start + speech)], speech, vec, [(start, start + speech)])


@pytest.mark.parametrize(
    ("total", "step", "expected"),
    [
        (100, 100, [(0, 100)]),
        (125, 100, [(0, 125)]),  # a quarter-window tail stays in the one window
        (126, 100, [(0, 100), (100, 126)]),
        (310, 100, [(0, 100), (100, 200), (200, 310)]),  # a short tail joins the last window
        (330, 100, [(0, 100), (100, 200), (200, 300), (300, 330)]),
    ],
)
def test_windows_cover_the_audio_once(total: int, step: int, expected: list[tuple[int, int]]) -> None:
    windows = plan_windows(total, step)
    assert windows == expected
    assert windows[0][0] == 0 and windows[-1][1] == total
    assert all(a[1] == b[0] for a, b in pairwise(windows))


def test_link_joins_the_same_voice_across_windows_but_never_within_one() -> None:
    a, b = unit(1, 0, 0), unit(0, 1, 0)
    pieces = [piece(0, 0, a), piece(0, 10, b),
              piece(1, 600, unit(1, 0.1, 0)), piece(1, 610, unit(0.9, 0.2, 0))]
    speakers = link(pieces, threshold=0.5, dim=3)
    # window 1's two clusters both resemble a, but only one may join it; the other is b's or new
    assert len(speakers) in (2, 3)
    assert all(len({p.window for p in group}) == len(group) for group in speakers)
    assert pieces[2] in speakers[0]


def test_link_starts_a_new_speaker_below_the_threshold_and_keeps_embeddingless_pieces() -> None:
    pieces = [piece(0, 0, unit(1, 0, 0)), piece(1, 600, unit(0, 0, 1)), piece(1, 700, None, 0.2)]
    speakers = link(pieces, threshold=0.5, dim=3)
    assert len(speakers) == 3


def test_merge_closest_merges_the_most_alike_voices_first() -> None:
    groups = [[piece(0, 0, unit(1, 0, 0))], [piece(0, 10, unit(0, 1, 0))],
              [piece(0, 20, unit(0.95, 0.05, 0))]]
    merged = merge_closest(groups, 2, 3)
    assert len(merged) == 2
    assert {p.turns[0][0] for p in merged[0]} == {0, 20}
    assert len(merge_closest(groups, 0, 3)) == 1  # never fewer than one speaker


def test_assemble_labels_by_first_appearance_and_keeps_overlap() -> None:
    late, early = [piece(0, 30, unit(1, 0, 0))], [piece(0, 2, unit(0, 1, 0)), piece(1, 29, unit(0, 1, 0))]
    turns, clusters, exclusive = assemble([late, early], 3)
    assert [c.label for c in clusters] == ["SPEAKER_00", "SPEAKER_01"]
    assert clusters[0].speech_s == 10.0 and clusters[0].embedding == pytest.approx([0, 1, 0])
    assert [(t.start, t.speaker) for t in turns] == [
        (2, "SPEAKER_00"), (29, "SPEAKER_00"), (30, "SPEAKER_01")]
    assert [t.start for t in exclusive] == [2, 29, 30]
