"""Pure pieces of the node: pooling masks, speech regions, simulated conversations."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyannote.core")

from pyannote.core import SlidingWindow, SlidingWindowFeature

from scaiecho_node.inference import activity_from_count
from scaiecho_node.pipeline import BiasedPowerset, _embedding_masks
from scaiecho_node.simulate import make_conversation, speech_spans


def test_masks_exclude_overlap_only_when_enough_clean_speech() -> None:
    data = np.zeros((1, 100, 3), np.float32)
    data[0, :60, 0] = 1  # speaker 0: 60 frames, 10 overlapped
    data[0, 50:60, 1] = 1  # speaker 1: only overlapped frames → keeps its full mask
    seg = SlidingWindowFeature(data, SlidingWindow(start=0.0, duration=10.0, step=2.5))
    masks = _embedding_masks(seg, min_num_samples=400, sample_rate=16000)
    assert masks.shape == (1, 3, 100)
    assert masks[0, 0].sum() == 50 and masks[0, 1].sum() == 10 and masks[0, 2].sum() == 0
    plain = _embedding_masks(seg, min_num_samples=None, sample_rate=16000)
    assert plain[0, 0].sum() == 60


def test_biased_powerset_moves_only_unsure_silence() -> None:
    """0 is pyannote's conversion; a silence bias turns unsure silence into the likeliest
    speaker and leaves sure silence, speech and soft output alone."""
    import torch
    from pyannote.audio.utils.powerset import Powerset

    # classes: {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}
    probs = torch.tensor([[
        [0.90, 0.05, 0.01, 0.01, 0.01, 0.01, 0.01],  # sure silence
        [0.45, 0.05, 0.40, 0.04, 0.03, 0.02, 0.01],  # unsure silence, speaker 1 next
        [0.05, 0.50, 0.05, 0.02, 0.35, 0.02, 0.01],  # speaker 0
    ]])
    logp = probs.log()
    stock = Powerset(3, 2).to_multilabel(logp)
    assert torch.equal(BiasedPowerset(3, 2).to_multilabel(logp), stock)
    biased = BiasedPowerset(3, 2, silence_bias=-0.5).to_multilabel(logp)
    assert biased[0].tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 0]]
    assert stock[0, 1].tolist() == [0, 0, 0]
    soft = BiasedPowerset(3, 2, silence_bias=-5.0).to_multilabel(logp, soft=True)
    assert torch.allclose(soft, Powerset(3, 2).to_multilabel(logp, soft=True))


def test_activity_from_count() -> None:
    count = np.zeros((100, 1), np.int8)
    count[10:30] = 1
    count[20:25] = 2
    count[60:70] = 1
    act = activity_from_count(
        SlidingWindowFeature(count, SlidingWindow(start=0.0, duration=0.1, step=0.1)), 10.0
    )
    assert [(round(s, 2), round(e, 2)) for s, e in act.regions] == [(1.0, 3.0), (6.0, 7.0)]
    assert act.speech_s == pytest.approx(3.0) and act.overlap_s == pytest.approx(0.5)


def test_simulated_conversation_reference_is_consistent() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 12) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    tone[16000 * 5 : 16000 * 6] = 0  # a 1 s pause inside reader a's speech
    utts = {"a": tone, "b": tone[::-1].copy()}
    conv = make_conversation(utts, ["a", "b"], rng, uri="c0")
    speakers = {spk for _, _, spk in conv.reference}
    assert speakers == {"a", "b"}
    assert all(0 <= s < e <= conv.duration_s for s, e, _ in conv.reference)
    assert conv.rttm().startswith("SPEAKER c0 1 ")
    assert speech_spans(tone)[0][0] == pytest.approx(0.0)
    assert len(speech_spans(tone)) == 2


def test_lever_keys_move_one_lever_at_a_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Calibration rows from before a lever (no "method", no "silence_bias") count as its
    default; levers tried and not adopted are reported from the chosen setting."""
    import json

    from scaiecho_node import modeldir
    from scaiecho_node.bench import lever_keys

    def row(step, threshold, mcs, der, method=None):  # type: ignore[no-untyped-def]
        r = {"step": step, "gain": "none", "threshold": threshold, "min_cluster_size": mcs, "der": der}
        return r if method is None else {**r, "method": method}

    chosen = (modeldir.SEGMENTATION_STEP, modeldir.CLUSTERING_THRESHOLD, modeldir.MIN_CLUSTER_SIZE)
    rows = [row(0.25, 0.75, 2, 0.31), row(chosen[0], 0.75, 2, 0.30),
            row(0.25, 0.75, chosen[2], 0.34), row(*chosen, 0.28, method=modeldir.CLUSTERING_METHOD),
            row(*chosen, 0.29, method="average"),
            {**row(*chosen, 0.27), "silence_bias": -1.0},  # tried, not adopted
            {**row(0.25, 0.75, 2, 0.33), "silence_bias": -1.0}]  # not one lever from the chosen
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"rows": rows}))
    keys = lever_keys(path)
    assert keys["dev_der_previous_setting"] == 0.31
    assert keys["dev_der_chosen_setting"] == 0.28
    assert keys["dev_der_lever_segmentation_step"] == 0.30
    assert keys["dev_der_lever_min_cluster_size"] == 0.34
    assert keys["dev_der_lever_clustering_method"] == 0.31  # centroid: the base itself
    assert keys["dev_der_lever_silence_bias"] == 0.31  # not adopted: the base itself
    assert keys["dev_der_tried_silence_bias_-1.0"] == 0.27
    assert keys["dev_der_tried_clustering_method_average"] == 0.29
    assert not any("min_duration_off_" in k for k in keys)
    assert lever_keys(tmp_path / "absent.json") == {}
