"""Engine outputs: plain dataclasses; ``contract()`` is the reply model the node sends
(:mod:`scaiecho.contracts.node`, rounded for the wire), ``serialize()`` its JSON object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scaiecho.contracts import node as wire


def _r(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


class _Reply:
    """``serialize()``: the JSON object of the result's reply model."""

    def contract(self) -> wire.NodeResult | wire.AudioQuality:
        raise NotImplementedError

    def serialize(self) -> dict[str, Any]:
        data: dict[str, Any] = self.contract().model_dump(mode="json")
        return data


@dataclass(frozen=True)
class AudioQuality(_Reply):
    """Signals the enrollment preflight and clients use to judge a reference recording."""

    duration_s: float
    speech_s: float
    speech_ratio: float
    rms_dbfs: float
    clipped_ratio: float
    overlap_s: float

    def contract(self) -> wire.AudioQuality:
        return wire.AudioQuality(
            duration_s=_r(self.duration_s),
            speech_s=_r(self.speech_s),
            speech_ratio=_r(self.speech_ratio),
            rms_dbfs=_r(self.rms_dbfs, 2),
            clipped_ratio=_r(self.clipped_ratio, 5),
            overlap_s=_r(self.overlap_s),
        )


@dataclass(frozen=True)
class EmbedResult(_Reply):
    embedding: list[float]  # L2-normalised
    speech_s: float
    quality: AudioQuality
    model_id: str
    model_version: str
    warnings: list[str] = field(default_factory=list)

    def contract(self) -> wire.EmbedResult:
        return wire.EmbedResult(
            embedding=[round(x, 6) for x in self.embedding],
            dimension=len(self.embedding),
            speech_s=_r(self.speech_s),
            quality=self.quality.contract(),
            model_id=self.model_id,
            model_version=self.model_version,
            warnings=list(self.warnings),
        )


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str

    def contract(self) -> wire.Turn:
        return wire.Turn(start=_r(self.start), end=_r(self.end), speaker=self.speaker)


@dataclass(frozen=True)
class Identification:
    speaker_id: str
    score: float  # [0, 1], 0.5 = calibrated threshold
    cosine: float

    def contract(self) -> wire.Identification:
        return wire.Identification(speaker_id=self.speaker_id, score=_r(self.score, 4),
                                   cosine=_r(self.cosine, 4))


@dataclass(frozen=True)
class SpeakerCluster:
    label: str
    speech_s: float
    embedding: list[float]  # L2-normalised, same space as EmbedResult.embedding

    def contract(self) -> wire.SpeakerCluster:
        return wire.SpeakerCluster(label=self.label, speech_s=_r(self.speech_s),
                                   embedding=[round(x, 6) for x in self.embedding])


@dataclass(frozen=True)
class DiarizeResult(_Reply):
    duration_s: float
    turns: list[Turn]
    speakers: list[SpeakerCluster]
    identified: dict[str, Identification]
    model_id: str
    model_version: str
    processing_s: float
    warnings: list[str] = field(default_factory=list)
    # the same speakers with overlap resolved to the most likely one (for word attribution)
    exclusive_turns: list[Turn] = field(default_factory=list)

    def contract(self) -> wire.DiarizeResult:
        return wire.DiarizeResult(
            duration_s=_r(self.duration_s),
            num_speakers=len(self.speakers),
            turns=[t.contract() for t in self.turns],
            exclusive_turns=[t.contract() for t in self.exclusive_turns],
            speakers=[s.contract() for s in self.speakers],
            identified={label: i.contract() for label, i in self.identified.items()},
            model_id=self.model_id,
            model_version=self.model_version,
            processing_s=_r(self.processing_s),
            warnings=list(self.warnings),
        )


@dataclass(frozen=True)
class HealthResult(_Reply):
    status: str
    node_id: str
    model_id: str
    model_version: str
    model_dir: str
    device: str
    embedding_dim: int
    sample_rate: int
    pyannote_version: str
    torch_version: str
    identification_threshold: float
    load_time_s: float

    def contract(self) -> wire.HealthResult:
        return wire.HealthResult(
            status=self.status,
            node_id=self.node_id,
            engine="pyannote",
            model_id=self.model_id,
            model_version=self.model_version,
            model_dir=self.model_dir,
            device=self.device,
            embedding_dim=self.embedding_dim,
            sample_rate=self.sample_rate,
            pyannote_version=self.pyannote_version,
            torch_version=self.torch_version,
            identification_threshold=self.identification_threshold,
            load_time_s=_r(self.load_time_s),
        )


@dataclass(frozen=True)
class EvictResult(_Reply):
    evicted: list[str]
    not_held: list[str]

    def contract(self) -> wire.EvictResult:
        return wire.EvictResult(evicted=list(self.evicted), not_held=list(self.not_held))
