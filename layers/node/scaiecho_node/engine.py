"""The node engine: one object, loaded once, answering embed / diarize / transcribe / health / evict.

Used by the local node process (``serve``) and the SageMaker handler (``sagemaker_entry``)
through the same dispatcher (``invocation``). Nodes are stateless: the warm registry in
DynamoDB is the source of truth for enrolled voiceprints, which arrive with each diarize request
as ``candidates`` and are not kept after it. Long audio is windowed (``windowing``).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaiecho.audio.decode import DecodedAudio
from scaiecho.errors import AudioError, ValidationFailed
from scaiecho_node import identification
from scaiecho_node.asr import Transcriber, TranscribeResult, resolve_asr_model
from scaiecho_node.gain import normalise_gain
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
)
from scaiecho_node.scheduling import PriorityGate
from scaiecho_node.settings import NodeSettings
from scaiecho_node.windowing import WindowCluster, assemble, link, merge_closest, plan_windows

MAX_SPEAKERS = 20
MIN_ENROLL_SPEECH_S = 3.0  # below this an enrollment embedding is flagged as unreliable
# Longer audio is diarized in windows of this length and the windows' clusters linked. pyannote's
# reconstruction holds chunks x frames x clusters, so a window's memory grows with its length
# times its speaker count: at 20 min an hour-long many-speaker recording peaked at 2035 MB, over
# the node's 2 GB budget (make bench --rss-60min; a 10 min window alone peaks at 1167 MB).
WINDOW_S = 10 * 60.0


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
        threshold: float | None = None,
        slope: float | None = None,
        window_s: float = WINDOW_S,
    ) -> None:
        self.settings = settings
        self.threshold = _first(threshold, settings.id_threshold, identification.COSINE_THRESHOLD)
        self.slope = _first(slope, settings.id_slope, identification.SCORE_SLOPE)
        self.window_s = window_s
        self._model: LoadedModel = load_model(
            settings.model_dir, device=settings.device, num_threads=settings.num_threads
        )
        # torch inference is serialised per node, live streams first (scheduling.py)
        self._lock = PriorityGate()
        self._asr: Transcriber | None = None
        self._asr_lock = threading.Lock()

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

    def transcribe(
        self, audio: DecodedAudio, language: str | None = None, *, word_timestamps: bool = True,
        short_window: bool | None = None,
    ) -> TranscribeResult:
        """Speech-to-text, with word timestamps unless asked not to (faster-whisper; loaded on
        first use); ``short_window`` as :meth:`scaiecho_node.asr.Transcriber.transcribe`."""
        self._check_rate(audio)
        with self._asr_lock:
            if self._asr is None:
                path = resolve_asr_model(self.settings.asr_model, self.settings.model_dir)
                self._asr = Transcriber(path, num_threads=self.settings.num_threads)
        return self._asr.transcribe(audio, language, word_timestamps=word_timestamps,
                                    short_window=short_window)

    def diarize(
        self,
        audio: DecodedAudio,
        candidates: Sequence[CandidateInput] = (),
        *,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        num_speakers: int | None = None,
    ) -> DiarizeResult:
        """Who spoke when, and which clusters are which of ``candidates``.

        Audio longer than ``window_s`` is diarized window by window (bounded memory: pyannote's
        clustering is quadratic in the number of chunk embeddings) and the windows' clusters
        are linked into global speakers by their embeddings.
        """
        self._check_rate(audio)
        _check_speaker_bounds(min_speakers, max_speakers, num_speakers)
        cands = self._normalise_candidates(candidates)
        started = time.perf_counter()
        samples = normalise_gain(audio.samples, self._model.gain_normalisation)
        file = audio_file(samples, audio.sample_rate, uri="audio")
        windows = plan_windows(len(samples), int(self.window_s * audio.sample_rate))
        windowed = len(windows) > 1
        # A window may hold fewer speakers than the whole recording, so only the upper bound
        # applies per window; both are enforced again on the linked speakers below.
        bounds = (
            {"min_speakers": min_speakers, "max_speakers": max_speakers, "num_speakers": num_speakers}
            if not windowed
            else {"max_speakers": num_speakers or max_speakers}
        )
        warn: list[str] = []
        pieces: list[WindowCluster] = []
        with self._lock:
            for i, (begin, end) in enumerate(windows):
                window_file = (
                    file
                    if not windowed
                    else audio_file(samples[begin:end], audio.sample_rate, uri=f"w{i}")
                )
                pieces += self._diarize_window(
                    window_file, i, begin / audio.sample_rate, (end - begin) / audio.sample_rate,
                    bounds, warn,
                )
        speakers_raw = (
            link(pieces, self.threshold, self.embedding_dim) if windowed else [[p] for p in pieces]
        )
        upper = num_speakers or max_speakers
        if upper is not None and len(speakers_raw) > upper:
            speakers_raw = merge_closest(speakers_raw, upper, self.embedding_dim)
        lower = num_speakers or min_speakers
        if lower is not None and len(speakers_raw) < lower:
            warn.append(
                f"speaker_bounds: only {len(speakers_raw)} distinct voice(s) were found, fewer "
                f"than the {lower} requested (too little speech from the others, or their "
                "voices are too alike to tell apart)"
            )
        turns, speakers, exclusive = assemble(speakers_raw, self.embedding_dim)
        identified = self._identify(speakers, cands)
        return DiarizeResult(
            duration_s=audio.duration_s,
            turns=turns,
            speakers=speakers,
            identified=identified,
            model_id=self._model.model_id,
            model_version=self._model.model_version,
            processing_s=time.perf_counter() - started,
            warnings=sorted(set(warn), key=warn.index),
            exclusive_turns=exclusive,
        )

    def _diarize_window(
        self,
        file: dict[str, Any],
        window: int,
        offset: float,
        duration_s: float,
        bounds: dict[str, int | None],
        warn: list[str],
    ) -> list[WindowCluster]:
        """Run the pipeline on one window; its clusters with turns and embeddings."""
        captured: dict[str, Any] = {}

        def hook(step: str, artefact: Any, **_: Any) -> None:
            if step == "speaker_counting":
                captured["count"] = artefact
            # between segmentation and embedding batches: a waiting stream utterance goes first
            self._lock.checkpoint()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            output = self._model.pipeline(file, hook=hook, **bounds)
        for w in caught:
            if "outside the given bounds" in str(w.message) and window == 0 and offset == 0.0:
                # the pipeline could not make as many clusters as asked (too few embeddings)
                warn.append(
                    "speaker_bounds: the detected number of speakers is outside the requested "
                    "bounds (audio too short for that many speakers?)"
                )
        annotation = output.speaker_diarization
        # pyannote's frames can run a few ms past the last sample: turns end with the audio
        tracks: dict[Any, list[tuple[float, float]]] = {}
        for seg, _, label in annotation.itertracks(yield_label=True):
            if float(seg.start) < duration_s:
                tracks.setdefault(label, []).append((float(seg.start), min(float(seg.end), duration_s)))
        exclusive: dict[Any, list[tuple[float, float]]] = {}
        for seg, _, label in output.exclusive_speaker_diarization.itertracks(yield_label=True):
            if float(seg.start) < duration_s:
                exclusive.setdefault(label, []).append((float(seg.start), min(float(seg.end), duration_s)))
        if not tracks and "count" in captured:
            activity = activity_from_count(captured["count"], duration_s)
            if activity.regions:
                # pyannote can drop every cluster (min_cluster_size) on sparse speech
                tracks = {"fallback": list(activity.regions)}
                exclusive = dict(tracks)
                warn.append(
                    "single_speaker_fallback: speech was detected but no speaker cluster "
                    "survived clustering; all speech is attributed to one speaker"
                )
        out = []
        for label, segs in tracks.items():
            regions = exclusive.get(label) or segs
            vector, _ = embed_regions(
                self._model.embedding_model, file, regions, cap_s=CLUSTER_SPEECH_CAP_S
            )
            out.append(
                WindowCluster(
                    window=window,
                    turns=[(s + offset, e + offset) for s, e in segs],
                    speech_s=sum(e - s for s, e in segs),
                    embedding=vector,
                    exclusive=[(s + offset, e + offset) for s, e in exclusive.get(label, [])],
                )
            )
        return out

    def warm_up(self) -> float:
        """Pay first-call costs (kernel selection, cached model probes) before real traffic."""
        import torch

        started = time.perf_counter()
        pipeline = self._model.pipeline
        rng = np.random.default_rng(0)
        noise = (0.01 * rng.standard_normal(10 * self.sample_rate)).astype(np.float32)
        with self._lock, torch.inference_mode(), warnings.catch_warnings():
            # pyannote probes the shortest input with tiny tensors: std() of one frame warns
            warnings.simplefilter("ignore", UserWarning)
            _ = min_embedding_s(pipeline)
            pipeline.get_segmentations(audio_file(noise, self.sample_rate))
            model = self._model.embedding_model
            batch = max(1, int(getattr(pipeline, "embedding_batch_size", 1)))
            waveforms = torch.from_numpy(noise)[None, None].repeat(batch, 1, 1)
            model(waveforms)
            model(waveforms[:1])
        return time.perf_counter() - started

    def evict(self, speaker_ids: Sequence[str]) -> EvictResult:
        """This engine keeps no per-speaker state (voiceprints arrive with each request and are
        dropped with it), so nothing is ever held; the action stays in the contract so that an
        erasure can get every node's confirmation."""
        return EvictResult(evicted=[], not_held=list(dict.fromkeys(speaker_ids)))

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
        return out

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


def _first(*values: float | None) -> float:
    return next(float(v) for v in values if v is not None)


def _check_speaker_bounds(
    min_speakers: int | None, max_speakers: int | None, num_speakers: int | None
) -> None:
    for name, value in (("min_speakers", min_speakers), ("max_speakers", max_speakers),
                        ("num_speakers", num_speakers)):
        if value is not None and not (1 <= value <= MAX_SPEAKERS):
            raise ValidationFailed(f"{name} must be between 1 and {MAX_SPEAKERS}")
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise ValidationFailed("min_speakers must not exceed max_speakers")


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
