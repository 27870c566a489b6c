"""The node engine: one object, loaded once, answering embed / diarize / health / evict.

Used by the local node process (``serve``) and the SageMaker handler (``sagemaker_entry``)
through the same dispatcher (``invocation``). Nodes are stateless: the warm registry in
DynamoDB is the source of truth for enrolled voiceprints, which arrive with each diarize request
as ``candidates``. The only per-speaker state is a small cache of normalised candidate vectors,
which ``evict`` drops.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaiecho.audio.decode import DecodedAudio
from scaiecho.errors import AudioError, ValidationFailed
from scaiecho_node import identification
from scaiecho_node.inference import (
    CLUSTER_SPEECH_CAP_S,
    activity_from_count,
    audio_file,
    embed_regions,
    min_embedding_s,
    speech_activity,
)
from scaiecho_node.loading import LoadedModel, load_model
from scaiecho_node.results import (
    AudioQuality,
    DiarizeResult,
    EmbedResult,
    EvictResult,
    HealthResult,
    Identification,
    SpeakerCluster,
    Turn,
)
from scaiecho_node.settings import NodeSettings

MAX_SPEAKERS = 20
MIN_ENROLL_SPEECH_S = 3.0  # below this an enrollment embedding is flagged as unreliable
CANDIDATE_CACHE_SIZE = 4096


class NoSpeech(AudioError):
    code = "no_speech"


@dataclass(frozen=True)
class CandidateInput:
    speaker_id: str
    embedding: Sequence[float]


class Engine:
    """pyannote diarization + CAM++ (or the model dir's) embeddings + identification."""

    def __init__(
        self,
        settings: NodeSettings,
        *,
        threshold: float = identification.COSINE_THRESHOLD,
        slope: float = identification.SCORE_SLOPE,
    ) -> None:
        self.settings = settings
        self.threshold = threshold
        self.slope = slope
        self._model: LoadedModel = load_model(
            settings.model_dir, device=settings.device, num_threads=settings.num_threads
        )
        self._lock = threading.Lock()  # torch inference is serialised per node
        self._candidates: OrderedDict[str, np.ndarray] = OrderedDict()

    # -- properties ---------------------------------------------------------------------------
    @property
    def model(self) -> LoadedModel:
        return self._model

    @property
    def sample_rate(self) -> int:
        return self._model.sample_rate

    @property
    def embedding_dim(self) -> int:
        return self._model.embedding_dim

    # -- actions ------------------------------------------------------------------------------
    def health(self) -> HealthResult:
        import pyannote.audio
        import torch

        m = self._model
        return HealthResult(
            status="ok",
            node_id=self.settings.node_id,
            model_id=m.model_id,
            model_version=m.model_version,
            model_dir=str(m.model_dir),
            device=m.device,
            embedding_dim=m.embedding_dim,
            sample_rate=m.sample_rate,
            pyannote_version=str(pyannote.audio.__version__),
            torch_version=str(torch.__version__),
            identification_threshold=self.threshold,
            load_time_s=m.load_time_s,
        )

    def embed(self, audio: DecodedAudio) -> EmbedResult:
        """Enrollment embedding: speech regions of ``audio`` through the embedding model."""
        self._check_rate(audio)
        file = audio_file(audio.samples, audio.sample_rate, uri="reference")
        with self._lock:
            activity = speech_activity(self._model.pipeline, file, audio.duration_s)
            if activity.speech_s < min_embedding_s(self._model.pipeline):
                raise NoSpeech("no speech was detected in the audio", details=_q(audio, activity))
            vector, used = embed_regions(self._model.embedding_model, file, activity.regions)
        if vector is None:
            raise NoSpeech("no usable speech was detected in the audio")
        warn: list[str] = []
        if activity.speech_s < MIN_ENROLL_SPEECH_S:
            warn.append(
                f"short_speech: only {activity.speech_s:.1f} s of speech; "
                f"{MIN_ENROLL_SPEECH_S:.0f} s or more gives reliable voiceprints"
            )
        if activity.overlap_s > 0.2 * max(activity.speech_s, 1e-6):
            warn.append("overlapping_speech: the reference seems to contain several voices")
        if audio.clipped_ratio > 0.001:
            warn.append("clipping: the recording is clipped")
        return EmbedResult(
            embedding=[float(x) for x in vector],
            speech_s=used,
            quality=_quality(audio, activity.speech_s, activity.overlap_s),
            model_id=self._model.model_id,
            model_version=self._model.model_version,
            warnings=warn,
        )

    def diarize(
        self,
        audio: DecodedAudio,
        candidates: Sequence[CandidateInput] = (),
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        num_speakers: int | None = None,
    ) -> DiarizeResult:
        """Who spoke when, and which clusters are which of ``candidates``."""
        self._check_rate(audio)
        _check_speaker_bounds(min_speakers, max_speakers, num_speakers)
        cands = self._normalise_candidates(candidates)
        started = time.perf_counter()
        file = audio_file(audio.samples, audio.sample_rate, uri="audio")
        captured: dict[str, Any] = {}

        def hook(step: str, artefact: Any, **_: Any) -> None:
            if step == "speaker_counting":
                captured["count"] = artefact

        warn: list[str] = []
        pipeline = self._model.pipeline
        with self._lock:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                output = pipeline(
                    file,
                    num_speakers=num_speakers,
                    min_speakers=min_speakers,
                    max_speakers=max_speakers,
                    hook=hook,
                )
            for w in caught:
                if "outside the given bounds" in str(w.message):
                    warn.append("speaker_bounds: the detected number of speakers is outside the "
                                "requested bounds (audio too short for that many speakers?)")
            annotation = output.speaker_diarization
            exclusive = output.exclusive_speaker_diarization
            activity = (
                activity_from_count(captured["count"], audio.duration_s)
                if "count" in captured
                else None
            )
            turns, label_map = _turns_by_first_appearance(annotation)
            if not turns and activity is not None and activity.regions:
                # pyannote can drop every cluster (min_cluster_size) on sparse speech
                turns = [Turn(s, e, "SPEAKER_00") for s, e in activity.regions]
                regions_by_label = {"SPEAKER_00": list(activity.regions)}
                warn.append(
                    "single_speaker_fallback: speech was detected but no speaker cluster "
                    "survived clustering; all speech is attributed to one speaker"
                )
            else:
                regions_by_label = _regions_by_label(exclusive, label_map)
                for label in {t.speaker for t in turns} - set(regions_by_label):
                    regions_by_label[label] = [(t.start, t.end) for t in turns if t.speaker == label]
            speakers = self._cluster_embeddings(file, regions_by_label, annotation, label_map)
        identified = self._identify(speakers, cands)
        return DiarizeResult(
            duration_s=audio.duration_s,
            turns=turns,
            speakers=speakers,
            identified=identified,
            model_id=self._model.model_id,
            model_version=self._model.model_version,
            processing_s=time.perf_counter() - started,
            warnings=warn,
        )

    def warm_up(self) -> float:
        """Pay first-call costs (kernel selection, cached model probes) before real traffic."""
        import torch

        started = time.perf_counter()
        pipeline = self._model.pipeline
        rng = np.random.default_rng(0)
        noise = (0.01 * rng.standard_normal(10 * self.sample_rate)).astype(np.float32)
        with self._lock, torch.inference_mode():
            _ = min_embedding_s(pipeline)
            pipeline.get_segmentations(audio_file(noise, self.sample_rate))
            model = self._model.embedding_model
            batch = max(1, int(getattr(pipeline, "embedding_batch_size", 1)))
            waveforms = torch.from_numpy(noise)[None, None].repeat(batch, 1, 1)
            model(waveforms)
            model(waveforms[:1])
        return time.perf_counter() - started

    def evict(self, speaker_ids: Sequence[str]) -> EvictResult:
        """Drop cached state for ``speaker_ids``; report which were held."""
        evicted, not_held = [], []
        with self._lock:
            for sid in speaker_ids:
                if self._candidates.pop(sid, None) is not None:
                    evicted.append(sid)
                else:
                    not_held.append(sid)
        return EvictResult(evicted=evicted, not_held=not_held)

    # -- internals ----------------------------------------------------------------------------
    def _check_rate(self, audio: DecodedAudio) -> None:
        if audio.sample_rate != self.sample_rate:
            raise ValidationFailed(
                f"audio must be {self.sample_rate} Hz, got {audio.sample_rate} Hz",
                code="audio_sample_rate",
            )
        if audio.duration_s <= 0:
            raise NoSpeech("the audio is empty")

    def _normalise_candidates(
        self, candidates: Sequence[CandidateInput]
    ) -> list[identification.Candidate]:
        out: list[identification.Candidate] = []
        seen: set[str] = set()
        for i, c in enumerate(candidates):
            vec = np.asarray(c.embedding, dtype=np.float64).reshape(-1)
            if vec.shape[0] != self.embedding_dim:
                raise ValidationFailed(
                    f"candidates[{i}] ({c.speaker_id}) has a {vec.shape[0]}-d embedding; this "
                    f"node's model ({self._model.model_version}) uses {self.embedding_dim}-d",
                    code="embedding_dimension_mismatch",
                )
            if not np.all(np.isfinite(vec)) or not np.any(vec):
                raise ValidationFailed(
                    f"candidates[{i}] ({c.speaker_id}) has an invalid embedding",
                    code="invalid_embedding",
                )
            if c.speaker_id in seen:
                raise ValidationFailed(
                    f"candidates[{i}]: speaker_id {c.speaker_id!r} appears twice",
                    code="duplicate_candidate",
                )
            seen.add(c.speaker_id)
            unit = identification.l2_normalise(vec)
            out.append(identification.Candidate(c.speaker_id, unit))
            with self._lock:
                self._candidates[c.speaker_id] = unit
                self._candidates.move_to_end(c.speaker_id)
                while len(self._candidates) > CANDIDATE_CACHE_SIZE:
                    self._candidates.popitem(last=False)
        return out

    def _cluster_embeddings(
        self,
        file: dict[str, Any],
        regions_by_label: dict[str, list[tuple[float, float]]],
        annotation: Any,
        label_map: dict[Any, str],
    ) -> list[SpeakerCluster]:
        """Per cluster: an embedding of its own (non-overlapped) speech, same space as embed."""
        labels = sorted(regions_by_label)
        speakers: list[SpeakerCluster] = []
        for label in labels:
            regions = regions_by_label[label]
            vector, _ = embed_regions(
                self._model.embedding_model, file, regions, cap_s=CLUSTER_SPEECH_CAP_S
            )
            speech_s = sum(e - s for s, e in regions)
            if vector is None:
                vector = np.zeros(self.embedding_dim)
            speakers.append(
                SpeakerCluster(label=label, speech_s=speech_s, embedding=[float(x) for x in vector])
            )
        return speakers

    def _identify(
        self, speakers: list[SpeakerCluster], candidates: list[identification.Candidate]
    ) -> dict[str, Identification]:
        if not speakers or not candidates:
            return {}
        matrix = np.asarray([s.embedding for s in speakers])
        matches = identification.assign(
            matrix, candidates, threshold=self.threshold, slope=self.slope
        )
        return {
            speakers[m.cluster].label: Identification(m.speaker_id, m.score, m.cosine)
            for m in matches
        }


def _check_speaker_bounds(
    min_speakers: int | None, max_speakers: int | None, num_speakers: int | None
) -> None:
    for name, value in (("min_speakers", min_speakers), ("max_speakers", max_speakers),
                        ("num_speakers", num_speakers)):
        if value is not None and not (1 <= value <= MAX_SPEAKERS):
            raise ValidationFailed(f"{name} must be between 1 and {MAX_SPEAKERS}")
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise ValidationFailed("min_speakers must not exceed max_speakers")


def _turns_by_first_appearance(annotation: Any) -> tuple[list[Turn], dict[Any, str]]:
    """Turns sorted by time, labels renamed SPEAKER_00, 01, … in order of first appearance."""
    tracks = sorted(
        ((seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True)),
        key=lambda t: (t[0], t[1]),
    )
    label_map: dict[Any, str] = {}
    turns: list[Turn] = []
    for start, end, label in tracks:
        if label not in label_map:
            label_map[label] = f"SPEAKER_{len(label_map):02d}"
        turns.append(Turn(float(start), float(end), label_map[label]))
    return turns, label_map


def _regions_by_label(
    exclusive: Any, label_map: dict[Any, str]
) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for seg, _, label in exclusive.itertracks(yield_label=True):
        if label in label_map:
            out.setdefault(label_map[label], []).append((float(seg.start), float(seg.end)))
    return out


def _rms_dbfs(samples: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))


def _quality(audio: DecodedAudio, speech_s: float, overlap_s: float) -> AudioQuality:
    return AudioQuality(
        duration_s=audio.duration_s,
        speech_s=speech_s,
        speech_ratio=speech_s / audio.duration_s if audio.duration_s else 0.0,
        rms_dbfs=_rms_dbfs(audio.samples),
        clipped_ratio=audio.clipped_ratio,
        overlap_s=overlap_s,
    )


def _q(audio: DecodedAudio, activity: Any) -> dict[str, Any]:
    return _quality(audio, activity.speech_s, activity.overlap_s).serialize()
