"""The node protocol's models (scaiecho.contracts.node): every message round-trips, today's raw
requests still parse, and a bad action or field is refused with the node's code and status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scaiecho.contracts import node as wire
from scaiecho.errors import ScaiEchoError

INLINE = wire.InlineAudio.of(b"RIFF....", "audio/wav")
S3 = wire.S3Audio.at("audio", "tenant/acme/x.flac", version_id="v1")

REQUESTS: list[Any] = [
    wire.HealthRequest(),
    wire.EvictRequest(speaker_ids=["spk_1", "spk_2"]),
    wire.EmbedRequest(audio=INLINE, priority="realtime"),
    wire.EmbedRequest(audio=S3),
    wire.TranscribeRequest(audio=S3, language="en", word_timestamps=False, priority="batch"),
    wire.TranscribeRequest(audio=INLINE),
    wire.TranscribeRequest(audio=INLINE, word_timestamps=False, window="short"),
    wire.DiarizeRequest(audio=S3, candidates=[wire.Candidate(speaker_id="a", embedding=[0.6, 0.8])],
                        min_speakers=1, max_speakers=3, priority="batch"),
    wire.DiarizeRequest(audio=INLINE, num_speakers=2),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_every_request_round_trips_through_json(request_: Any) -> None:
    sent = json.loads(json.dumps(request_.wire()))
    assert sent["action"] == request_.action
    assert wire.parse_request(sent) == request_


RESULTS: list[Any] = [
    wire.HealthResult(status="ok", node_id="n1", model_id="m", model_version="1", model_dir="/m",
                      device="cpu", embedding_dim=192, sample_rate=16000, pyannote_version="4",
                      torch_version="2", identification_threshold=0.3, load_time_s=1.5),
    wire.EmbedResult(embedding=[0.6, 0.8], dimension=2, speech_s=6.0, model_id="m", model_version="1",
                     quality=wire.AudioQuality(duration_s=7.0, speech_s=6.0, speech_ratio=0.857,
                                               rms_dbfs=-20.5, clipped_ratio=0.0, overlap_s=0.0),
                     warnings=["short_speech"]),
    wire.DiarizeResult(duration_s=4.0, num_speakers=1, turns=[wire.Turn(start=0.1, end=2.0, speaker="S0")],
                       exclusive_turns=[wire.Turn(start=0.1, end=2.0, speaker="S0")],
                       speakers=[wire.SpeakerCluster(label="S0", speech_s=1.9, embedding=[1.0, 0.0])],
                       identified={"S0": wire.Identification(speaker_id="a", score=0.9, cosine=0.7)},
                       model_id="m", model_version="1", processing_s=0.4, warnings=[]),
    wire.TranscribeResult(duration_s=4.0, language="en", model="tiny.en", elapsed_s=0.3, segments=[
        wire.AsrSegment(start=0.0, end=1.0, text=" Hi.",
                        words=[wire.AsrWord(start=0.0, end=1.0, word=" Hi.", probability=0.9)])]),
    wire.EvictResult(evicted=["a"], not_held=["b"]),
]


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: type(r).__name__)
def test_every_result_round_trips_through_the_data_reply(result: Any) -> None:
    body = json.loads(json.dumps(wire.data_reply(result)))
    assert type(result).model_validate(body["data"]) == result


def test_the_error_body_has_details_only_when_there_are_some() -> None:
    assert wire.error_reply(ScaiEchoError("x", code="node_failure")) == (
        500, {"error": {"code": "node_failure", "message": "x"}})
    status, body = wire.error_reply(ScaiEchoError("y", code="c", details={"limit_s": None}))
    assert status == 500
    assert body == {"error": {"code": "c", "message": "y", "details": {"limit_s": None}}}
    assert wire.ErrorReply.model_validate(body).error.code == "c"


def test_todays_raw_requests_parse() -> None:
    """Wire compatibility with clients that build the dicts by hand (and the stored events)."""
    diarize = wire.parse_request({
        "action": "diarize", "audio": {"s3": {"bucket": "b", "key": "k"}}, "priority": "batch",
        "candidates": [{"speaker_id": "a", "embedding": [1, 0.5]}], "min_speakers": None,
        "max_speakers": 4, "unknown_field": "ignored"})
    assert isinstance(diarize, wire.DiarizeRequest)
    assert diarize.candidates[0].embedding == [1.0, 0.5] and diarize.max_speakers == 4
    assert wire.parse_request({"action": "health", "priority": "REALTIME"}).priority == "realtime"
    assert wire.parse_request({"action": "health", "priority": None}).priority == "interactive"
    empty = wire.parse_request({"action": "diarize", "audio": {"b64": ""}, "candidates": None})
    assert isinstance(empty, wire.DiarizeRequest) and empty.candidates == []


def test_a_reader_accepts_a_reply_without_descriptive_fields() -> None:
    embed = wire.EmbedResult.model_validate({"embedding": [1.0, 0.0], "speech_s": 1.0})
    assert embed.dimension is None and embed.warnings == []
    assert wire.TranscribeResult.model_validate(
        {"segments": [{"start": 0, "end": 1, "text": " a "}, {"start": 1, "end": 2, "text": "b"}]}
    ).text == "a b"


@pytest.mark.parametrize(("payload", "status", "code"), [
    ([1, 2], 400, "invalid_request"),
    ({}, 400, "unknown_action"),
    ({"action": "translate"}, 400, "unknown_action"),
    ({"action": ["embed"]}, 400, "unknown_action"),
    ({"action": "health", "priority": "urgent"}, 422, "invalid_priority"),
    ({"action": "embed"}, 400, "missing_audio"),
    ({"action": "embed", "audio": "x"}, 400, "missing_audio"),
    ({"action": "embed", "audio": {}}, 400, "missing_audio"),
    ({"action": "embed", "audio": {"s3": {"bucket": "b"}}}, 400, "missing_audio"),
    ({"action": "embed", "audio": {"b64": 5}}, 400, "invalid_audio_encoding"),
    ({"action": "embed", "audio": {"b64": "", "media_type": 3}}, 400, "invalid_request"),
    ({"action": "evict"}, 422, "validation_error"),
    ({"action": "evict", "speaker_ids": ["a", ""]}, 422, "validation_error"),
    ({"action": "transcribe", "audio": {"b64": ""}, "language": 5}, 422, "invalid_language"),
    ({"action": "transcribe", "audio": {"b64": ""}, "word_timestamps": "yes"}, 422, "invalid_request"),
    ({"action": "transcribe", "audio": {"b64": ""}, "window": "medium"}, 422, "invalid_request"),
    ({"action": "diarize", "audio": {"b64": ""}, "max_speakers": "3"}, 422, "validation_error"),
    ({"action": "diarize", "audio": {"b64": ""}, "num_speakers": True}, 422, "validation_error"),
    ({"action": "diarize", "audio": {"b64": ""}, "max_speakers": 21}, 422, "validation_error"),
    ({"action": "diarize", "audio": {"b64": ""}, "min_speakers": 0}, 422, "validation_error"),
    ({"action": "diarize", "audio": {"b64": ""}, "min_speakers": 3, "max_speakers": 2}, 422,
     "validation_error"),
    ({"action": "diarize", "audio": {"b64": ""}, "candidates": {}}, 422, "validation_error"),
    ({"action": "diarize", "audio": {"b64": ""}, "candidates": [{"speaker_id": "a"}]}, 422,
     "validation_error"),
    ({"action": "diarize", "audio": {"b64": ""}, "candidates": [{"speaker_id": "a", "embedding": [True]}]},
     422, "validation_error"),
])
def test_a_bad_request_is_refused_with_the_nodes_code(payload: Any, status: int, code: str) -> None:
    with pytest.raises(ScaiEchoError) as refused:
        wire.parse_request(payload)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_problems_are_reported_in_a_stable_order_with_clear_messages() -> None:
    with pytest.raises(ScaiEchoError, match=r"candidates\[1\]\.speaker_id must be a non-empty string"):
        wire.parse_request({"action": "diarize", "max_speakers": 2, "candidates": [
            {"speaker_id": "a", "embedding": [1.0]}, {"speaker_id": "", "embedding": [1.0]}]})
    with pytest.raises(ScaiEchoError, match="min_speakers must not exceed max_speakers"):
        wire.parse_request({"action": "diarize", "audio": {"b64": ""}, "min_speakers": 3,
                            "max_speakers": 2})
