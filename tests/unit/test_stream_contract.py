"""The streaming protocol's models (scaiecho.contracts.stream) against what the server does:
the parser accepts exactly the client messages the models describe, every frame the server builds
is a valid server frame, and docs/asyncapi.json is the models' current description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scaiecho.contracts.stream import CLIENT_MESSAGES, SERVER_FRAMES, asyncapi_document
from scaiecho.domain.streaming import (
    AudioFrame,
    Backend,
    CloseFrame,
    Delta,
    OpenFrame,
    StreamError,
    closed_frame,
    error_frame,
    parse_frame,
    ready_frame,
)

ROOT = Path(__file__).resolve().parents[2]

_values = st.one_of(st.none(), st.booleans(), st.integers(-10, 60_000),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["en", "en-US", "EN", "english", "", "audio/pcm", "audio/wav",
                                     "audio/mp3", "AQID", "not base64!", "16000"]))
_open = st.fixed_dictionaries(
    {"type": st.just("open")},
    optional={"media_type": _values, "language_hint": _values, "diarize": _values,
              "sample_rate": st.one_of(_values, st.sampled_from([8000, 16000, 48000, 48001, 7999])),
              "match_me": _values, "extra_field": _values},
)
_other = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["audio", "close", "stop", None])},
                          optional={"data": _values}),
    st.just({"no_type": 1}),
)


def _parsed(message: dict[str, Any]) -> bool:
    try:
        parse_frame(json.dumps(message), binary=False)
    except StreamError:
        return False
    return True


def _valid(message: dict[str, Any]) -> bool:
    try:
        CLIENT_MESSAGES.validate_python(message)
    except ValidationError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.one_of(_open, _other))
def test_the_parser_accepts_exactly_what_the_models_describe(message: dict[str, Any]) -> None:
    assert _parsed(message) == _valid(message), message


def test_parsed_frames_agree_with_the_models_values() -> None:
    frame = parse_frame(json.dumps({"type": "open", "media_type": "audio/pcm", "diarize": True,
                                    "match_me": True, "sample_rate": 8000}), binary=False)
    model = CLIENT_MESSAGES.validate_python({"type": "open", "media_type": "audio/pcm",
                                             "diarize": True, "match_me": True, "sample_rate": 8000})
    assert isinstance(frame, OpenFrame)
    assert frame.params.serialize() == model.model_dump(exclude={"type"})
    assert isinstance(parse_frame('{"type": "audio", "data": "AQID"}', binary=False), AudioFrame)
    assert isinstance(parse_frame('{"type": "close"}', binary=False), CloseFrame)


@pytest.mark.parametrize(
    "frame",
    [
        ready_frame(Backend.NODES),
        ready_frame(Backend.MANAGED),
        closed_frame(),
        error_frame("capacity_exhausted", "full", retry_after_s=5, capacity=4),
        error_frame("falling_behind", "behind", lag_s=3.2),
        Delta("hello", 0.0, 1.23456).frame(0),
        Delta("hi", 1.0, 2.0, speaker_label="spk_0").frame(3),
        Delta("hi", 1.0, 2.0, speaker_label="spk_abc", speaker_name="Ann", external_id="u1",
              match_score=0.91234, voice_match_score=0.5).frame(7),
    ],
)
def test_every_server_frame_is_a_valid_frame(frame: dict[str, Any]) -> None:
    model = SERVER_FRAMES.validate_python(frame)
    assert model.wire() == frame


def test_a_delta_without_a_speaker_says_nothing_about_one() -> None:
    frame = Delta("x", 0, 1, speaker_name="Ann", match_score=0.9, voice_match_score=0.8).frame(1)
    assert frame == {"type": "delta", "seq": 1, "text": "x", "start": 0, "end": 1, "final": True}
    labelled = Delta("x", 0, 1, speaker_label="s", voice_match_score=0.87654).frame(2)
    assert labelled["voiceMatchScore"] == 0.8765


def test_the_published_asyncapi_document_is_current() -> None:
    """Regenerate with: python -m scaiecho.contracts.stream > docs/asyncapi.json"""
    published = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    assert published == json.loads(json.dumps(asyncapi_document()))
    messages = published["components"]["messages"]
    assert set(messages) == {"open", "audio", "close", "ready", "delta", "closed", "error"}
    delta = published["components"]["schemas"]["DeltaFrame"]["properties"]
    assert "voiceMatchScore" in delta and "voice_match_score" not in delta
