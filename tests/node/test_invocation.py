"""The invocations contract, with a fake engine (no model): parsing, errors, S3 audio."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import boto3
import numpy as np
import pytest
import soundfile as sf
from moto import mock_aws

from scaiecho.audio.decode import DecodedAudio
from scaiecho.contracts import node as wire
from scaiecho_node.invocation import Dispatcher, S3AudioReader


class Result:
    """An engine result: the reply model it answers with (as scaiecho_node.results do)."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def contract(self) -> Any:
        return self.reply


class FakeEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def health(self) -> Result:
        return Result(wire.HealthResult(status="ok", embedding_dim=192))

    def embed(self, audio: DecodedAudio) -> Result:
        self.calls.append(("embed", audio))
        return Result(wire.EmbedResult(embedding=[1.0], speech_s=audio.duration_s))

    def diarize(self, audio: DecodedAudio, candidates: Any = (), **bounds: Any) -> Result:
        self.calls.append(("diarize", (audio, list(candidates), bounds)))
        return Result(wire.DiarizeResult(turns=[], num_speakers=0, speakers=[], identified={}))

    def evict(self, speaker_ids: Any) -> Result:
        return Result(wire.EvictResult(evicted=list(speaker_ids), not_held=[]))

    def transcribe(self, audio: DecodedAudio, language: str | None = None, **options: Any) -> Result:
        self.calls.append(("transcribe", options))
        return Result(wire.TranscribeResult(segments=[]))


def wav_bytes(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(buf, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="WAV")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher(FakeEngine())


def error_of(result: tuple[int, dict[str, Any]]) -> tuple[int, str]:
    status, body = result
    return status, body["error"]["code"]


def test_health(dispatcher: Dispatcher) -> None:
    assert dispatcher.handle({"action": "health"}) == (
        200,
        {"data": wire.HealthResult(status="ok", embedding_dim=192).model_dump(mode="json")},
    )


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"action": "translate"}, 400, "unknown_action"),
        ({}, 400, "unknown_action"),
        ([1, 2], 400, "invalid_request"),
        ({"action": "embed"}, 400, "missing_audio"),
        ({"action": "embed", "audio": {}}, 400, "missing_audio"),
        ({"action": "embed", "audio": {"s3": {"bucket": "b"}}}, 400, "missing_audio"),
        ({"action": "embed", "audio": {"b64": "***"}}, 400, "invalid_audio_encoding"),
        ({"action": "embed", "audio": {"b64": b64(b"RIFF....WAVEjunkjunk")}}, 422, "audio_undecodable"),
        ({"action": "embed", "audio": {"b64": b64(b"hello, not audio")}}, 415, "unsupported_media_type"),
        ({"action": "embed", "audio": {"b64": ""}}, 422, "audio_empty"),
        ({"action": "evict"}, 422, "validation_error"),
        (
            {"action": "diarize", "audio": {"b64": b64(wav_bytes())}, "max_speakers": "3"},
            422,
            "validation_error",
        ),
        (
            {"action": "diarize", "audio": {"b64": b64(wav_bytes())}, "candidates": [{"speaker_id": "a"}]},
            422,
            "validation_error",
        ),
    ],
)
def test_bad_requests_get_clear_errors(
    dispatcher: Dispatcher, payload: Any, status: int, code: str
) -> None:
    assert error_of(dispatcher.handle(payload)) == (status, code)


def test_invalid_json(dispatcher: Dispatcher) -> None:
    assert error_of(dispatcher.handle_bytes(b"{nope")) == (400, "invalid_json")


def test_engine_crash_is_a_500(dispatcher: Dispatcher) -> None:
    def boom(_: Any) -> Any:
        raise RuntimeError("kaput")

    dispatcher.engine.embed = boom  # type: ignore[method-assign]
    status, body = dispatcher.handle({"action": "embed", "audio": {"b64": b64(wav_bytes())}})
    assert status == 500 and body["error"]["code"] == "node_failure"


def test_diarize_passes_candidates_and_bounds(dispatcher: Dispatcher) -> None:
    status, body = dispatcher.handle(
        {
            "action": "diarize",
            "audio": {"b64": b64(wav_bytes(2.0)), "media_type": "audio/wav"},
            "candidates": [{"speaker_id": "spk_1", "embedding": [0.1, 0.2]}],
            "max_speakers": 3,
        }
    )
    assert status == 200, body
    _, (audio, cands, bounds) = dispatcher.engine.calls[-1]  # type: ignore[attr-defined]
    assert audio.sample_rate == 16000 and audio.duration_s == pytest.approx(2.0, abs=0.01)
    assert cands[0].speaker_id == "spk_1" and list(cands[0].embedding) == [0.1, 0.2]
    assert bounds == {"min_speakers": None, "max_speakers": 3, "num_speakers": None}


def test_evict(dispatcher: Dispatcher) -> None:
    assert dispatcher.handle({"action": "evict", "speaker_ids": ["a", "b"]}) == (
        200,
        {"data": {"evicted": ["a", "b"], "not_held": []}},
    )


def test_audio_from_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="audio")
        s3.put_object(Bucket="audio", Key="ref.wav", Body=wav_bytes(1.5), ContentType="audio/wav")
        dispatcher = Dispatcher(FakeEngine(), s3=S3AudioReader())
        status, body = dispatcher.handle(
            {"action": "embed", "audio": {"s3": {"bucket": "audio", "key": "ref.wav"}}}
        )
        assert status == 200 and body["data"]["speech_s"] == pytest.approx(1.5, abs=0.01)
        missing = dispatcher.handle(
            {"action": "embed", "audio": {"s3": {"bucket": "audio", "key": "nope.wav"}}}
        )
        assert error_of(missing) == (400, "audio_not_found")


def test_s3_client_is_lazy() -> None:
    made: list[int] = []
    reader = S3AudioReader(client_factory=lambda: made.append(1))
    Dispatcher(FakeEngine(), s3=reader).handle({"action": "health"})
    assert made == []


def test_sagemaker_handler_functions(dispatcher: Dispatcher) -> None:
    from scaiecho_node import sagemaker_entry as sm

    payload = sm.input_fn(json.dumps({"action": "health"}).encode(), "application/json")
    body, content_type = sm.output_fn(sm.predict_fn(payload, dispatcher), "application/json")
    assert content_type == "application/json"
    assert json.loads(body) == {"data": wire.HealthResult(embedding_dim=192).model_dump(mode="json")}
    bad = sm.predict_fn(sm.input_fn(b"{", "application/json"), dispatcher)
    assert bad["status"] == 400
    unknown = sm.predict_fn({"action": "x"}, dispatcher)
    assert unknown["status"] == 400 and unknown["error"]["code"] == "unknown_action"


@pytest.mark.parametrize("action", ["embed", "diarize"])
def test_a_decode_bomb_is_cut_off_at_the_actions_limit(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """A node never decodes more than any caller may send it: enrollment audio for ``embed``,
    a job's maximum for ``diarize``/``transcribe`` (both lowered here to keep the test small)."""
    from scaiecho.settings import get_settings
    from tests.hostile_audio import flac_silence, wav

    monkeypatch.setenv("SCAIECHO_MAX_ENROLL_AUDIO_S", "30")
    monkeypatch.setenv("SCAIECHO_VOICE_SAMPLE_MAX_S", "20")
    monkeypatch.setenv("SCAIECHO_MAX_JOB_DURATION_S", "40")
    get_settings.cache_clear()
    try:
        bomb = flac_silence(120.0, hide_length=True)  # ~6 KB
        status, body = dispatcher.handle({"action": action, "audio": {"b64": b64(bomb)}})
        assert (status, body["error"]["code"]) == (422, "audio_too_long")
        status, body = dispatcher.handle({"action": action, "audio": {"b64": b64(wav(rate=1))}})
        assert (status, body["error"]["code"]) == (422, "audio_sample_rate_unsupported")
        assert dispatcher.engine.calls == []  # type: ignore[attr-defined]
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("window", "short_window"), [("short", True), ("full", False), (None, None)])
def test_transcribe_passes_the_window_asked_for(dispatcher: Dispatcher, window: str | None,
                                                short_window: bool | None) -> None:
    payload = {"action": "transcribe", "audio": {"b64": b64(wav_bytes())}, "word_timestamps": False}
    status, body = dispatcher.handle({**payload, "window": window} if window else payload)
    assert status == 200, body
    assert dispatcher.engine.calls[-1] == (  # type: ignore[attr-defined]
        "transcribe", {"word_timestamps": False, "short_window": short_window})
