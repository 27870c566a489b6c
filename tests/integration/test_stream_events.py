"""The WebSocket functions replayed with their sample events (as `sam local invoke` would), replies
going through the real ``@connections`` client (moto's management API records what was posted)."""

from __future__ import annotations

import json
import time
from typing import Any

from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from scaiecho.adapters.connections import ConnectionStore
from tests.events import call_handler, load_event


def invoke(function: str, event: str, **placeholders: str) -> dict[str, Any]:
    result: dict[str, Any] = call_handler(function, load_event(function, event, **placeholders))
    return result


def posted(connection_id: str) -> list[dict[str, Any]]:
    """Frames moto received for the connection (it concatenates the posted bodies)."""
    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    raw = backend.connections[connection_id].data.decode() if connection_id in backend.connections else ""
    frames, decoder, i = [], json.JSONDecoder(), 0
    while i < len(raw):
        frame, i = decoder.raw_decode(raw, i)
        frames.append(frame)
    return frames


def test_connect_default_disconnect_events(aws: Any) -> None:
    refused = invoke("stream_connect", "connect_authorized", CONNECTION_ID="c1", SCOPES="scaiecho:enroll")
    assert refused["statusCode"] == 403
    assert json.loads(refused["body"])["error"]["code"] == "insufficient_scope"
    assert ConnectionStore().get("c1") is None

    ok = invoke("stream_connect", "connect_authorized", CONNECTION_ID="c2",
                SCOPES="scaiecho:transcribe")
    assert ok == {"statusCode": 200}
    session = ConnectionStore().get("c2")
    assert session is not None and session.tenant_id == "acme"
    assert session.reply_endpoint == "https://ws123.execute-api.us-east-1.amazonaws.com/dev"

    assert invoke("stream_default", "unknown_type", CONNECTION_ID="c2") == {"statusCode": 200}
    assert posted("c2")[-1]["code"] == "unknown_type"
    assert ConnectionStore().get("c2") is not None  # not fatal

    # open with no node online: a clear error, the session is gone and the connection closed
    invoke("stream_default", "open_frame", CONNECTION_ID="c2")
    assert posted("c2") == []  # moto forgets a connection that was deleted via @connections
    assert ConnectionStore().get("c2") is None

    assert invoke("stream_disconnect", "disconnect", CONNECTION_ID="c2") == {"statusCode": 200}


def test_idle_sweep_event_ends_idle_sessions(aws: Any, monkeypatch: Any) -> None:
    invoke("stream_connect", "connect_authorized", CONNECTION_ID="c3", SCOPES="scaiecho:transcribe")
    assert invoke("stream_idle_sweep", "schedule") == {"ended": 0}
    monkeypatch.setenv("SCAIECHO_STREAM_IDLE_TIMEOUT_S", "0.05")
    from tests.conftest import _reset_settings

    _reset_settings()
    time.sleep(0.1)
    assert invoke("stream_idle_sweep", "schedule") == {"ended": 1}
    assert ConnectionStore().get("c3") is None
