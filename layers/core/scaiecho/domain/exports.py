"""Transcript exports (pure): RTTM, SubRip (SRT), WebVTT, JSON.

They all read the serialized transcript (the stored one, or what ``GET /transcribe/{job_id}``
returns: segment times there are strings such as ``"0.50"``; both are read), so an export can
never disagree with the JSON answer. Only ``speech`` segments become cues/lines. The JSON export
is the public form (:func:`scaiecho.domain.transcripts.public_transcript`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from scaiecho.domain.transcripts import public_transcript
from scaiecho.errors import Conflict, ValidationFailed

FORMATS = ("json", "rttm", "srt", "vtt")
MEDIA_TYPES = {
    "json": "application/json",
    "rttm": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}
_RTTM_TOKEN = re.compile(r"\s+")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be one of: {', '.join(FORMATS)}", code="invalid_format",
            details={"format": fmt, "accepted": list(FORMATS)},
        )
    return fmt


def _speech(transcript: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in transcript["segments"] if s["type"] == "speech"]


def _who(seg: dict[str, Any]) -> str | None:
    return seg.get("speaker_name") or seg.get("speaker")


def _clock(seconds: float | str, sep: str) -> str:
    ms = max(0, round(float(seconds) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(transcript: dict[str, Any]) -> str:
    cues = []
    for n, seg in enumerate(_speech(transcript), start=1):
        who = _who(seg)
        text = f"[{who}] {seg['text']}" if who else seg["text"]
        cues.append(f"{n}\n{_clock(seg['start_time'], ',')} --> {_clock(seg['end_time'], ',')}\n{text}\n")
    return "\n".join(cues)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(transcript: dict[str, Any]) -> str:
    lines = ["WEBVTT", ""]
    for seg in _speech(transcript):
        who = _who(seg)
        text = _vtt_escape(seg["text"])
        if who:
            text = f"<v {_vtt_escape(who)}>{text}"
        lines += [f"{_clock(seg['start_time'], '.')} --> {_clock(seg['end_time'], '.')}", text, ""]
    return "\n".join(lines)


def to_rttm(transcript: dict[str, Any], file_id: str) -> str:
    """One ``SPEAKER`` line per diarized turn (overlap included), as the diarization found them.

    Turns where speech-to-text heard no words are still turns: the RTTM is who spoke when, not
    who said which words. Transcripts stored before ``turns`` existed fall back to their
    labelled speech segments.
    """
    if "speakers" not in transcript:
        raise Conflict(
            "RTTM needs speaker turns, and this job has none (it ran without diarization, or "
            "diarization failed: see warnings)",
            code="diarization_not_available",
        )
    uri = _RTTM_TOKEN.sub("_", file_id)
    turns = transcript.get("turns")
    if turns is None:
        turns = [s for s in _speech(transcript) if s.get("speaker")]
    lines = []
    for turn in turns:
        start, end = float(turn["start_time"]), float(turn["end_time"])
        lines.append(
            f"SPEAKER {uri} 1 {start:.3f} {max(0.0, end - start):.3f} <NA> <NA> {turn['speaker']} <NA> <NA>"
        )
    return "\n".join(lines) + ("\n" if lines else "")


def render(transcript: dict[str, Any], fmt: str, *, file_id: str) -> str:
    if fmt == "rttm":
        return to_rttm(transcript, file_id)
    if fmt == "srt":
        return to_srt(transcript)
    if fmt == "vtt":
        return to_vtt(transcript)
    return json.dumps(public_transcript(transcript), ensure_ascii=False)
