"""Merging speech-to-text with diarization into one transcript (pure).

Each ASR word goes to the diarization turn it overlaps most (a word that overlaps no turn goes to
the nearest turn within ``NEAREST_TURN_S``, else keeps its neighbour's speaker); ASR segments are
split where the speaker changes. The node's cluster labels are renamed ``SPEAKER_00…`` in order of
first appearance in the transcript; identified clusters also carry the enrolled speaker.
Gaps between speech of at least ``MIN_GAP_S`` become ``silence`` segments: the ASR found no words
there. (Noise and music are not told apart from silence here; no segment claims them.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIN_GAP_S = 1.0
NEAREST_TURN_S = 0.5


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

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {"duration": round(self.duration, 3), "language": self.language}
        if self.diarized:
            out["speakers"] = {"count": len(self.labels), "labels": list(self.labels)}
        out["segments"] = [s.serialize(diarized=self.diarized) for s in self.segments]
        out["warnings"] = list(self.warnings)
        return out

    def identified_speaker_ids(self) -> list[str]:
        return sorted({s.speaker_id for s in self.segments if s.speaker_id})


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def assign_speaker(start: float, end: float, turns: list[Turn]) -> str | None:
    """The turn overlapping [start, end] most; else the nearest turn within NEAREST_TURN_S."""
    best, best_overlap = None, 0.0
    for turn in turns:
        ov = _overlap(start, end, turn.start, turn.end)
        if ov > best_overlap:
            best, best_overlap = turn.speaker, ov
    if best is not None:
        return best
    mid = (start + end) / 2
    nearest, distance = None, NEAREST_TURN_S
    for turn in turns:
        d = turn.start - mid if mid < turn.start else mid - turn.end
        if d <= distance:
            nearest, distance = turn.speaker, d
    return nearest


def _words_of(segment: dict[str, Any]) -> list[Word]:
    words = [
        Word(float(w["start"]), float(w["end"]), str(w.get("word", "")))
        for w in segment.get("words") or []
    ]
    if words:
        return words
    # A segment without word timings is one "word" spanning the segment.
    return [Word(float(segment["start"]), float(segment["end"]), str(segment.get("text", "")))]


def _join(words: list[Word]) -> str:
    # Whisper words carry their own leading space ("Hello", " world").
    return "".join(w.text for w in words).strip()


def _speech_pieces(asr_segments: list[dict[str, Any]], turns: list[Turn] | None
                   ) -> list[tuple[float, float, str, str | None]]:
    """(start, end, text, node_label) per ASR segment, split at speaker changes when diarized."""
    pieces: list[tuple[float, float, str, str | None]] = []
    previous: str | None = None
    for seg in asr_segments:
        words = _words_of(seg)
        if turns is None:
            text = str(seg.get("text", "")).strip() or _join(words)
            pieces.append((float(seg["start"]), float(seg["end"]), text, None))
            continue
        labels = [assign_speaker(w.start, w.end, turns) for w in words]
        # A word no turn explains keeps the previous word's speaker (else the next one's).
        for i, label in enumerate(labels):
            if label is None:
                labels[i] = previous
            previous = labels[i]
        for i in range(len(labels) - 1, -1, -1):
            if labels[i] is None and i + 1 < len(labels):
                labels[i] = labels[i + 1]
        run: list[Word] = []
        run_label: str | None = None
        for word, label in zip(words, labels, strict=True):
            if run and label != run_label:
                pieces.append((run[0].start, run[-1].end, _join(run), run_label))
                run = []
            run.append(word)
            run_label = label
        if run:
            pieces.append((run[0].start, run[-1].end, _join(run), run_label))
    return [p for p in pieces if p[2]]


def merge(
    asr: dict[str, Any],
    diarization: dict[str, Any] | None,
    *,
    diarize: bool,
    names: dict[str, str | None] | None = None,
    warnings: list[str] | None = None,
    voice_match: dict[str, float] | None = None,
) -> Transcript:
    """The transcript of one job.

    ``asr``: the node's transcribe data; ``diarization``: its diarize data (None when not asked for
    or when it failed: then the transcript is the plain one, without speaker fields, and says why
    in ``warnings``). ``names``: display names of enrolled speakers by speaker_id.
    ``voice_match``: with match_me, the score of each node label against the caller's voice
    profile (``domain.voice_match.voice_match_scores``); every speech segment of a scored label
    carries it as ``voiceMatchScore`` (the profile's own segments high, everyone else's below 0.5).
    """
    names = names or {}
    notes = list(warnings or []) + [str(w) for w in asr.get("warnings") or []]
    diarized = diarize and diarization is not None
    turns = None
    identified: dict[str, Identity] = {}
    if diarized and diarization is not None:
        turns = sorted(
            (Turn(float(t["start"]), float(t["end"]), str(t["speaker"])) for t in diarization["turns"]),
            key=lambda t: (t.start, t.end),
        )
        notes += [str(w) for w in diarization.get("warnings") or []]
        for label, ident in (diarization.get("identified") or {}).items():
            sid = ident.get("speaker_id")
            if sid:
                identified[label] = Identity(sid, float(ident.get("score") or 0.0), names.get(sid))

    duration = float(asr.get("duration_s") or 0.0)
    if diarization is not None:
        duration = max(duration, float(diarization.get("duration_s") or 0.0))
    pieces = sorted(_speech_pieces(asr.get("segments") or [], turns), key=lambda p: p[0])

    relabel: dict[str, str] = {}
    for _, _, _, node_label in pieces:
        if node_label is not None and node_label not in relabel:
            relabel[node_label] = f"SPEAKER_{len(relabel):02d}"
    # Speakers the diarization heard but no word went to still count, after the others.
    for turn in turns or []:
        if turn.speaker not in relabel:
            relabel[turn.speaker] = f"SPEAKER_{len(relabel):02d}"

    segments: list[Segment] = []
    cursor = 0.0

    def add(seg: Segment) -> None:
        segments.append(seg)

    for start, end, text, node_label in pieces:
        if start - cursor >= MIN_GAP_S:
            add(Segment(len(segments), cursor, start, "silence", ""))
        seg = Segment(len(segments), start, end, "speech", text)
        if node_label is not None:
            seg.speaker = relabel[node_label]
            ident = identified.get(node_label)
            if ident is not None:
                seg.speaker_id, seg.speaker_name, seg.match_score = ident.speaker_id, ident.name, ident.score
            if voice_match and node_label in voice_match:
                seg.voice_match_score = min(max(float(voice_match[node_label]), 0.0), 1.0)
        add(seg)
        cursor = max(cursor, end)
    if duration - cursor >= MIN_GAP_S:
        add(Segment(len(segments), cursor, duration, "silence", ""))

    return Transcript(
        duration=duration,
        language=asr.get("language"),
        segments=segments,
        diarized=diarized,
        labels=list(relabel.values()) if diarized else [],
        warnings=list(dict.fromkeys(notes)),
    )
