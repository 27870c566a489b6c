"""match_me in the job request and voiceMatchScore in the merged transcript (pure)."""

from __future__ import annotations

import pytest

from scaiecho.domain.jobs import TranscribeOptions, parse_options
from scaiecho.domain.transcripts import merge
from scaiecho.errors import ValidationFailed

ASR = {"duration_s": 6.0, "language": "en", "segments": [
    {"start": 0.0, "end": 2.0, "text": " Mine.", "words": [{"start": 0.0, "end": 2.0, "word": " Mine."}]},
    {"start": 2.5, "end": 4.0, "text": " Yours.", "words": [{"start": 2.5, "end": 4.0, "word": " Yours."}]},
]}
DIAR = {"duration_s": 6.0, "turns": [{"start": 0.0, "end": 2.2, "speaker": "A"},
                                     {"start": 2.3, "end": 4.1, "speaker": "B"}], "identified": {}}


def test_match_me_round_trips_and_needs_diarize() -> None:
    opts = parse_options({"diarize": "true", "match_me": "true"}, supported_languages=())
    assert opts.match_me and TranscribeOptions.from_stored(opts.serialize()).match_me
    assert not parse_options({"diarize": True}, supported_languages=()).match_me
    with pytest.raises(ValidationFailed) as err:
        parse_options({"match_me": True}, supported_languages=())
    assert err.value.code == "match_me_needs_diarize"
    with pytest.raises(ValidationFailed) as err:
        parse_options({"diarize": True, "match_me": "sure"}, supported_languages=())
    assert err.value.code == "invalid_match_me"


def test_voice_match_scores_land_on_speech_segments_of_their_label_only() -> None:
    out = merge(ASR, DIAR, diarize=True, voice_match={"A": 0.97, "B": 0.0312}).serialize()
    speech = [s for s in out["segments"] if s["type"] == "speech"]
    assert [(s["speaker"], s["voiceMatchScore"]) for s in speech] == [("SPEAKER_00", 0.97),
                                                                       ("SPEAKER_01", 0.031)]
    assert all("voiceMatchScore" not in s for s in out["segments"] if s["type"] == "silence")
    plain = merge(ASR, DIAR, diarize=True).serialize()
    assert all("voiceMatchScore" not in s for s in plain["segments"])
