"""Inference helpers on a loaded pipeline: speech activity and whole-window embeddings.

Kept apart from the engine (which shapes requests and results) and from loading (which holds
weights), like pyannote keeps ``Model``, ``Inference`` and ``Pipeline`` apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# Speech fed to one whole-window embedding pass. CAM++ activations grow linearly with input
# length (~0.5 GB for 60 s); longer speech is embedded in pieces and averaged, which bounds
# memory whatever the recording length.
EMBED_PIECE_S = 30.0
# Speech used per diarized cluster for its identification embedding (longest turns first).
CLUSTER_SPEECH_CAP_S = 60.0
MIN_PIECE_S = 1.0
# Shortest speech embedded at all (many filterbank windows; CAM++'s is 25 ms).
MIN_SPEECH_S = 0.1


@dataclass(frozen=True)
class SpeechActivity:
    regions: list[tuple[float, float]]  # merged speech regions, seconds
    speech_s: float
    overlap_s: float


def audio_file(samples: np.ndarray, sample_rate: int, uri: str = "audio") -> dict[str, Any]:
    """A pyannote in-memory AudioFile (no decoding by pyannote/torchcodec)."""
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
    return {"waveform": waveform, "sample_rate": sample_rate, "uri": uri}


def activity_from_count(count: Any, duration_s: float) -> SpeechActivity:
    """Speech regions from pyannote's frame-level speaker count (a SlidingWindowFeature)."""
    data = np.nan_to_num(np.asarray(count.data, dtype=np.float32).reshape(-1))
    window = count.sliding_window
    step = float(window.step)
    starts = float(window.start) + np.arange(len(data)) * step + (float(window.duration) - step) / 2
    active = data > 0
    regions: list[tuple[float, float]] = []
    if active.any():
        edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
        for on, off in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            start = max(0.0, float(starts[on]))
            end = min(duration_s, float(starts[off - 1] + step))
            if end > start:
                regions.append((start, end))
    speech_s = sum(e - s for s, e in regions)
    overlap_s = float(np.count_nonzero(data >= 2)) * step
    return SpeechActivity(regions=regions, speech_s=speech_s, overlap_s=overlap_s)


def speech_activity(pipeline: Any, file: dict[str, Any], duration_s: float) -> SpeechActivity:
    """Run the pipeline's segmentation model only, and derive speech regions from it."""
    from pyannote.audio.utils.signal import binarize

    segmentations = pipeline.get_segmentations(file)
    if pipeline._segmentation.model.specifications.powerset:
        binarized = segmentations
    else:
        binarized = binarize(segmentations, onset=pipeline.segmentation.threshold, initial_state=False)
    count = pipeline.speaker_count(
        binarized, pipeline._segmentation.model.receptive_field, warm_up=(0.0, 0.0)
    )
    return activity_from_count(count, duration_s)


def min_embedding_s(pipeline: Any) -> float:
    """Shortest speech the embedding model accepts, in seconds."""
    emb = pipeline._embedding
    return float(emb.min_num_samples) / float(emb.sample_rate)


def embed_regions(
    model: Any,
    file: dict[str, Any],
    regions: list[tuple[float, float]],
    *,
    cap_s: float | None = None,
) -> tuple[np.ndarray | None, float]:
    """L2-normalised embedding of the concatenated ``regions`` (``Inference(window="whole")``).

    Speech is cut into pieces of at most EMBED_PIECE_S seconds; piece embeddings are averaged,
    weighted by duration. With ``cap_s``, the longest regions are used first up to that much
    speech. Returns (embedding or None when there is no speech, seconds of speech used).
    """
    from pyannote.audio import Inference
    from pyannote.core import Segment

    # pyannote's Audio.crop rejects an end even a rounding error past the last sample
    limit = (file["waveform"].shape[-1] - 1) / file["sample_rate"]
    chosen = [(max(0.0, s), min(e, limit)) for s, e in regions]
    chosen = [(s, e) for s, e in chosen if e > s]
    if cap_s is not None:
        chosen.sort(key=lambda r: r[1] - r[0], reverse=True)
        kept: list[tuple[float, float]] = []
        total = 0.0
        for s, e in chosen:
            if total >= cap_s:
                break
            e = min(e, s + cap_s - total)
            kept.append((s, e))
            total += e - s
        chosen = sorted(kept)
    pieces: list[list[Segment]] = [[]]
    piece_s = 0.0
    for s, e in chosen:
        while e - s > 0:
            room = EMBED_PIECE_S - piece_s
            take = min(room, e - s)
            pieces[-1].append(Segment(s, s + take))
            piece_s += take
            s += take
            if piece_s >= EMBED_PIECE_S:
                pieces.append([])
                piece_s = 0.0
    pieces = [p for p in pieces if p]
    if len(pieces) > 1 and sum(seg.duration for seg in pieces[-1]) < MIN_PIECE_S:
        pieces.pop()  # a sliver left over after the last full piece adds nothing
    # A piece shorter than the model's filterbank window crashes it ("choose a window size 400
    # that is [2, 270]"), and one this short says nothing about a voice anyway.
    pieces = [p for p in pieces if sum(seg.duration for seg in p) >= MIN_SPEECH_S]
    if not pieces:
        return None, 0.0
    inference = Inference(model, window="whole")
    total_vec = np.zeros(int(model.dimension), dtype=np.float64)
    used = 0.0
    for piece in pieces:
        dur = sum(seg.duration for seg in piece)
        with torch.inference_mode():
            vec = np.asarray(inference.crop(file, piece), dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(vec)):
            continue
        norm = np.linalg.norm(vec)
        if norm > 0:
            total_vec += dur * vec / norm
            used += dur
    norm = np.linalg.norm(total_vec)
    if used == 0.0 or norm == 0:
        return None, 0.0
    return total_vec / norm, used
