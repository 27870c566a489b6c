"""Transcript exports: RTTM, SRT, WebVTT, JSON (pure)."""

from __future__ import annotations

import json

import pytest

from scaiecho.domain.exports import check_format, render
from scaiecho.errors import Conflict, ValidationFailed

DIARIZED = {
    "duration": 8.0, "language": "en",
    "speakers": {"count": 2, "labels": ["SPEAKER_00", "SPEAKER_01"]},
    "segments": [
        {"id": 0, "start_time": 0.5, "end_time": 2.25, "type": "speech", "text": "Hi <all> & you",
         "speaker": "SPEAKER_00", "speaker_id": "spk_a", "speaker_name": "Ann", "match_score": 0.9},
        {"id": 1, "start_time": 2.25, "end_time": 4.0, "type": "silence", "text": "", "speaker": None},
        {"id": 2, "start_time": 4.0, "end_time": 3725.5, "type": "speech", "text": "Hello",
         "speaker": "SPEAKER_01"},
    ],
    "warnings": [],
}
PLAIN = {"duration": 3.0, "language": "en", "warnings": [],
         "segments": [{"id": 0, "start_time": 0.0, "end_time": 1.0, "type": "speech", "text": "Hi"}]}


def test_rttm_of_a_transcript_without_turns_uses_its_speech_segments() -> None:
    assert render(DIARIZED, "rttm", file_id="job 1") == (
        "SPEAKER job_1 1 0.500 1.750 <NA> <NA> SPEAKER_00 <NA> <NA>\n"
        "SPEAKER job_1 1 4.000 3721.500 <NA> <NA> SPEAKER_01 <NA> <NA>\n"
    )


def test_rttm_is_the_diarized_turns_overlap_included() -> None:
    doc = dict(DIARIZED, turns=[
        {"start_time": 0.5, "end_time": 2.25, "speaker": "SPEAKER_00"},
        {"start_time": 2.0, "end_time": 3.0, "speaker": "SPEAKER_01"},  # overlap, no words
        {"start_time": 4.0, "end_time": 3725.5, "speaker": "SPEAKER_01"}])
    assert render(doc, "rttm", file_id="j").splitlines() == [
        "SPEAKER j 1 0.500 1.750 <NA> <NA> SPEAKER_00 <NA> <NA>",
        "SPEAKER j 1 2.000 1.000 <NA> <NA> SPEAKER_01 <NA> <NA>",
        "SPEAKER j 1 4.000 3721.500 <NA> <NA> SPEAKER_01 <NA> <NA>",
    ]


def test_rttm_without_diarization_is_a_409() -> None:
    with pytest.raises(Conflict) as err:
        render(PLAIN, "rttm", file_id="j")
    assert err.value.code == "diarization_not_available" and err.value.status == 409


def test_srt_cues_numbered_with_speaker() -> None:
    assert render(DIARIZED, "srt", file_id="j") == (
        "1\n00:00:00,500 --> 00:00:02,250\n[Ann] Hi <all> & you\n\n"
        "2\n00:00:04,000 --> 01:02:05,500\n[SPEAKER_01] Hello\n"
    )
    assert render(PLAIN, "srt", file_id="j") == "1\n00:00:00,000 --> 00:00:01,000\nHi\n"


def test_vtt_has_header_voice_tags_and_escapes() -> None:
    assert render(DIARIZED, "vtt", file_id="j") == (
        "WEBVTT\n\n00:00:00.500 --> 00:00:02.250\n<v Ann>Hi &lt;all&gt; &amp; you\n\n"
        "00:00:04.000 --> 01:02:05.500\n<v SPEAKER_01>Hello\n"
    )


def test_json_round_trips() -> None:
    from scaiecho.domain.transcripts import public_transcript

    assert json.loads(render(DIARIZED, "json", file_id="j")) == public_transcript(DIARIZED)


def test_unknown_format() -> None:
    with pytest.raises(ValidationFailed) as err:
        check_format("docx")
    assert err.value.code == "invalid_format"


# ------------------------------------------------------------------ public form (segment times)
def test_public_transcript_writes_segment_times_as_two_decimal_strings() -> None:
    from scaiecho.domain.transcripts import public_transcript, time_text

    # As the job document: "start_time": "0.50"; duration stays a number, turns keep milliseconds.
    doc = dict(DIARIZED, turns=[{"start_time": 0.5, "end_time": 2.254, "speaker": "SPEAKER_00"}])
    public = public_transcript(doc)
    assert [(s["start_time"], s["end_time"]) for s in public["segments"]] == [
        ("0.50", "2.25"), ("2.25", "4.00"), ("4.00", "3725.50")]
    assert public["duration"] == 8.0 and public["turns"] == doc["turns"]
    assert DIARIZED["segments"][0]["start_time"] == 0.5  # the stored form is not changed
    assert public_transcript(public) == public  # idempotent
    assert [time_text(x) for x in (0, 0.005, 14.085, 2.1, 608.814)] == [
        "0.00", "0.01", "14.09", "2.10", "608.81"]


def test_exports_read_the_public_form_as_well() -> None:
    from scaiecho.domain.transcripts import public_transcript

    public = public_transcript(DIARIZED)
    for fmt in ("srt", "vtt", "rttm"):
        assert render(public, fmt, file_id="j") == render(DIARIZED, fmt, file_id="j"), fmt
    as_json = json.loads(render(DIARIZED, "json", file_id="j"))
    assert as_json["segments"][0]["start_time"] == "0.50"
