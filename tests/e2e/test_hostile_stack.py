"""A slice of the hostile-input suite over the real local stack (uvicorn, moto server, real node
processes): the same answers over real HTTP and WebSocket as in-process, and nothing stored."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import boto3
import httpx
import pytest
from websockets.sync.client import connect

from scaiecho.local.stack import LocalStack
from tests.hostile_audio import flac_silence, wav

pytestmark = pytest.mark.e2e
OCTET = "application/octet-stream"


def _hex(value: Any) -> str:
    """Binary attributes (sealed voiceprints, hashes) compared by their bytes."""
    return bytes(value).hex()


def _state(stack: LocalStack) -> dict[str, Any]:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")
    ddb = session.client("dynamodb", endpoint_url=stack.moto_url)
    s3 = session.client("s3", endpoint_url=stack.moto_url)
    out: dict[str, Any] = {}
    for table in ddb.list_tables()["TableNames"]:
        if table.endswith("-nodes"):
            continue  # the node probe refreshes last_seen in the background
        items = ddb.scan(TableName=table)["Items"]
        out[table] = sorted(json.dumps(i, sort_keys=True, default=_hex) for i in items)
    for bucket in stack.provisioned.buckets:
        versions = s3.list_object_versions(Bucket=bucket)
        out[bucket] = sorted(v["Key"] + v["VersionId"] for v in versions.get("Versions", []))
    return out


CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("/preflight", {"files": {"audio": ("a.wav", wav(rate=1), OCTET)}}, 422, "audio_sample_rate_unsupported"),
    ("/preflight", {"files": {"audio": ("a.wav", wav(tag=0x1234), OCTET)}}, 415, "unsupported_audio_codec"),
    ("/preflight", {"files": {"audio": ("a.flac", flac_silence(700, hide_length=True), OCTET)}}, 422,
     "audio_too_long"),
    ("/speakers", {"files": {"reference": ("r.wav", wav(tag=0xFFFE), OCTET)}}, 422, "missing_field"),
    ("/transcribe", {"content": b'{"audio_urls": ["\\ud800"], "language": "\\ud800"}',
                     "headers": {"Content-Type": "application/json"}}, 422, "audio_url_not_allowed"),
    ("/transcribe", {"content": b"[" * 50_000 + b"]" * 50_000,
                     "headers": {"Content-Type": "application/json"}}, 422, "invalid_json"),
]


@pytest.mark.parametrize(("path", "request_kwargs", "status", "code"), CASES)
def test_hostile_requests_over_http(stack: LocalStack, http: httpx.Client, path: str,
                                    request_kwargs: dict[str, Any], status: int, code: str) -> None:
    before = _state(stack)
    resp = http.post(path, **request_kwargs)
    assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
    assert _state(stack) == before


def test_a_declared_terabyte_is_refused_before_any_byte_is_read(stack: LocalStack) -> None:
    # Raw HTTP: a client library would not send a Content-Length it does not mean to honour.
    port = int(stack.api_url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall((f"POST /v1/modules/scaiecho/transcribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Bearer {stack.demo_api_key}\r\n"
                      "Content-Type: multipart/form-data; boundary=x\r\n"
                      f"Content-Length: {10**12}\r\n\r\n").encode())
        answer = b""
        while b"}}" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "request_too_large"


def test_forged_cursor_and_public_health(stack: LocalStack, http: httpx.Client) -> None:
    forged = http.get("/speakers", params={"cursor": "eyJ0ZW5hbnRfaWQiOiB7IlMiOiA3fX0="})
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "invalid_cursor"
    public = httpx.get(f"{stack.api_url}/health").json()["data"]
    assert set(public["parts"]) == {"dynamodb", "s3", "stepfunctions", "nodes"}
    assert all(set(p) == {"status"} for p in public["parts"].values())  # no errors, no node ids


def test_hostile_websocket_frames(stack: LocalStack) -> None:
    before = _state(stack)
    headers = {"Authorization": f"Bearer {stack.demo_api_key}"}
    with connect(stack.stream_url, additional_headers=headers) as ws:
        ws.send('{"type": NaN}')
        assert json.loads(ws.recv())["code"] == "invalid_json"
        ws.send("[" * 16_000 + "]" * 16_000)
        assert json.loads(ws.recv())["code"] == "invalid_json"
        ws.send(json.dumps({"type": "open", "media_type": "audio/wav", "language_hint": "en"}))
        assert json.loads(ws.recv())["type"] == "ready"
        ws.send(wav(rate=1, frames=0)[:44])
        assert json.loads(ws.recv())["code"] == "unsupported_wav_format"
    deadline = time.monotonic() + 10  # the server handles the disconnect after the client left
    while _state(stack) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _state(stack) == before
