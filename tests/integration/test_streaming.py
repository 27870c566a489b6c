"""Streaming over the local WebSocket gateway, in-process under moto: the real route handlers,
session table, endpointing and node contract; the node is a contract process whose ``transcribe``
and ``embed`` answers are computed from the audio it receives (its spectrum), so labels depend on
what was actually streamed. Real models are exercised in tests/e2e/test_streaming_e2e.py."""

from __future__ import annotations

import base64
import io
import json
import time
import wave
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from scaiecho.adapters.connections import ConnectionStore
from scaiecho.adapters.speakers import SpeakerStore, WarmRegistry
from scaiecho.adapters.tables import ConnectionRow, StreamAudioRow
from scaiecho.adapters.voiceprints import VoiceprintCipher
from scaiecho.api.app import API_PREFIX, create_app
from scaiecho.domain.speakers import EnrollmentStatus
from scaiecho.local.gateway import mount
from tests.conftest import _reset_settings, auth
from tests.contract_node import ContractNode, SpeechScript, registered
from tests.integration.test_enrollment import create

RATE = 16_000
STREAM = f"{API_PREFIX}/stream"
VOICE_A, VOICE_B = 180.0, 330.0  # fundamentals of two synthetic "voices"


# ---------------------------------------------------------------- audio the node can tell apart


def voice(f0: float, seconds: float = 1.6, seed: int = 0) -> np.ndarray:
    """Harmonic bursts at ``f0`` with a 4 Hz syllable envelope over a quiet noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 5))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    return (0.25 * tone * envelope + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def silence(seconds: float, seed: int = 1) -> np.ndarray:
    return (0.002 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def spectrum_embedding(samples: np.ndarray) -> list[float]:
    """32 bands of 50 Hz (0-1600 Hz): one voice's harmonics light the same bands every time."""
    spec = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    bands = np.array([spec[(freqs >= lo) & (freqs < lo + 50)].sum() for lo in range(0, 1600, 50)])
    return (bands / np.linalg.norm(bands)).tolist()


def _decode(body: dict[str, Any]) -> np.ndarray:
    with wave.open(io.BytesIO(base64.b64decode(body["audio"]["b64"]))) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


def _transcribe(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if body.get("language") not in (None, "en"):
        return 422, {"error": {"code": "unsupported_language", "message": "model is English-only"}}
    x = _decode(body)
    peak = float(np.fft.rfftfreq(x.size, 1 / RATE)[np.argmax(np.abs(np.fft.rfft(x)))])
    dur = x.size / RATE
    return 200, {"data": {"duration_s": dur, "language": "en", "model": "contract", "warnings": [],
                          "segments": [{"start": 0.0, "end": dur, "text": f" tone near {peak:.0f} Hz",
                                        "words": []}]}}


def _embed(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"data": {"embedding": spectrum_embedding(_decode(body)), "speech_s": 1.0}}


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def node(aws: Any) -> Iterator[ContractNode]:
    with registered(SpeechScript().wrap({"transcribe": _transcribe, "embed": _embed}), online=True,
                    model_id="contract") as contract:
        yield contract


@pytest.fixture
def client(aws: Any) -> Iterator[TestClient]:
    app = create_app()
    mount(app, API_PREFIX)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def stream_key(make_key: Any) -> str:
    return str(make_key("acme", "scaiecho:transcribe,scaiecho:diarize"))


def enrolled_speaker(api: Any, make_key: Any, samples: np.ndarray) -> str:
    """A ready speaker of tenant acme whose voiceprint on node-1 is the embedding of ``samples``."""
    speaker_id = create(api, make_key("acme", "scaiecho:enroll"))
    sealed = VoiceprintCipher().seal(spectrum_embedding(samples), tenant_id="acme", subject_id=speaker_id)
    assert WarmRegistry().put(tenant_id="acme", speaker_id=speaker_id, node_id="node-1", sealed=sealed,
                              dim=32, model_id="contract", model_version="1", sample_ids=[])
    SpeakerStore().set_enrollment("acme", speaker_id, status=EnrollmentStatus.READY,
                                  enrolled_on=["node-1"], note=None)
    return speaker_id


def open_frame(**overrides: Any) -> dict[str, Any]:
    return {"type": "open", "language_hint": "en", "media_type": "audio/pcm", "diarize": True,
            **overrides}


def send_audio(ws: Any, audio: bytes, *, chunk: int = 3200, binary: bool = True) -> None:
    for i in range(0, len(audio), chunk):
        if binary:
            ws.send_bytes(audio[i:i + chunk])
        else:
            ws.send_json({"type": "audio", "data": base64.b64encode(audio[i:i + chunk]).decode()})


def until(ws: Any, kind: str) -> list[dict[str, Any]]:
    """Frames up to ``kind`` (or an error), each checked against the protocol's models."""
    from scaiecho.contracts.stream import SERVER_FRAMES

    frames = []
    while True:
        frame = ws.receive_json()
        SERVER_FRAMES.validate_python(frame)
        frames.append(frame)
        if frame["type"] in (kind, "error"):
            return frames


def assert_closed_by_server(ws: Any) -> None:
    with pytest.raises(WebSocketDisconnect):
        ws.receive_json()


def sessions() -> int:
    return ConnectionStore().count()


def audio_chunks(connection_id: str | None = None) -> list[StreamAudioRow]:
    """The pending-audio items left in the stream-audio table (all connections, or one)."""
    rows = StreamAudioRow.scan()
    return [r for r in rows if connection_id is None or r.connection_id == connection_id]


# ---------------------------------------------------------------- the protocol


@pytest.mark.usefixtures("identify_incomplete")
def test_enrolled_and_unenrolled_voices_get_their_labels(
    client: TestClient, api: Any, make_key: Any, node: ContractNode, stream_key: str,
) -> None:
    speaker_id = enrolled_speaker(api, make_key, voice(VOICE_A, seed=7))
    audio = np.concatenate([silence(0.5), voice(VOICE_A), silence(1.0), voice(VOICE_B, seed=3),
                            silence(1.0), voice(VOICE_A, seed=5), silence(0.3)])
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame())
        assert ws.receive_json() == {"type": "ready", "backend_used": "A"}
        assert sessions() == 1
        send_audio(ws, pcm16(audio[: audio.size // 2]), binary=True)
        send_audio(ws, pcm16(audio[audio.size // 2:]), binary=False)  # API Gateway's form
        ws.send_json({"type": "close"})
        frames = until(ws, "closed")
        assert_closed_by_server(ws)
    deltas = [f for f in frames if f["type"] == "delta"]
    assert frames[-1] == {"type": "closed"}
    assert [d["speaker_label"] for d in deltas] == [speaker_id, "spk_0", speaker_id]
    assert all("tone near" in d["text"] and d["final"] is True for d in deltas)
    assert deltas[0]["speaker_name"] and 0.5 < deltas[0]["match_score"] <= 1.0
    assert [d["seq"] for d in deltas] == [0, 1, 2]
    # session times: the utterances start where the voices were streamed
    assert [round(d["start"]) for d in deltas] == [0, 3, 6]
    assert all(d["start"] < d["end"] for d in deltas)
    assert sessions() == 0  # closed: no session row, no pending audio left behind
    assert audio_chunks() == []


def test_without_diarize_deltas_have_no_speaker_label(
    client: TestClient, node: ContractNode, stream_key: str
) -> None:
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame(diarize=False))
        ws.receive_json()
        send_audio(ws, pcm16(np.concatenate([voice(VOICE_B), silence(1.0)])))
        ws.send_json({"type": "close"})
        frames = until(ws, "closed")
    deltas = [f for f in frames if f["type"] == "delta"]
    assert len(deltas) == 1 and "speaker_label" not in deltas[0]
    assert not [r for r in node.requests if r["action"] == "embed"]


def test_wav_stream_at_48k_stereo_is_resampled(client: TestClient, node: ContractNode,
                                               stream_key: str) -> None:
    mono = np.concatenate([voice(VOICE_B), silence(1.0)])
    t48 = np.interp(np.arange(int(mono.size * 3)) / 3, np.arange(mono.size), mono)
    stereo = np.stack([t48, t48], axis=1).reshape(-1)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes(pcm16(stereo))
    with client.websocket_connect(f"{STREAM}?api_key={stream_key}") as ws:  # browser-style key
        ws.send_json(open_frame(media_type="audio/wav", diarize=False))
        ws.receive_json()
        send_audio(ws, buf.getvalue(), chunk=7001)  # odd sizes: header and samples split anywhere
        ws.send_json({"type": "close"})
        frames = until(ws, "closed")
    deltas = [f for f in frames if f["type"] == "delta"]
    assert len(deltas) == 1 and "tone near 330 Hz" in deltas[0]["text"]
    assert deltas[0]["start"] < 0.3 and 1.5 < deltas[0]["end"] < 2.1


# ---------------------------------------------------------------- bad input and teardown


@pytest.mark.parametrize(
    ("first", "code"),
    [
        ({"bytes": b"\x00\x01" * 800}, "not_open"),
        ({"json": {"type": "audio", "data": base64.b64encode(b"\x00" * 64).decode()}}, "not_open"),
        ({"json": {"type": "open", "media_type": "audio/mpeg"}}, "unsupported_media_type"),
        ({"json": open_frame(sample_rate=96_000)}, "invalid_sample_rate"),
        ({"bytes": b"\x00" * (32 * 1024 + 1)}, "frame_too_large"),
    ],
)
def test_fatal_frames_get_an_error_and_end_the_session(
    client: TestClient, node: ContractNode, stream_key: str, first: dict[str, Any], code: str
) -> None:
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        if "bytes" in first:
            ws.send_bytes(first["bytes"])
        else:
            ws.send_json(first["json"])
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == code and error["message"]
        assert_closed_by_server(ws)
    assert sessions() == 0


def test_unknown_type_and_bad_json_are_reported_and_the_session_goes_on(
    client: TestClient, node: ContractNode, stream_key: str
) -> None:
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json({"type": "subscribe"})
        assert ws.receive_json()["code"] == "unknown_type"
        ws.send_text("not json")
        assert ws.receive_json()["code"] == "invalid_json"
        ws.send_json(open_frame())
        assert ws.receive_json()["type"] == "ready"
        ws.send_json(open_frame())
        assert ws.receive_json()["code"] == "already_open"
        ws.send_json({"type": "audio", "data": "%%%"})
        assert ws.receive_json()["code"] == "invalid_audio_encoding"
        ws.send_json({"type": "close"})
        assert until(ws, "closed")[-1] == {"type": "closed"}
    assert sessions() == 0


def test_idle_session_is_ended(client: TestClient, node: ContractNode, stream_key: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Long enough that a loaded machine still opens in time (the handler also measures idleness
    # from $connect), short enough to keep the test quick.
    monkeypatch.setenv("SCAIECHO_STREAM_IDLE_TIMEOUT_S", "2")
    _reset_settings()
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame())
        ws.receive_json()
        error = ws.receive_json()  # nothing sent: the gateway's idle timer fires
        assert error["code"] == "idle_timeout"
        assert_closed_by_server(ws)
    assert sessions() == 0


def test_client_disconnecting_mid_utterance_leaves_no_session(
    client: TestClient, node: ContractNode, stream_key: str
) -> None:
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame())
        ws.receive_json()
        send_audio(ws, pcm16(voice(VOICE_A)[:12_000]))  # speech in progress, not yet an utterance
        ws.send_json({"type": "subscribe"})  # a round trip: every audio frame has been handled
        ws.receive_json()
        assert sessions() == 1 and audio_chunks()
    deadline = time.monotonic() + 5
    while sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sessions() == 0 and audio_chunks() == []
    assert not [r for r in node.requests if r["action"] == "transcribe"]


# ---------------------------------------------------------------- auth, backends, nodes


def test_handshake_needs_a_key_with_the_transcribe_scope(client: TestClient, make_key: Any) -> None:
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect(STREAM):
        pass
    assert denied.value.status_code == 401
    assert denied.value.json()["error"]["code"] == "unauthenticated"
    enroll_only = make_key("acme", "scaiecho:enroll")
    with pytest.raises(WebSocketDenialResponse) as forbidden, \
            client.websocket_connect(STREAM, headers=auth(enroll_only)):
        pass
    assert forbidden.value.status_code == 403
    assert forbidden.value.json()["error"]["code"] == "insufficient_scope"
    assert sessions() == 0


def test_diarize_needs_the_diarize_scope(client: TestClient, node: ContractNode, make_key: Any) -> None:
    key = make_key("acme", "scaiecho:transcribe")
    with client.websocket_connect(STREAM, headers=auth(key)) as ws:
        ws.send_json(open_frame(diarize=True))
        assert ws.receive_json()["code"] == "insufficient_scope"
        assert_closed_by_server(ws)
    assert sessions() == 0


def test_no_node_online_is_a_clear_error(client: TestClient, stream_key: str) -> None:
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame())
        error = ws.receive_json()
        assert error["code"] == "backend_unavailable" and "no pyannote node" in error["message"]
        assert_closed_by_server(ws)


def test_unsupported_language_from_the_node(client: TestClient, node: ContractNode,
                                            stream_key: str) -> None:
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame(language_hint="fr"))
        ws.receive_json()
        send_audio(ws, pcm16(np.concatenate([voice(VOICE_A), silence(1.0)])))
        error = ws.receive_json()
        assert error["code"] == "unsupported_language"
        assert_closed_by_server(ws)
    assert sessions() == 0


def test_tenant_pinned_to_the_managed_relay_without_its_sdk(
    client: TestClient, node: ContractNode, stream_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backend B really tries Amazon Transcribe; where it cannot (no SDK/network here) the client
    is told so, never handed made-up text."""
    pytest.importorskip("scaiecho.adapters.managed_stt")
    monkeypatch.setenv("SCAIECHO_STREAM_BACKEND_BY_TENANT", json.dumps({"acme": "B"}))
    _reset_settings()
    try:
        import amazon_transcribe  # type: ignore[import-not-found]  # noqa: F401
        pytest.skip("amazon-transcribe is installed; this checks the unavailable path")
    except ImportError:
        pass
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame())
        error = ws.receive_json()
        assert error["code"] == "backend_unavailable" and "amazon-transcribe" in error["message"]
        assert_closed_by_server(ws)
    assert sessions() == 0


# ---------------------------------------------------------------- match_me (voice profiles)


def seed_voice_profile(samples: np.ndarray, tenant: str = "acme", user: str = "alice") -> None:
    from scaiecho.adapters.tables import utcnow
    from scaiecho.adapters.voice_profiles import VoiceProfileStore
    from scaiecho.domain.speakers import new_id
    from scaiecho.domain.voice_profiles import VoiceProfile, subject_id

    VoiceProfileStore().put(VoiceProfile(
        tenant_id=tenant, user_id=user, profile_id=new_id("vp"), provider="pyannote",
        consent_version="2026-01", created_at=utcnow(), sample_duration_s=7.0, dim=32,
        model_id=None, model_version=None,
        sealed_embedding=VoiceprintCipher().seal(spectrum_embedding(samples), tenant_id=tenant,
                                                 subject_id=subject_id(user)),
    ))


def test_match_me_scores_the_callers_voice_high_and_others_low(
    client: TestClient, node: ContractNode, make_key: Any
) -> None:
    key = make_key("acme", "scaiecho:transcribe,scaiecho:diarize", user_id="alice")
    seed_voice_profile(voice(VOICE_A, seed=7))
    audio = np.concatenate([voice(VOICE_A), silence(1.0), voice(VOICE_B, seed=3), silence(1.0)])
    with client.websocket_connect(STREAM, headers=auth(key)) as ws:
        ws.send_json(open_frame(match_me=True))
        assert ws.receive_json()["type"] == "ready"
        send_audio(ws, pcm16(audio))
        ws.send_json({"type": "close"})
        frames = until(ws, "closed")
    deltas = [f for f in frames if f["type"] == "delta"]
    assert [d["speaker_label"] for d in deltas] == ["spk_0", "spk_1"]
    assert deltas[0]["voiceMatchScore"] >= 0.8 and deltas[1]["voiceMatchScore"] <= 0.2
    # nothing else about the profile: no id, no cosine, no embedding
    assert all(set(d) <= {"type", "seq", "text", "start", "end", "final", "speaker_label",
                          "voiceMatchScore"} for d in deltas)


def test_match_me_gates_and_a_missing_profile(client: TestClient, node: ContractNode, make_key: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    alice = make_key("acme", "scaiecho:transcribe,scaiecho:diarize", user_id="alice")
    nobody = make_key("acme", "scaiecho:transcribe,scaiecho:diarize")
    cases = [(alice, open_frame(match_me=True, diarize=False), "match_me_needs_diarize"),
             (alice, open_frame(match_me="yes"), "invalid_open"),
             (nobody, open_frame(match_me=True), "user_key_required")]
    for key, frame, code in cases:
        with client.websocket_connect(STREAM, headers=auth(key)) as ws:
            ws.send_json(frame)
            error = ws.receive_json()
            assert error["type"] == "error" and error["code"] == code, error
    # no profile yet: the session opens, says so once, and deltas carry no score
    with client.websocket_connect(STREAM, headers=auth(alice)) as ws:
        ws.send_json(open_frame(match_me=True))
        assert ws.receive_json()["type"] == "ready"
        assert ws.receive_json()["code"] == "voice_profile_unavailable"
        send_audio(ws, pcm16(np.concatenate([voice(VOICE_A), silence(1.0)])))
        ws.send_json({"type": "close"})
        deltas = [f for f in until(ws, "closed") if f["type"] == "delta"]
    assert deltas and all("voiceMatchScore" not in d for d in deltas)
    monkeypatch.setenv("SCAIECHO_VOICE_PROFILES_ENABLED_BY_TENANT", '{"acme": false}')
    _reset_settings()
    with client.websocket_connect(STREAM, headers=auth(alice)) as ws:
        ws.send_json(open_frame(match_me=True))
        assert ws.receive_json()["code"] == "feature_not_available"
    assert sessions() == 0


# ---------------------------------------------------------------- capacity and lag


def test_a_stream_past_the_nodes_capacity_is_refused_at_open(
    client: TestClient, node: ContractNode, make_key: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCAIECHO_STREAM_CAPACITY_PER_NODE", "1")
    _reset_settings()
    other_tenant = make_key("globex", "scaiecho:transcribe")  # capacity is the nodes', not a tenant's
    with client.websocket_connect(STREAM, headers=auth(make_key("acme", "scaiecho:transcribe"))) as first:
        first.send_json(open_frame(diarize=False))
        assert first.receive_json()["type"] == "ready"
        with client.websocket_connect(STREAM, headers=auth(other_tenant)) as second:
            second.send_json(open_frame(diarize=False))
            error = second.receive_json()
            assert error["code"] == "capacity_exhausted"
            assert error["retry_after_s"] > 0 and error["capacity"] == 1
            assert_closed_by_server(second)
        first.send_json({"type": "close"})
        until(first, "closed")
    # the slot is free again once the first stream ended
    with client.websocket_connect(STREAM, headers=auth(other_tenant)) as third:
        third.send_json(open_frame(diarize=False))
        assert third.receive_json()["type"] == "ready"


def test_a_session_behind_its_audio_is_told_and_goes_on(
    client: TestClient, node: ContractNode, stream_key: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # any lag at all counts as behind here; the node round trip always takes some
    monkeypatch.setenv("SCAIECHO_STREAM_BEHIND_S", "0.000001")
    _reset_settings()
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame())
        ws.receive_json()
        send_audio(ws, pcm16(np.concatenate([voice(VOICE_A), silence(1.0)])))
        ws.send_json({"type": "close"})
        frames = until(ws, "closed")
        while frames[-1]["type"] != "closed":  # error frames are not the end here
            frames += until(ws, "closed")
    behind = [f for f in frames if f.get("code") == "falling_behind"]
    assert behind and behind[0]["lag_s"] >= 0 and "behind" in behind[0]["message"]
    assert [f["type"] for f in frames].count("delta") == 1  # the delta still came


def test_stream_work_asks_the_node_for_realtime_priority_without_word_alignment(
    client: TestClient, node: ContractNode, stream_key: str,
) -> None:
    with client.websocket_connect(STREAM, headers=auth(stream_key)) as ws:
        ws.send_json(open_frame())
        ws.receive_json()
        send_audio(ws, pcm16(np.concatenate([voice(VOICE_B), silence(1.0)])))
        ws.send_json({"type": "close"})
        until(ws, "closed")
    sent = [r for r in node.requests if r["action"] in ("transcribe", "embed")]
    assert {r["action"] for r in sent} == {"transcribe", "embed"}
    assert all(r["priority"] == "realtime" for r in sent)
    assert [r["word_timestamps"] for r in sent if r["action"] == "transcribe"] == [False]


def test_opens_at_the_same_instant_keep_exactly_the_capacity(
    node: ContractNode, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both opens pass the count taken before saving; ranking after saving keeps the first."""
    from scaiecho.adapters.connections import StreamSession
    from scaiecho.domain.streaming import StreamError
    from scaiecho.services.streaming import StreamSessionHandler

    monkeypatch.setenv("SCAIECHO_STREAM_CAPACITY_PER_NODE", "1")
    _reset_settings()
    store = ConnectionStore()
    now = time.time()
    sessions_ = []
    for cid in ("conn-b", "conn-a"):  # same instant: the id breaks the tie
        s = store.create(StreamSession(connection_id=cid, tenant_id="acme", key_id="k", scopes=""))
        s.status, s.opened_at = "open", now
        assert store.save(s)
        sessions_.append(store.get(cid))
    handler = StreamSessionHandler(replies=None)  # type: ignore[arg-type]
    handler._admit(1, sessions_[1])  # conn-a: first in order, admitted
    with pytest.raises(StreamError) as refused:
        handler._admit(1, sessions_[0])  # conn-b: one ahead of it, over a capacity of 1
    assert refused.value.code == "capacity_exhausted" and refused.value.fatal


# ---------------------------------------------------------------- pending audio, frame by frame


class _Collected:
    """The reply channel of a handler driven directly (no socket): what it would send."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def send(self, connection_id: str, frame: dict[str, Any]) -> bool:
        self.frames.append(frame)
        return True

    def close(self, connection_id: str) -> None:
        pass


def _opened(cid: str) -> tuple[Any, _Collected]:
    from scaiecho.adapters.connections import StreamSession
    from scaiecho.services.streaming import StreamSessionHandler

    ConnectionStore().create(StreamSession(connection_id=cid, tenant_id="acme", key_id="k",
                                           scopes="scaiecho:transcribe"))
    replies = _Collected()
    handler = StreamSessionHandler(replies=replies)
    handler.handle(cid, json.dumps(open_frame(diarize=False)), binary=False)
    assert replies.frames[-1]["type"] == "ready"
    return handler, replies


def test_the_session_row_holds_no_audio_and_each_frame_writes_only_its_own(node: ContractNode) -> None:
    handler, _ = _opened("conn-row")
    speech = pcm16(np.concatenate([voice(VOICE_A, seconds=3.0, seed=i) for i in range(2)]))  # 6 s
    sizes = []
    for i in range(0, len(speech), 6400):  # 200 ms frames, no pause: one utterance in progress
        handler.handle("conn-row", speech[i:i + 6400], binary=True)
        row = ConnectionRow.get("conn-row", consistent_read=True)
        sizes.append(len(json.dumps(row.serialize(), default=str)))
    chunks = audio_chunks("conn-row")
    assert len(chunks) == len(sizes) == 30 and all(len(c.pcm) == 6400 for c in chunks)
    assert b"".join(c.pcm for c in sorted(chunks, key=lambda c: c.chunk)) == speech
    # the row grows by the VAD's 4 bytes per 10 ms, not by the audio's 320 bytes
    assert sizes[-1] - sizes[0] < 0.05 * (len(speech) - 6400) and sizes[-1] < 20_000
    assert not [r for r in node.requests if r["action"] == "transcribe"]


def test_a_frame_that_loses_the_race_redoes_its_work_and_leaves_no_orphan_audio(
    node: ContractNode,
) -> None:
    """Two Lambdas handle two frames of one connection at once: the one whose compare-and-set
    fails deletes the audio it stored, re-reads the session and appends after the winner."""
    handler, _ = _opened("conn-race")
    first, second = pcm16(voice(VOICE_A, seconds=0.4)), pcm16(voice(VOICE_A, seconds=0.4, seed=2))
    stale = ConnectionStore().get("conn-race")  # what the slower Lambda read
    assert stale is not None
    handler.handle("conn-race", first, binary=True)  # the faster one saves first
    handler._audio(stale, second)
    row = ConnectionRow.get("conn-race", consistent_read=True)
    chunks = audio_chunks("conn-race")
    assert sorted(c.chunk for c in chunks) == row.chunks.split() and len(chunks) == 2
    assert b"".join(c.pcm for c in sorted(chunks, key=lambda c: c.chunk)) == first + second
    handler.handle("conn-race", json.dumps({"type": "close"}), binary=False)
    assert audio_chunks("conn-race") == [] and sessions() == 0
