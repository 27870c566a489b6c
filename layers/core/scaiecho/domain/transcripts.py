"""Merging speech-to-text with diarization into one transcript (pure).

With diarization, the diarization is the source of truth for who spoke when:

- every diarized turn (overlap included) is a speech segment with its speaker, whether or not
  speech-to-text found words in it (quiet far-field voices often have none: ``"text": ""``);
  the turns are also kept as ``turns``, which the RTTM export writes as they are;
- each ASR word goes to one speaker — the one whose *exclusive* (non-overlapping) turn it
  overlaps most, else the nearest within ``NEAREST_TURN_S`` — and then into that speaker's turn
  it overlaps most (or the nearest); a long turn is split where the ASR starts a new segment,
  so cues stay readable; a word no turn explains becomes a speech segment with no speaker;
- the node's cluster labels are renamed ``SPEAKER_00…`` in order of first appearance;
  identified clusters also carry the enrolled speaker.

Text is the words joined as Whisper spells them: each word carries its own leading space
(``" world"``, ``" you?"``), so words are concatenated and whitespace normalised.
Gaps between speech of at least ``MIN_GAP_S`` become ``silence`` segments. (Noise and music are
not told apart from silence here; no segment claims them.)

Times are numbers (seconds, 3 decimals) in the stored transcript and everywhere inside the
platform. Only what a client reads (``GET /transcribe/{job_id}``, ``?format=json``) writes a
segment's ``start_time``/``end_time`` as a string with two decimals (``"0.50"``), as the
transcription-job API document does: :func:`public_transcript` is that one edge.
``duration`` and the platform's own ``turns`` stay numbers (the document shows ``duration`` as one;
``turns`` keep milliseconds for the RTTM export).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MIN_GAP_S = 1.0
NEAREST_TURN_S = 0.5
_SPACES = re.compile(r"\s+")
_CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Identity:
    speaker_id: str
    score: float
    name: str | None = None
    external_id: str | None = None


@dataclass
class Segment:
    id: int
    start_time: float
    end_time: float
    type: str  # speech | silence
    text: str
    speaker: str | None = None
    speaker_id: str | None = None
    speaker_name: str | None = None
    external_id: str | None = None  # the identified speaker's client-chosen id, when it has one
    match_score: float | None = None
    voice_match_score: float | None = None  # match_me: this speaker vs the caller's voice profile

    def serialize(self, *, diarized: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "start_time": round(self.start_time, 3),
            "end_time": round(self.end_time, 3),
            "type": self.type,
            "text": self.text,
        }
        if diarized:
            out["speaker"] = self.speaker
            if self.speaker_id is not None:
                out["speaker_id"] = self.speaker_id
                out["speaker_name"] = self.speaker_name
                if self.external_id is not None:
                    out["external_id"] = self.external_id
                out["match_score"] = round(self.match_score or 0.0, 3)
            if self.voice_match_score is not None:
                out["voiceMatchScore"] = round(self.voice_match_score, 3)
        return out


@dataclass
class Transcript:
    duration: float
    language: str | None
    segments: list[Segment]
    diarized: bool
    labels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)  # the diarization's turns, relabelled

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"duration": round(self.duration, 3), "language": self.language}
        if self.diarized:
            out["speakers"] = {"count": len(self.labels), "labels": list(self.labels)}
            out["turns"] = [
                {"start_time": round(t.start, 3), "end_time": round(t.end, 3), "speaker": t.speaker}
                for t in self.turns
            ]
        out["segments"] = [s.serialize(diarized=self.diarized) for s in self.segments]
        out["warnings"] = list(self.warnings)
        return out

    def identified_speaker_ids(self) -> list[str]:
        return sorted({s.speaker_id for s in self.segments if s.speaker_id})


def time_text(seconds: float) -> str:
    """A segment time as the job document writes it: seconds with two decimals, as a string.

    Rounded half up from the decimal value (14.085 → "14.09"), not from its binary float.
    """
    return str(Decimal(repr(float(seconds))).quantize(_CENTS, rounding=ROUND_HALF_UP))


def public_transcript(stored: dict[str, Any]) -> dict[str, Any]:
    """The transcript a client reads: segment times as two-decimal strings (``"0.50"``).

    Accepts stored transcripts of any age (numbers) and is idempotent (strings stay as they are).
    """
    out = dict(stored)
    if isinstance(stored.get("segments"), list):
        out["segments"] = [
            {**seg, **{k: time_text(seg[k]) for k in ("start_time", "end_time") if k in seg}}
            if isinstance(seg, dict) else seg
            for seg in stored["segments"]
        ]
    return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def assign_speaker(start: float, end: float, turns: list[Turn]) -> str | None:
    """The turn overlapping [start, end] most; else the nearest turn within NEAREST_TURN_S."""
    turn = _best_turn(Word(start, end, ""), turns, NEAREST_TURN_S)
    return turn.speaker if turn is not None else None


def _words_of(segment: dict[str, Any]) -> list[Word]:
    words = [
        Word(float(w["start"]), float(w["end"]), str(w.get("word", "")))
        for w in segment.get("words") or []
    ]
    if words:
        return words
    # A segment without word timings is one "word" spanning the segment.
    return [Word(float(segment["start"]), float(segment["end"]), " " + str(segment.get("text", "")))]


def join_words(words: list[Word]) -> str:
    """Whisper words carry their own leading space (" Hello", " world."): concatenate."""
    return _SPACES.sub(" ", "".join(w.text for w in words)).strip()


def _plain_pieces(asr_segments: list[dict[str, Any]]) -> list[_Piece]:
    out = []
    for seg in asr_segments:
        text = _SPACES.sub(" ", str(seg.get("text", ""))).strip() or join_words(_words_of(seg))
        if text:
            out.append(_Piece(float(seg["start"]), float(seg["end"]), text, None))
    return out


@dataclass
class _Piece:
    start: float
    end: float
    text: str
    label: str | None  # the node's cluster label


def _best_turn(word: Word, turns: list[Turn], limit: float) -> Turn | None:
    """The turn overlapping ``word`` most, else the nearest one within ``limit`` seconds."""
    best, best_overlap = None, 0.0
    for turn in turns:
        ov = _overlap(word.start, word.end, turn.start, turn.end)
        if ov > best_overlap:
            best, best_overlap = turn, ov
    if best is not None:
        return best
    mid = (word.start + word.end) / 2
    nearest, distance = None, limit
    for turn in turns:
        d = turn.start - mid if mid < turn.start else mid - turn.end
        if d <= distance:
            nearest, distance = turn, d
    return nearest


def _diarized_pieces(asr_segments: list[dict[str, Any]], turns: list[Turn],
                     exclusive: list[Turn]) -> list[_Piece]:
    """One piece per diarized turn (split at ASR segment starts), words placed in them."""
    by_speaker: dict[str, list[Turn]] = {}
    for turn in turns:
        by_speaker.setdefault(turn.speaker, []).append(turn)
    placed: dict[int, list[tuple[int, Word]]] = {id(t): [] for t in turns}
    orphans: list[tuple[int, Word]] = []
    for n, seg in enumerate(asr_segments):
        words = [w for w in _words_of(seg) if w.text.strip()]
        speakers = [assign_speaker(w.start, w.end, exclusive) for w in words]
        # a word no turn explains takes its neighbour's speaker within the ASR segment
        for i in range(1, len(speakers)):
            speakers[i] = speakers[i] or speakers[i - 1]
        for i in range(len(speakers) - 2, -1, -1):
            speakers[i] = speakers[i] or speakers[i + 1]
        for word, speaker in zip(words, speakers, strict=True):
            home = _best_turn(word, by_speaker.get(speaker, []), float("inf")) if speaker else None
            if home is None:
                orphans.append((n, word))
            else:
                placed[id(home)].append((n, word))
    pieces: list[_Piece] = []
    for turn in turns:
        held = placed[id(turn)]
        if not held:
            pieces.append(_Piece(turn.start, turn.end, "", turn.speaker))
            continue
        # split where the ASR started a new segment: cut at that segment's first word
        runs: list[list[tuple[int, Word]]] = [[held[0]]]
        for item in held[1:]:
            if item[0] != runs[-1][-1][0]:
                runs.append([])
            runs[-1].append(item)
        for k, run in enumerate(runs):
            start = turn.start if k == 0 else min(turn.end, run[0][1].start)
            end = turn.end if k == len(runs) - 1 else min(turn.end, runs[k + 1][0][1].start)
            start = min(start, run[0][1].start)
            end = max(end, run[-1][1].end)
            pieces.append(_Piece(start, end, join_words([w for _, w in run]), turn.speaker))
    groups: dict[int, list[Word]] = {}
    for n, word in orphans:
        groups.setdefault(n, []).append(word)
    for words in groups.values():
        pieces.append(_Piece(words[0].start, words[-1].end, join_words(words), None))
    return pieces


def _turns_of(doc: dict[str, Any], key: str) -> list[Turn]:
    return sorted(
        (Turn(float(t["start"]), float(t["end"]), str(t["speaker"])) for t in doc.get(key) or []),
        key=lambda t: (t.start, t.end),
    )


def merge(
    asr: dict[str, Any],
    diarization: dict[str, Any] | None,
    *,
    diarize: bool,
    names: dict[str, str | None] | None = None,
    warnings: list[str] | None = None,
    voice_match: dict[str, float] | None = None,
    external_ids: dict[str, str | None] | None = None,
) -> Transcript:
    """The transcript of one job.

    ``asr``: the node's transcribe data; ``diarization``: its diarize data (None when not asked for
    or when it failed: then the transcript is the plain one, without speaker fields, and says why
    in ``warnings``). ``names``: display names of enrolled speakers by speaker_id;
    ``external_ids``: their client-chosen ids, by speaker_id.
    ``voice_match``: with match_me, the score of each node label against the caller's voice
    profile (``domain.voice_match.voice_match_scores``); every speech segment of a scored label
    carries it as ``voiceMatchScore`` (the profile's own segments high, everyone else's below 0.5).
    """
    names = names or {}
    external_ids = external_ids or {}
    notes = list(warnings or []) + [str(w) for w in asr.get("warnings") or []]
    diarized = diarize and diarization is not None
    turns: list[Turn] = []
    identified: dict[str, Identity] = {}
    asr_segments = asr.get("segments") or []
    if diarized and diarization is not None:
        turns = _turns_of(diarization, "turns")
        exclusive = _turns_of(diarization, "exclusive_turns") or turns
        notes += [str(w) for w in diarization.get("warnings") or []]
        for label, ident in (diarization.get("identified") or {}).items():
            sid = ident.get("speaker_id")
            if sid:
                identified[label] = Identity(sid, float(ident.get("score") or 0.0), names.get(sid),
                                             external_ids.get(sid))
        pieces = _diarized_pieces(asr_segments, turns, exclusive)
    else:
        pieces = _plain_pieces(asr_segments)
    pieces.sort(key=lambda p: (p.start, p.end))

    duration = float(asr.get("duration_s") or 0.0)
    if diarization is not None:
        duration = max(duration, float(diarization.get("duration_s") or 0.0))

    relabel: dict[str, str] = {}
    for turn in turns:  # by first appearance (turns are sorted by start)
        if turn.speaker not in relabel:
            relabel[turn.speaker] = f"SPEAKER_{len(relabel):02d}"

    segments: list[Segment] = []
    cursor = 0.0
    for piece in pieces:
        if piece.start - cursor >= MIN_GAP_S:
            segments.append(Segment(len(segments), cursor, piece.start, "silence", ""))
        seg = Segment(len(segments), piece.start, piece.end, "speech", piece.text)
        if piece.label is not None:
            seg.speaker = relabel[piece.label]
            ident = identified.get(piece.label)
            if ident is not None:
                seg.speaker_id, seg.speaker_name, seg.match_score = ident.speaker_id, ident.name, ident.score
                seg.external_id = ident.external_id
            if voice_match and piece.label in voice_match:
                seg.voice_match_score = min(max(float(voice_match[piece.label]), 0.0), 1.0)
        segments.append(seg)
        cursor = max(cursor, piece.end)
    if duration - cursor >= MIN_GAP_S:
        segments.append(Segment(len(segments), cursor, duration, "silence", ""))

    return Transcript(
        duration=duration,
        language=asr.get("language"),
        segments=segments,
        diarized=diarized,
        labels=list(relabel.values()) if diarized else [],
        warnings=list(dict.fromkeys(notes)),
        turns=[Turn(t.start, t.end, relabel[t.speaker]) for t in turns],
    )
