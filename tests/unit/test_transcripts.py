"""Merging ASR words with diarization turns, relabelling, silence gaps, degradation (pure)."""

from __future__ import annotations

from typing import Any

from scaiecho.domain.transcripts import Turn, assign_speaker, merge


def w(start: float, end: float, text: str) -> dict[str, Any]:
    return {"start": start, "end": end, "word": text, "probability": 0.9}


ASR = {
    "duration_s": 12.0,
    "language": "en",
    "model": "tiny.en",
    "segments": [
        {"start": 0.5, "end": 3.0, "text": " Hello there. How are you?",
         "words": [w(0.5, 0.9, " Hello"), w(0.9, 1.3, " there."), w(1.8, 2.2, " How"),
                   w(2.2, 2.5, " are"), w(2.5, 3.0, " you?")]},
        {"start": 5.0, "end": 7.0, "text": " Fine thanks.",
         "words": [w(5.0, 5.6, " Fine"), w(5.6, 7.0, " thanks.")]},
    ],
    "warnings": [],
}
# The node's own labels: SPEAKER_03 speaks first, then SPEAKER_01; SPEAKER_07 never gets a word.
DIAR = {
    "duration_s": 12.0,
    "num_speakers": 3,
    "turns": [
        {"start": 0.4, "end": 1.5, "speaker": "SPEAKER_03"},
        {"start": 1.6, "end": 3.1, "speaker": "SPEAKER_01"},
        {"start": 4.9, "end": 7.2, "speaker": "SPEAKER_03"},
        {"start": 9.0, "end": 9.5, "speaker": "SPEAKER_07"},
    ],
    "speakers": [],
    "identified": {"SPEAKER_01": {"speaker_id": "spk_b", "score": 0.91, "cosine": 0.7}},
    "warnings": [],
}


def test_every_turn_is_a_speech_segment_and_labels_follow_first_appearance() -> None:
    t = merge(ASR, DIAR, diarize=True, names={"spk_b": "Bob"}).serialize()
    speech = [s for s in t["segments"] if s["type"] == "speech"]
    assert [(s["text"], s["speaker"]) for s in speech] == [
        ("Hello there.", "SPEAKER_00"), ("How are you?", "SPEAKER_01"), ("Fine thanks.", "SPEAKER_00"),
        ("", "SPEAKER_02"),  # SPEAKER_07 spoke, and no word was recognised there
    ]
    assert t["speakers"] == {"count": 3, "labels": ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]}
    bob = speech[1]
    assert (bob["speaker_id"], bob["speaker_name"], bob["match_score"]) == ("spk_b", "Bob", 0.91)
    assert "speaker_id" not in speech[0] and "speaker_name" not in speech[0]
    # a segment spans its diarized turn, not just its words
    assert (speech[1]["start_time"], speech[1]["end_time"]) == (1.6, 3.1)
    assert t["turns"] == [
        {"start_time": 0.4, "end_time": 1.5, "speaker": "SPEAKER_00"},
        {"start_time": 1.6, "end_time": 3.1, "speaker": "SPEAKER_01"},
        {"start_time": 4.9, "end_time": 7.2, "speaker": "SPEAKER_00"},
        {"start_time": 9.0, "end_time": 9.5, "speaker": "SPEAKER_02"},
    ]


def test_gaps_are_silence_with_null_speaker_and_ids_are_sequential() -> None:
    t = merge(ASR, DIAR, diarize=True).serialize()
    kinds = [(s["type"], s["start_time"], s["end_time"]) for s in t["segments"]]
    assert kinds == [("speech", 0.4, 1.5), ("speech", 1.6, 3.1), ("silence", 3.1, 4.9),
                     ("speech", 4.9, 7.2), ("silence", 7.2, 9.0), ("speech", 9.0, 9.5),
                     ("silence", 9.5, 12.0)]
    assert [s["id"] for s in t["segments"]] == list(range(7))
    assert all(s["speaker"] is None for s in t["segments"] if s["type"] == "silence")


def test_diarized_turns_without_any_words_still_make_the_transcript() -> None:
    asr = {"duration_s": 6.0, "language": "en", "segments": [], "warnings": ["no_speech"]}
    diar = {"duration_s": 6.0, "turns": [{"start": 0.5, "end": 2.0, "speaker": "A"},
                                         {"start": 1.5, "end": 4.0, "speaker": "B"}]}
    t = merge(asr, diar, diarize=True).serialize()
    assert [(s["start_time"], s["end_time"], s["speaker"], s["text"])
            for s in t["segments"] if s["type"] == "speech"] == [
        (0.5, 2.0, "SPEAKER_00", ""), (1.5, 4.0, "SPEAKER_01", "")]


def test_words_follow_the_exclusive_turns_in_overlap() -> None:
    asr = {"duration_s": 4.0, "language": "en", "segments": [
        {"start": 0.0, "end": 3.0, "text": " one two three",
         "words": [w(0.1, 0.5, " one"), w(1.1, 1.4, " two"), w(2.2, 2.6, " three")]}]}
    # B's turn covers A's second word, but in the exclusive view A holds the floor until 1.8
    diar = {"duration_s": 4.0,
            "turns": [{"start": 0.0, "end": 1.8, "speaker": "A"}, {"start": 1.0, "end": 3.0, "speaker": "B"}],
            "exclusive_turns": [{"start": 0.0, "end": 1.8, "speaker": "A"},
                                {"start": 1.8, "end": 3.0, "speaker": "B"}]}
    t = merge(asr, diar, diarize=True).serialize()
    assert [(s["text"], s["speaker"]) for s in t["segments"] if s["type"] == "speech"] == [
        ("one two", "SPEAKER_00"), ("three", "SPEAKER_01")]


def test_text_is_joined_as_whisper_spells_it() -> None:
    asr = {"duration_s": 3.0, "language": "en", "segments": [
        {"start": 0.0, "end": 2.0, "text": " Well-known, isn't it?",
         "words": [w(0.0, 0.4, " Well"), w(0.4, 0.7, "-known,"), w(0.8, 1.2, " isn't"),
                   w(1.2, 1.6, "  it?")]}]}
    diar = {"duration_s": 3.0, "turns": [{"start": 0.0, "end": 2.0, "speaker": "A"}]}
    t = merge(asr, diar, diarize=True).serialize()
    assert t["segments"][0]["text"] == "Well-known, isn't it?"


def test_a_long_turn_is_split_where_the_asr_starts_a_segment() -> None:
    asr = {"duration_s": 20.0, "language": "en", "segments": [
        {"start": 0.0, "end": 8.0, "text": " First.", "words": [w(0.2, 7.5, " First.")]},
        {"start": 8.0, "end": 19.0, "text": " Second.", "words": [w(8.3, 18.0, " Second.")]}]}
    diar = {"duration_s": 20.0, "turns": [{"start": 0.1, "end": 19.5, "speaker": "A"}]}
    t = merge(asr, diar, diarize=True).serialize()
    assert [(s["start_time"], s["end_time"], s["text"]) for s in t["segments"] if s["type"] == "speech"] == [
        (0.1, 8.3, "First."), (8.3, 19.5, "Second.")]
    assert len(t["turns"]) == 1


def test_without_diarize_no_speaker_fields_at_all() -> None:
    t = merge(ASR, None, diarize=False).serialize()
    assert "speakers" not in t
    assert all("speaker" not in s and "speaker_id" not in s for s in t["segments"])
    assert [s["text"] for s in t["segments"] if s["type"] == "speech"] == ["Hello there. How are you?",
                                                                          "Fine thanks."]


def test_degraded_job_is_the_plain_transcript_with_the_warning() -> None:
    t = merge(ASR, None, diarize=True, warnings=["diarization failed: node down"]).serialize()
    assert "speakers" not in t and all("speaker" not in s for s in t["segments"])
    assert t["warnings"] == ["diarization failed: node down"]


def test_word_outside_every_turn_keeps_its_neighbours_speaker() -> None:
    asr = {"duration_s": 4.0, "language": "en", "segments": [
        {"start": 0.0, "end": 3.9, "text": "a b c", "words": [w(0.0, 0.5, "a"), w(2.5, 2.8, " b"),
                                                             w(3.5, 3.9, " c")]}]}
    diar = {"duration_s": 4.0, "turns": [{"start": 0.0, "end": 1.0, "speaker": "X"},
                                         {"start": 3.4, "end": 4.0, "speaker": "Y"}], "identified": {}}
    t = merge(asr, diar, diarize=True).serialize()
    assert [(s["text"], s["speaker"]) for s in t["segments"]] == [("a b", "SPEAKER_00"), ("c", "SPEAKER_01")]


def test_words_where_no_speaker_was_found_are_kept_without_one() -> None:
    asr = {"duration_s": 10.0, "language": "en", "segments": [
        {"start": 0.0, "end": 1.0, "text": " Hi.", "words": [w(0.1, 0.9, " Hi.")]},
        {"start": 6.0, "end": 7.0, "text": " Bye.", "words": [w(6.1, 6.9, " Bye.")]}]}
    diar = {"duration_s": 10.0, "turns": [{"start": 0.0, "end": 1.0, "speaker": "X"}]}
    t = merge(asr, diar, diarize=True).serialize()
    assert [(s["text"], s["speaker"]) for s in t["segments"] if s["type"] == "speech"] == [
        ("Hi.", "SPEAKER_00"), ("Bye.", None)]


def test_assign_speaker_max_overlap_and_nearest() -> None:
    turns = [Turn(0.0, 1.0, "A"), Turn(0.8, 2.0, "B")]
    assert assign_speaker(0.7, 1.1, turns) == "A"  # a tie (0.3 s each) goes to the earlier turn
    assert assign_speaker(0.9, 1.5, turns) == "B"
    assert assign_speaker(2.3, 2.4, turns) == "B"  # within 0.5 s of B's end
    assert assign_speaker(5.0, 5.1, turns) is None


def test_asr_and_diarization_warnings_are_kept_once() -> None:
    asr = dict(ASR, warnings=["no speech in the last minute"])
    diar = dict(DIAR, warnings=["fell back to one speaker"])
    t = merge(asr, diar, diarize=True, warnings=["fell back to one speaker"]).serialize()
    assert t["warnings"] == ["fell back to one speaker", "no speech in the last minute"]


def test_identified_segments_carry_the_speakers_external_id() -> None:
    t = merge(ASR, DIAR, diarize=True, names={"spk_b": "Bob"}, external_ids={"spk_b": "ext_59586"})
    speech = [s for s in t.serialize()["segments"] if s["type"] == "speech"]
    assert speech[1]["speaker_id"] == "spk_b" and speech[1]["external_id"] == "ext_59586"
    assert "external_id" not in speech[0]
    # a speaker enrolled without an external id: no external_id field at all
    plain = merge(ASR, DIAR, diarize=True, names={"spk_b": "Bob"}).serialize()["segments"]
    assert all("external_id" not in s for s in plain)
