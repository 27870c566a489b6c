"""The real pipeline, offline, on real speech fixtures (pyannote sample + LibriSpeech)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scaiecho.audio.decode import DecodedAudio, decode_audio

from .conftest import AUDIO, read_audio

pytestmark = pytest.mark.model


def cut(audio: DecodedAudio, start: float, end: float) -> DecodedAudio:
    sr = audio.sample_rate
    return dataclasses.replace(audio, samples=audio.samples[int(start * sr) : int(end * sr)])


@pytest.fixture(scope="module")
def sample() -> DecodedAudio:
    return decode_audio(read_audio("sample.wav"))


@pytest.fixture(scope="module")
def sample_result(engine, sample):  # type: ignore[no-untyped-def]
    return engine.diarize(sample)


def reference_segments() -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for line in (AUDIO / "sample.rttm").read_text().splitlines():
        f = line.split()
        out.setdefault(f[7], []).append((float(f[3]), float(f[3]) + float(f[4])))
    return out


def test_health(engine) -> None:  # type: ignore[no-untyped-def]
    h = engine.health().serialize()
    assert h["status"] == "ok" and h["embedding_dim"] == 192 and h["device"] == "cpu"
    assert h["engine"] == "pyannote"


def test_der_on_pyannote_sample(sample_result) -> None:  # type: ignore[no-untyped-def]
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref = Annotation(uri="sample")
    for spk, segs in reference_segments().items():
        for s, e in segs:
            ref[Segment(s, e)] = spk
    hyp = Annotation(uri="sample")
    for t in sample_result.turns:
        hyp[Segment(t.start, t.end)] = t.speaker
    der = DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp)
    assert der < 0.15
    labels = [t.speaker for t in sample_result.turns]
    assert labels[0] == "SPEAKER_00" and set(labels) == {"SPEAKER_00", "SPEAKER_01"}
    assert sample_result.serialize()["num_speakers"] == 2


def test_embed_is_normalised_with_quality(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.embed(decode_audio(read_audio("103-1240-0000.flac")))
    vec = np.asarray(result.embedding)
    assert vec.shape == (192,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    assert (vec < 0).any()  # no ReLU after the last BatchNorm (3D-Speaker's original)
    q = result.quality
    assert 5.0 < result.speech_s <= q.duration_s and 0.3 < q.speech_ratio <= 1.0
    assert result.serialize()["dimension"] == 192


def test_same_speaker_scores_above_different_speakers(engine) -> None:  # type: ignore[no-untyped-def]
    halves = {}
    for name in ("103-1240-0000.flac", "1034-121119-0000.flac", "26-495-0000.flac"):
        audio = decode_audio(read_audio(name))
        mid = audio.duration_s / 2
        halves[name] = (
            np.asarray(engine.embed(cut(audio, 0, mid)).embedding),
            np.asarray(engine.embed(cut(audio, mid, audio.duration_s)).embedding),
        )
    same = [float(a @ b) for a, b in halves.values()]
    names = list(halves)
    diff = [float(halves[x][0] @ halves[y][1]) for x in names for y in names if x != y]
    assert min(same) > engine.threshold > max(diff), (same, diff)


def test_diarize_names_enrolled_sample_speakers(engine, sample) -> None:  # type: ignore[no-untyped-def]
    from scaiecho_node.engine import CandidateInput

    refs = reference_segments()
    # enroll each speaker from one clean stretch of their own speech
    enroll = {"speaker90": (10.6, 14.4), "speaker91": (21.8, 27.8)}
    cands = [
        CandidateInput(spk, engine.embed(cut(sample, *span)).embedding)
        for spk, span in enroll.items()
    ]
    impostor = engine.embed(decode_audio(read_audio("19-198-0000.flac"))).embedding
    cands.append(CandidateInput("impostor", impostor))
    result = engine.diarize(sample, cands)
    named = {ident.speaker_id for ident in result.identified.values()}
    assert named == {"speaker90", "speaker91"}
    for label, ident in result.identified.items():
        assert 0.5 <= ident.score <= 1.0
        # the named cluster's speech lies mostly inside that speaker's reference turns
        turns = [t for t in result.turns if t.speaker == label]
        inside = sum(
            max(0.0, min(t.end, e) - max(t.start, s)) for t in turns for s, e in refs[ident.speaker_id]
        )
        assert inside > 0.6 * sum(t.end - t.start for t in turns)
    # only impostors offered → nobody is named
    alone = engine.diarize(sample, [CandidateInput("impostor", impostor)])
    assert alone.identified == {}


def test_silence_has_no_speech(engine) -> None:  # type: ignore[no-untyped-def]
    from scaiecho.errors import AudioError

    silence = DecodedAudio(np.zeros(16000 * 3, np.float32), 16000, "wav", 16000, 1, 0.0)
    with pytest.raises(AudioError) as err:
        engine.embed(silence)
    assert err.value.code == "no_speech"
    result = engine.diarize(silence)
    assert result.turns == [] and result.speakers == []


def test_evict_confirms_nothing_is_held(engine, sample) -> None:  # type: ignore[no-untyped-def]
    from scaiecho_node.engine import CandidateInput

    # voiceprints come with a request and leave with it: after a diarize nothing stays
    engine.diarize(sample, [CandidateInput("offered", [1.0] * engine.embedding_dim)])
    assert engine.evict(["offered", "other"]).serialize() == {"evicted": [], "not_held": ["offered", "other"]}
    assert not any(isinstance(v, dict) and "offered" in v for v in vars(engine).values())


def test_candidate_dimension_mismatch_is_rejected(engine, sample) -> None:  # type: ignore[no-untyped-def]
    from scaiecho.errors import ValidationFailed
    from scaiecho_node.engine import CandidateInput

    with pytest.raises(ValidationFailed) as err:
        engine.diarize(sample, [CandidateInput("x", [0.1] * 256)])
    assert err.value.code == "embedding_dimension_mismatch"


def test_long_audio_is_diarized_in_linked_windows(engine, sample) -> None:  # type: ignore[no-untyped-def]
    from scaiecho_node.engine import WINDOW_S

    # the sample conversation three times over, diarized as three 30 s windows
    looped = dataclasses.replace(sample, samples=np.concatenate([sample.samples] * 3))
    whole = engine.diarize(sample)
    engine.window_s = 30.0
    try:
        windowed = engine.diarize(looped)
    finally:
        engine.window_s = WINDOW_S
    assert len(windowed.speakers) == 2
    # each repetition carries the same labels as the single-window run
    for k in range(3):
        agree = total = 0.0
        for a in whole.turns:
            total += a.end - a.start
            for b in windowed.turns:
                if a.speaker == b.speaker:
                    agree += max(0.0, min(a.end + 30 * k, b.end) - max(a.start + 30 * k, b.start))
        assert agree > 0.8 * total, k


def test_any_pyannote_pipeline_dir_loads(model_dir, tmp_path, sample) -> None:  # type: ignore[no-untyped-def]
    """A plain pyannote config (stock SpeakerDiarization class, VBx-free) in another dir works."""
    import yaml

    from scaiecho_node.engine import Engine
    from scaiecho_node.settings import NodeSettings

    other = tmp_path / "operator-model"
    other.mkdir()
    for sub in ("segmentation", "embedding", "plda"):
        (other / sub).symlink_to(model_dir / sub)
    config = yaml.safe_load((model_dir / "config.yaml").read_text())
    config["pipeline"]["name"] = "pyannote.audio.pipelines.SpeakerDiarization"
    del config["scaiecho"]
    (other / "config.yaml").write_text(yaml.safe_dump(config))
    eng = Engine(NodeSettings(model_dir=other, id_threshold=0.5))
    assert type(eng.model.pipeline).__module__.startswith("pyannote.audio")
    assert eng.threshold == 0.5 and eng.health().model_id == "operator-model"
    result = eng.diarize(sample)
    assert len(result.speakers) == 2


def test_a_silence_bias_in_config_yaml_reaches_the_segmentation(model_dir, tmp_path, sample) -> None:  # type: ignore[no-untyped-def]
    """The calibration lever as a deployment would set it: ``silence_bias`` in config.yaml
    loads into our pipeline and calls speech where the model was unsure (22.4 s of the sample
    at 0, 23.2 s at -2), and 0 puts pyannote's own decision back."""
    import yaml

    from scaiecho_node.engine import Engine
    from scaiecho_node.inference import audio_file, speech_activity
    from scaiecho_node.settings import NodeSettings

    other = tmp_path / "biased-model"
    other.mkdir()
    for sub in ("segmentation", "embedding", "plda"):
        (other / sub).symlink_to(model_dir / sub)
    config = yaml.safe_load((model_dir / "config.yaml").read_text())
    assert "silence_bias" not in config["pipeline"]["params"]  # 0: stock pyannote still loads it
    config["pipeline"]["params"]["silence_bias"] = -2.0
    (other / "config.yaml").write_text(yaml.safe_dump(config))
    pipeline = Engine(NodeSettings(model_dir=other)).model.pipeline
    assert pipeline.silence_bias == -2.0
    biased = speech_activity(pipeline, audio_file(sample.samples, 16000), sample.duration_s)
    pipeline.set_silence_bias(0.0)
    stock = speech_activity(pipeline, audio_file(sample.samples, 16000), sample.duration_s)
    assert biased.speech_s > stock.speech_s + 0.3


def test_a_realtime_embed_overtakes_a_batch_diarization_in_flight(engine, sample) -> None:  # type: ignore[no-untyped-def]
    """The priority gate on the real engine: a stream utterance arriving while a job's
    diarization runs is served at the diarization's next checkpoint, not after it."""
    import threading
    import time

    from scaiecho_node.scheduling import Priority, serving

    long_audio = dataclasses.replace(sample, samples=np.tile(sample.samples, 2))  # ~60 s
    utterance = cut(sample, 8.3, 12.5)
    done: dict[str, float] = {}
    started = threading.Event()
    yields_before = engine._lock.yields

    def job() -> None:
        with serving(Priority.BATCH):
            started.set()
            engine.diarize(long_audio)
        done["diarize"] = time.perf_counter()

    worker = threading.Thread(target=job)
    worker.start()
    started.wait(10)
    time.sleep(1.0)  # the diarization is inside the pipeline now
    with serving(Priority.REALTIME):
        engine.embed(utterance)
    done["embed"] = time.perf_counter()
    worker.join(300)
    assert done["embed"] < done["diarize"]
    assert engine._lock.yields > yields_before
