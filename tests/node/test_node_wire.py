"""The node contract across the real wire: the real node process (``scaiecho_node.serve``, the
real engine and model) answering the real typed ``NodeClient`` through the SageMaker runtime
(moto routes ``InvokeEndpoint`` to the node, as in the local stack). Nothing is mocked on the
node's side.

Audio goes inline: the node process cannot reach this process's in-memory moto S3 (S3 references
are parsed by the same contract and read in tests/node/test_invocation.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from scaiecho.contracts.node import Candidate, InlineAudio
from scaiecho.errors import NodeError
from tests.node.conftest import read_audio

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
ENDPOINT = "scaiecho-local-wire-node"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def node_url(model_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "SCAIECHO_MODEL_DIR": str(model_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaiecho_node.serve", "--port", str(port), "--node-id", "wire"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, "the node process exited"
            assert time.monotonic() < deadline, "the node did not become ready"
            time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def client(aws: Any, node_url: str) -> Any:
    from scaiecho.adapters.nodes import NodeClient
    from scaiecho.local import moto_patches

    moto_patches.register_endpoint(ENDPOINT, node_url)
    yield NodeClient()
    moto_patches.unregister_endpoint(ENDPOINT)


def _complete(reply: BaseModel) -> None:
    """The node sends every field of its reply model (defaults exist for readers only)."""
    assert reply.model_fields_set == set(type(reply).model_fields), reply


def flac(name: str) -> InlineAudio:
    return InlineAudio.of((SPEECH / name).read_bytes(), "audio/flac")


def test_health_embed_diarize_evict_over_the_wire(client: Any) -> None:
    health = client.health(ENDPOINT)
    _complete(health)
    assert (health.status, health.node_id, health.engine) == ("ok", "wire", "pyannote")

    voice = client.embed(ENDPOINT, flac("speaker_f_103.flac"), priority="realtime")
    _complete(voice)
    assert voice.dimension == len(voice.embedding) == health.embedding_dim
    assert voice.quality is not None and voice.speech_s and voice.speech_s > 3.0

    diarized = client.diarize(
        ENDPOINT, flac("consent_103.flac"), priority="batch", max_speakers=2,
        candidates=[Candidate(speaker_id="spk_103", embedding=voice.embedding)],
    )
    _complete(diarized)
    assert diarized.turns and diarized.num_speakers == len(diarized.speakers) >= 1
    assert [i.speaker_id for i in diarized.identified.values()] == ["spk_103"]
    assert all(len(s.embedding) == health.embedding_dim for s in diarized.speakers)

    evicted = client.evict(ENDPOINT, ["spk_103", "never_seen"])
    _complete(evicted)
    # the node keeps no voiceprint after a request: it confirms that nothing is held
    assert (evicted.evicted, evicted.not_held) == ([], ["spk_103", "never_seen"])


def test_transcribe_over_the_wire(client: Any) -> None:
    result = client.transcribe(ENDPOINT, flac("consent_103.flac"), language="en")
    _complete(result)
    assert result.language == "en" and result.segments and result.segments[0].words
    assert "brook" in result.text.lower()  # reader 103 reads Anne of Green Gables
    plain = client.transcribe(ENDPOINT, flac("consent_103.flac"), word_timestamps=False)
    assert plain.segments and not any(s.words for s in plain.segments)


def test_a_refused_request_is_a_typed_node_error(client: Any) -> None:
    """The node's one error body reaches the client with its code and status."""
    with pytest.raises(NodeError) as refused:
        client.transcribe(ENDPOINT, flac("consent_103.flac"), language="de")
    assert refused.value.details == {"node_code": "unsupported_language", "node_status": 422}
    with pytest.raises(NodeError) as undecodable:
        client.embed(ENDPOINT, InlineAudio.of(b"hello, not audio"))
    assert undecodable.value.details == {"node_code": "unsupported_media_type", "node_status": 415}


def test_the_node_reads_todays_raw_requests(node_url: str) -> None:
    """Wire compatibility: the dict a pre-contract client sent still gets the same reply shape."""
    body = json.dumps({"action": "embed", "audio": {
        "b64": InlineAudio.of(read_audio("sample.wav")).b64, "media_type": "audio/wav"}}).encode()
    req = urllib.request.Request(f"{node_url}/invocations", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        data = json.loads(resp.read())["data"]
    assert list(data) == ["embedding", "dimension", "speech_s", "quality", "model_id",
                          "model_version", "warnings"]
