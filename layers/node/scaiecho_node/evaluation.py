"""Diarization evaluation: the data sets, the DER metric, and pyannote's stock pipeline.

Shared by the bench (``bench.py``, ``scaiecho.local.bench_jobs``) and the calibration command
(``calibrate_diarization.py``), so the three paths — stock pyannote, the node engine and the job
path — are scored on the same audio with the same metric.

DER is pyannote.metrics' (overlap counted), at collar 0 (the headline) and collar 0.5 s (for
reference: boundary jitter forgiven), accumulated over a set's files (so long files weigh more),
inside each file's UEM where the data set ships one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scaiecho_node.simulate import SAMPLE_RATE

REAL = "real-conversations"
SAMPLE = "pyannote-sample"
LIBRISPEECH = "librispeech-train-clean-100"

# pyannote.audio's documented defaults for SpeakerDiarization with agglomerative clustering:
# segmentation step 10 % of the window, centroid linkage at 0.6, min cluster size 12, embeddings
# over the whole chunk mask (exclude_overlap False).
STOCK_PARAMS: dict[str, Any] = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {"method": "centroid", "threshold": 0.6, "min_cluster_size": 12},
}

Turn = tuple[float, float, str]


@dataclass
class Item:
    """One scored recording."""

    uri: str
    samples: np.ndarray
    reference: list[Turn]
    uem: tuple[float, float] | None = None
    tags: set[str] = field(default_factory=set)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def read_rttm(path: Path) -> list[Turn]:
    return parse_rttm(path.read_text())


def parse_rttm(text: str) -> list[Turn]:
    """(start, end, speaker) of each ``SPEAKER`` line."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            out.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


def _read_uem(path: Path) -> tuple[float, float] | None:
    if not path.is_file():
        return None
    f = path.read_text().split()
    return (float(f[2]), float(f[3])) if len(f) >= 4 else None


def _load_wav(path: Path) -> np.ndarray:
    from scaiecho.audio.decode import decode_audio

    return decode_audio(path.read_bytes()).samples


def real_items(data: Path) -> list[Item]:
    """pyannote's sample.wav and the three real recordings (test only: too few to tune on)."""
    items = []
    sample = data / SAMPLE / "sample.wav"
    if sample.is_file():
        items.append(Item("sample", _load_wav(sample), read_rttm(sample.with_suffix(".rttm")),
                          tags={"sample"}))
    for wav in sorted((data / REAL).glob("*.wav")):
        items.append(Item(wav.stem, _load_wav(wav), read_rttm(wav.with_suffix(".rttm")),
                          _read_uem(wav.with_suffix(".uem")), tags={"real"}))
    return items


def farfield_items(data: Path, pool: str, *, long: bool = False) -> list[Item]:
    from scaiecho_node import farfield
    from scaiecho_node.simulate import load_utterances

    libri = data / LIBRISPEECH
    if not libri.is_dir():
        return []
    utterances = load_utterances(libri)
    specs = list(farfield.DEV_SPECS if pool == "dev" else farfield.TEST_SPECS)
    if long:
        specs = [farfield.LONG_SPEC]
    return [Item(c.uri, c.samples, c.reference, tags={"farfield", pool})
            for c in farfield.make_meetings(utterances, specs, pool)]


def annotation(turns: list[Turn], uri: str) -> Any:
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for s, e, label in turns:
        if e > s:
            ann[Segment(s, e)] = label
    return ann


class DER:
    """Accumulated DER at collar 0 and 0.5 s, with components, for one (path, set)."""

    def __init__(self) -> None:
        from pyannote.metrics.diarization import DiarizationErrorRate

        self.strict = DiarizationErrorRate(collar=0.0, skip_overlap=False)
        self.forgiving = DiarizationErrorRate(collar=0.5, skip_overlap=False)
        self.per_file: dict[str, float] = {}

    def add(self, item: Item, hypothesis: list[Turn]) -> float:
        from pyannote.core import Segment, Timeline

        ref = annotation(item.reference, item.uri)
        hyp = annotation(hypothesis, item.uri)
        start, end = item.uem or (0.0, item.duration_s)
        uem = Timeline([Segment(start, end)], uri=item.uri)
        value = float(self.strict(ref, hyp, uem=uem))
        self.forgiving(ref, hyp, uem=uem)
        self.per_file[item.uri] = round(value, 4)
        return value

    def summary(self) -> dict[str, Any]:
        acc = self.strict.accumulated_
        total = float(acc["total"]) or 1.0
        return {
            "der": round(float(abs(self.strict)), 4),
            "der_collar05": round(float(abs(self.forgiving)), 4),
            "confusion": round(float(acc["confusion"]) / total, 4),
            "miss": round(float(acc["missed detection"]) / total, 4),
            "false_alarm": round(float(acc["false alarm"]) / total, 4),
        }


def stock_pipeline(model_dir: Path, *, device: str = "cpu") -> Any:
    """pyannote.audio's own SpeakerDiarization class on the model dir's weights, stock defaults."""
    import torch
    from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization

    pipeline = SpeakerDiarization(
        segmentation=str(model_dir / "segmentation"),
        embedding=str(model_dir / "embedding"),
        plda=str(model_dir / "plda"),  # always loaded, unused by agglomerative clustering
        clustering="AgglomerativeClustering",
    )
    pipeline.instantiate(STOCK_PARAMS)
    pipeline.to(torch.device(device))
    return pipeline


def pipeline_turns(pipeline: Any, samples: np.ndarray, uri: str = "audio") -> list[Turn]:
    import torch

    file = {"waveform": torch.from_numpy(np.ascontiguousarray(samples))[None],
            "sample_rate": SAMPLE_RATE, "uri": uri}
    output = pipeline(file)
    ann = getattr(output, "speaker_diarization", output)
    return [(float(s.start), float(s.end), str(label)) for s, _, label in ann.itertracks(yield_label=True)]
