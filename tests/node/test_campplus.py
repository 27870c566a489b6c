"""CAM++'s inference trunk (traced, frozen, BatchNorm folded) against the eager network."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from scaiecho_node.campplus import CAMPPlusEmbedding


@pytest.fixture(scope="module")
def model() -> CAMPPlusEmbedding:
    torch.manual_seed(0)
    m = CAMPPlusEmbedding()
    # non-trivial BatchNorm statistics, so that folding them into the convolutions matters
    for module in m.modules():
        if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return m.eval()


@pytest.mark.parametrize(("batch", "seconds"), [(1, 0.4), (1, 3.3), (4, 10.0), (2, 37.1)])
def test_inference_frames_match_the_eager_trunk(model, batch, seconds) -> None:  # type: ignore[no-untyped-def]
    waveforms = 0.05 * torch.randn(batch, 1, int(seconds * 16000), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager = model.campplus.frames(model.compute_fbank(waveforms))
    with torch.inference_mode():
        fast = model.forward_frames(waveforms)
    assert model._frozen  # the inference path was taken
    assert fast.shape == eager.shape
    assert torch.allclose(fast, eager, atol=3e-5 * float(eager.abs().max()), rtol=0)


def test_training_and_gradients_use_the_eager_trunk(model) -> None:  # type: ignore[no-untyped-def]
    waveforms = 0.05 * torch.randn(1, 1, 16000)
    frames = model.forward_frames(waveforms)  # grad mode on: must stay differentiable
    assert frames.requires_grad


def test_changed_weights_drop_the_frozen_copy(model) -> None:  # type: ignore[no-untyped-def]
    waveforms = 0.05 * torch.randn(1, 1, 32000)
    other = copy.deepcopy(model)
    with torch.inference_mode():
        before = other.forward_frames(waveforms)
    state = {k: v.clone() for k, v in other.state_dict().items()}
    state["campplus.head.conv1.weight"] *= 2.0
    other.load_state_dict(state)
    with torch.inference_mode():
        after = other.forward_frames(waveforms)
    with torch.no_grad():
        eager = other.campplus.frames(other.compute_fbank(waveforms))
    assert not torch.allclose(before, after)
    assert torch.allclose(after, eager, atol=3e-5 * float(eager.abs().max()), rtol=0)


def test_pickles_without_the_frozen_copy(model) -> None:  # type: ignore[no-untyped-def]
    with torch.inference_mode():
        model.forward_frames(0.05 * torch.randn(1, 1, 16000))
    clone = pickle.loads(pickle.dumps(model))
    assert clone._frozen == {}
    assert list(clone.state_dict()) == list(model.state_dict())


def test_moving_the_model_keeps_the_frozen_copy(model) -> None:  # type: ignore[no-untyped-def]
    """pyannote moves the model to its device on every Inference it builds: no rebuild."""
    with torch.inference_mode():
        model.forward_frames(0.05 * torch.randn(1, 1, 16000))
    built = dict(model._frozen)
    model.to(torch.device("cpu")).eval()
    with torch.inference_mode():
        model.forward_frames(0.05 * torch.randn(1, 1, 16000))
    assert model._frozen == built
