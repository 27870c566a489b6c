"""pyannote's SpeakerDiarization, with cheaper embedding extraction.

Stock pyannote runs the embedding network once per (chunk, local speaker) pair: three full
10-second passes per chunk for segmentation-3.0, including speakers that are silent in that
chunk. The masks only matter at the pooling layer, so when the embedding model exposes
``forward_frames``/``forward_embedding`` (pyannote's WeSpeaker ResNets and our CAM++ do) this
subclass runs the network once per chunk, pools the frames with each active speaker's mask, and
leaves silent speakers out (NaN, which pyannote's clustering already filters; such speakers are
forced to the throw-away cluster in ``apply``). Results match the stock method up to float
rounding; models without those methods fall back to it.

``silence_bias`` < 0 penalises the powerset segmentation's silence class
(:class:`BiasedPowerset`), a calibration lever for quiet far-field speech; at 0, the default,
the decision is pyannote's own. Everything else (segmentation, clustering, reconstruction,
hyper-parameters) is inherited, so this is a real ``pyannote.audio.pipelines.SpeakerDiarization``
loadable from a ``config.yaml``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from pyannote.audio.pipelines.speaker_diarization import (
    SpeakerDiarization as _PyannoteSpeakerDiarization,
)
from pyannote.audio.utils.powerset import Powerset
from pyannote.core import SlidingWindowFeature


class BiasedPowerset(Powerset):
    """Powerset to multi-label conversion that adds ``silence_bias`` to the silence class's
    log-probability before the argmax: below 0, frames where the model was unsure whether anyone
    spoke (quiet far-field talkers) go to the likeliest speaker. Soft conversion is unchanged."""

    def __init__(self, num_classes: int, max_set_size: int, *, silence_bias: float = 0.0) -> None:
        super().__init__(num_classes, max_set_size)
        bias = torch.zeros(self.num_powerset_classes)
        bias[self.cardinality == 0] = silence_bias
        self.register_buffer("bias", bias, persistent=False)

    def to_multilabel(self, powerset: torch.Tensor, soft: bool = False) -> torch.Tensor:
        if soft:
            return super().to_multilabel(powerset, soft=True)
        bias: torch.Tensor = self.bias  # type: ignore[assignment]  # a registered buffer
        return super().to_multilabel(powerset + bias.to(powerset.dtype), soft=False)


class SpeakerDiarization(_PyannoteSpeakerDiarization):
    """``pyannote.audio.pipelines.SpeakerDiarization`` sharing one embedding pass per chunk."""

    def __init__(self, *args: Any, silence_bias: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stock_conversion: Any = self._segmentation.conversion
        self.set_silence_bias(silence_bias)

    def set_silence_bias(self, silence_bias: float) -> None:
        """Bias the segmentation's speech/silence decision (0: pyannote's own). It is the
        decision everything downstream sees: speaker count, embeddings, turns, speech activity."""
        self.silence_bias = float(silence_bias)
        specs: Any = self._segmentation.model.specifications
        powerset = getattr(specs, "powerset", False) and not self._segmentation.skip_conversion
        if not powerset or self.silence_bias == 0.0:
            self._segmentation.conversion = self._stock_conversion
            return
        biased: Any = BiasedPowerset(len(specs.classes), specs.powerset_max_classes,
                                     silence_bias=self.silence_bias)
        self._segmentation.conversion = biased.to(self._segmentation.device)

    def get_embeddings(
        self,
        file: Any,
        binary_segmentations: SlidingWindowFeature,
        exclude_overlap: bool = False,
        hook: Any = None,
    ) -> np.ndarray:
        model = getattr(self._embedding, "model_", None)
        if (
            model is None
            or not hasattr(model, "forward_frames")
            or not hasattr(model, "forward_embedding")
            or not getattr(self._segmentation.model.specifications, "powerset", False)
        ):
            return super().get_embeddings(
                file, binary_segmentations, exclude_overlap=exclude_overlap, hook=hook
            )
        # during hyper-parameter tuning, embeddings of a file are reused across trials
        # (valid for powerset segmentation models, whose binarization has no threshold)
        if self.training and "embeddings" in file.get("training_cache/embeddings", {}):
            cached: np.ndarray = file["training_cache/embeddings"]["embeddings"]
            return cached

        masks = _embedding_masks(
            binary_segmentations,
            min_num_samples=self._embedding.min_num_samples if exclude_overlap else None,
            sample_rate=self._embedding.sample_rate,
        )
        # masks: (num_chunks, num_speakers, num_frames) float32
        num_chunks, num_speakers, _ = masks.shape
        active = masks.sum(axis=2) > 0
        embeddings = np.full(
            (num_chunks, num_speakers, self._embedding.dimension), np.nan, dtype=np.float32
        )
        todo = np.flatnonzero(active.any(axis=1))
        batch_size = max(1, int(self.embedding_batch_size))
        device = self._embedding.device
        window = binary_segmentations.sliding_window
        chunks = [window[n] for n in range(num_chunks)]
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            waveforms = torch.stack(
                [self._audio.crop(file, chunks[c], mode="pad")[0] for c in idx]
            )
            # (batch, 1, samples)
            weights = torch.from_numpy(masks[idx])
            with torch.inference_mode():
                frames = model.forward_frames(waveforms.to(device))
                batch = model.forward_embedding(frames, weights=weights.to(device))
            batch_np = batch.cpu().numpy()
            for row, c in enumerate(idx):
                speakers = active[c]
                embeddings[c, speakers] = batch_np[row, speakers]
            if hook is not None:
                hook(
                    "embeddings",
                    batch_np,
                    total=math.ceil(len(todo) / batch_size),
                    completed=start // batch_size + 1,
                )
        if self.training:
            file["training_cache/embeddings"] = {"embeddings": embeddings}
        return embeddings


def _embedding_masks(
    binary_segmentations: SlidingWindowFeature,
    *,
    min_num_samples: int | None,
    sample_rate: int,
) -> np.ndarray:
    """Per (chunk, speaker) pooling masks, as pyannote's ``get_embeddings`` chooses them.

    With ``min_num_samples`` (exclude_overlap), frames where several speakers overlap are zeroed,
    unless that leaves too little speech, in which case the full mask is kept.
    Returns (num_chunks, num_speakers, num_frames) float32.
    """
    data = np.nan_to_num(binary_segmentations.data, nan=0.0).astype(np.float32)
    # (num_chunks, num_frames, num_speakers)
    if min_num_samples is not None:
        _, num_frames, _ = data.shape
        duration = binary_segmentations.sliding_window.duration
        min_num_frames = math.ceil(num_frames * min_num_samples / (duration * sample_rate))
        clean = data * (data.sum(axis=2, keepdims=True) < 2)
        use_clean = clean.sum(axis=1, keepdims=True) > min_num_frames
        data = np.where(use_clean, clean, data)
    return np.ascontiguousarray(data.transpose(0, 2, 1))
