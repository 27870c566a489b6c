"""Engine logic around the pipeline, with a stub pipeline (no model weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pyannote.core")

from pyannote.core import Annotation, Segment, SlidingWindow, SlidingWindowFeature

from scaiecho.audio.decode import DecodedAudio
from scaiecho_node import engine as engine_mod
from scaiecho_node.engine import WINDOW_S, CandidateInput, Engine
from scaiecho_node.loading import LoadedModel
from scaiecho_node.scheduling import PriorityGate
from scaiecho_node.settings import NodeSettings


class StubOutput:
    def __init__(self, ann: Annotation) -> None:
        self.speaker_diarization = ann
        self.exclusive_speaker_diarization = ann


class StubPipeline:
    """Returns a fixed diarization; reports a speaker count through the hook like pyannote."""

    def __init__(self, turns: list[tuple[float, float, str]], speech: tuple[float, float]) -> None:
        self.turns = turns
        self.speech = speech

    def __call__(self, file: dict[str, Any], hook: Any = None, **bounds: Any) -> StubOutput:
        duration = file["waveform"].shape[-1] / file["sample_rate"]
        count = np.zeros((int(duration * 100), 1), np.int8)
        count[int(self.speech[0] * 100) : int(self.speech[1] * 100)] = 1
        frames = SlidingWindow(start=0.0, duration=0.01, step=0.01)
        hook("speaker_counting", SlidingWindowFeature(count, frames))
        ann = Annotation(uri=file["uri"])
        for s, e, label in self.turns:
            ann[Segment(s, e)] = label
        return StubOutput(ann)


def stub_engine(pipeline: StubPipeline) -> Engine:
    eng = Engine.__new__(Engine)
    eng.settings = NodeSettings(model_dir=Path("."))
    eng.threshold, eng.slope, eng.window_s = 0.54, 40.0, WINDOW_S
    eng._lock = PriorityGate()
    eng._model = LoadedModel(pipeline, None, "stub", "v0", Path("."), "cpu", 4, 16000, 0.0)
    return eng


@pytest.fixture
def vectors(monkeypatch: pytest.MonkeyPatch) -> dict[float, np.ndarray]:
    """embed_regions stub: the embedding is chosen by the first region's start time."""
    table = {
        1.0: np.array([1.0, 0.0, 0.0, 0.0]),
        3.0: np.array([0.0, 1.0, 0.0, 0.0]),
        5.0: np.array([0.0, 0.0, 1.0, 0.0]),
    }

    def fake(model: Any, file: Any, regions: list[tuple[float, float]], **_: Any) -> Any:
        start = min(s for s, _ in regions)
        return table.get(start, np.array([0.0, 0.0, 0.0, 1.0])), sum(e - s for s, e in regions)

    monkeypatch.setattr(engine_mod, "embed_regions", fake)
    return table


def audio(seconds: float = 8.0) -> DecodedAudio:
    return DecodedAudio(np.zeros(int(16000 * seconds), np.float32), 16000, "wav", 16000, 1, 0.0)


def test_labels_by_first_appearance_and_identification(vectors: dict[float, np.ndarray]) -> None:
    # pyannote's labels sort alphabetically; ours follow time
    pipe = StubPipeline([(3.0, 4.0, "A"), (1.0, 2.0, "B"), (5.0, 6.0, "C")], (1.0, 6.0))
    eng = stub_engine(pipe)
    cands = [CandidateInput("alice", [0.0, 1.0, 0.0, 0.0]), CandidateInput("zed", [0.0, 0.0, 0.0, 1.0])]
    result = eng.diarize(audio(), cands)
    assert [(t.start, t.speaker) for t in result.turns] == [
        (1.0, "SPEAKER_00"),
        (3.0, "SPEAKER_01"),
        (5.0, "SPEAKER_02"),
    ]
    # "A" (first heard at 3 s) is SPEAKER_01 and matches alice; nobody matches zed
    assert {k: v.speaker_id for k, v in result.identified.items()} == {"SPEAKER_01": "alice"}
    assert result.identified["SPEAKER_01"].score > 0.99


def test_speech_without_clusters_falls_back_to_one_speaker(vectors: dict[float, np.ndarray]) -> None:
    eng = stub_engine(StubPipeline([], (1.0, 2.5)))
    result = eng.diarize(audio())
    assert [t.speaker for t in result.turns] == ["SPEAKER_00"]
    assert result.turns[0].start == pytest.approx(1.0) and result.turns[0].end == pytest.approx(2.5)
    assert len(result.speakers) == 1
    assert any(w.startswith("single_speaker_fallback") for w in result.warnings)


def test_no_speech_gives_no_speakers(vectors: dict[float, np.ndarray]) -> None:
    eng = stub_engine(StubPipeline([], (0.0, 0.0)))
    result = eng.diarize(audio())
    assert result.turns == [] and result.speakers == [] and result.warnings == []


@pytest.mark.parametrize(
    "bounds",
    [{"max_speakers": 0}, {"min_speakers": 3, "max_speakers": 2}, {"num_speakers": 21}],
)
def test_speaker_bounds_are_validated(bounds: dict[str, int], vectors: Any) -> None:
    from scaiecho.errors import ValidationFailed

    eng = stub_engine(StubPipeline([], (0.0, 0.0)))
    with pytest.raises(ValidationFailed):
        eng.diarize(audio(), **bounds)


def windowed_engine() -> Engine:
    # three speakers in every 4 s window (window-relative times), 12 s of audio → 3 windows
    pipe = StubPipeline([(0.5, 1.5, "A"), (1.8, 2.6, "B"), (2.8, 3.6, "C")], (0.5, 3.6))
    eng = stub_engine(pipe)
    eng.window_s = 4.0
    return eng


@pytest.fixture
def window_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A, B and C have distinct voices in every window (by where their turn starts in it)."""
    def fake(model: Any, file: Any, regions: list[tuple[float, float]], **_: Any) -> Any:
        start = min(s for s, _ in regions) % 4.0
        voices = {0.5: [1.0, 0.0, 0.0, 0.0], 1.8: [0.0, 1.0, 0.0, 0.0]}
        vec = voices.get(round(start, 1), [0.6, 0.0, 0.8, 0.0])
        return np.array(vec), sum(e - s for s, e in regions)

    monkeypatch.setattr(engine_mod, "embed_regions", fake)


def test_max_speakers_holds_across_windows(window_vectors: None) -> None:
    eng = windowed_engine()
    assert len(eng.diarize(audio(12.0)).speakers) == 3  # linked across windows
    result = eng.diarize(audio(12.0), max_speakers=2)
    assert len(result.speakers) == 2 == len({t.speaker for t in result.turns})
    # C's voice is closest to A's: those two were merged, B kept apart
    assert len({t.speaker for t in result.exclusive_turns}) == 2
    assert len(eng.diarize(audio(12.0), num_speakers=1).speakers) == 1


def test_min_speakers_that_cannot_be_met_warns_why(window_vectors: None) -> None:
    result = windowed_engine().diarize(audio(12.0), min_speakers=5)
    assert len(result.speakers) == 3
    assert any(w.startswith("speaker_bounds: only 3 distinct voice(s)") for w in result.warnings)


def test_turns_never_run_past_the_audio(vectors: dict[float, np.ndarray]) -> None:
    eng = stub_engine(StubPipeline([(1.0, 8.2, "A")], (1.0, 8.0)))
    result = eng.diarize(audio(8.0))
    assert result.turns[-1].end == pytest.approx(8.0)
