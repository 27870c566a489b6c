"""A tiny process honouring the node's SageMaker ``/invocations`` contract, for tests about
routing, workflows and erasure (the real engine is tested in tests/node and tests/e2e).

It answers ``health`` and ``evict`` (recording what it was asked to evict) and rejects any other
action with the node's JSON error shape, as the real dispatcher does. ``answers`` scripts other
actions: a fixed ``(status, JSON body)`` or a function of the request body giving one, e.g. to
make ``diarize`` fail; every request body is kept in ``requests``.

:class:`SpeechScript` scripts ``embed`` and ``transcribe`` for enrollment's consent checks: it
knows whose voice each recording is (by its bytes' sha256) and what it says, so a test states
"this recording is reader 103 saying the consent text" and the real checks run on the answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

SPEECH = Path(__file__).parent / "fixtures" / "speech"
CONSENT_TEXT = "I agree that ScaiEcho may create and store a voiceprint of my voice."
EMBEDDING_DIM = 192

ActionHandler = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
Answer = tuple[int, dict[str, Any]] | ActionHandler


class ContractNode:
    def __init__(self, model_id: str = "contract-node",
                 answers: dict[str, Answer] | None = None) -> None:
        self.evicted: list[str] = []
        self.answers = dict(answers or {})
        self.requests: list[dict[str, Any]] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.requests.append(body)
                status, out = 200, {"data": {"model_id": model_id, "device": "cpu"}}
                if body.get("action") in node.answers:
                    answer = node.answers[body["action"]]
                    status, out = answer(body) if callable(answer) else answer
                elif body.get("action") == "evict":
                    node.evicted += body["speaker_ids"]
                    out = {"data": {"evicted": body["speaker_ids"], "not_held": []}}
                elif body.get("action") != "health":
                    status, out = 400, {"error": {"code": "unknown_action", "message": "bad action"}}
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def registered(answers: dict[str, Answer] | None = None, *, node_id: str = "node-1",
               online: bool = False, model_id: str = "contract-node") -> Iterator[ContractNode]:
    """A contract node registered in the nodes table as ``node_id`` (endpoint
    ``scaiecho-local-<node_id>``, which moto's SageMaker runtime routes to it); stopped after.
    ``online`` records a successful probe, as the node-probe workflow would."""
    from scaiecho.adapters.nodes import NodeStore
    from scaiecho.contracts.node import HealthResult
    from scaiecho.local import moto_patches

    node = ContractNode(model_id, answers)
    store = NodeStore()
    store.register(node_id, f"scaiecho-local-{node_id}")
    if online:
        store.record_probe(node_id, online=True, health=HealthResult(model_id=model_id), error=None)
    moto_patches.register_endpoint(f"scaiecho-local-{node_id}", node.url)
    try:
        yield node
    finally:
        node.stop()


def voice_embedding(voice: str) -> list[float]:
    """A stable unit vector per voice label: two labels are near-orthogonal (cosine ~0 ± 0.1)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(voice.encode()).digest()[:8], "big"))
    vector = rng.standard_normal(EMBEDDING_DIM)
    return [float(x) for x in vector / np.linalg.norm(vector)]


class SpeechScript:
    """Scripted ``embed`` / ``transcribe``: ``voices`` maps a recording's bytes to a voice label,
    ``said`` to what it says. Unknown recordings are a voice of their own saying nothing useful.
    Audio sent by S3 reference (the enrollment fan-out) is read from the (moto) bucket.
    By default the fixtures: reader 103 (reference and consent_103, which says ``CONSENT_TEXT``),
    reader 200 (consent_200, saying something else), reader 1040."""

    def __init__(self, voices: dict[bytes, str] | None = None, said: dict[bytes, str] | None = None,
                 model_version: str = "contract-1") -> None:
        self.voices = {_sha(k): v for k, v in (voices or self.fixture_voices()).items()}
        self.said = {_sha(k): v for k, v in (said or self.fixture_said()).items()}
        self.model_version = model_version

    @staticmethod
    def fixture_voices() -> dict[bytes, str]:
        return {(SPEECH / "speaker_f_103.flac").read_bytes(): "reader-103",
                (SPEECH / "consent_103.flac").read_bytes(): "reader-103",
                (SPEECH / "consent_200.flac").read_bytes(): "reader-200",
                (SPEECH / "speaker_m_1040.flac").read_bytes(): "reader-1040"}

    @staticmethod
    def fixture_said() -> dict[bytes, str]:
        return {(SPEECH / "consent_103.flac").read_bytes(): CONSENT_TEXT,
                (SPEECH / "consent_200.flac").read_bytes():
                    "with Mr. Bingley's, she could not make a very favorable answer."}

    def same_voice(self, recording: bytes, voice: str) -> None:
        self.voices[_sha(recording)] = voice

    def says(self, recording: bytes, text: str) -> None:
        self.said[_sha(recording)] = text

    def answers(self) -> dict[str, Answer]:
        return {"embed": self.embed, "transcribe": self.transcribe}

    def wrap(self, answers: dict[str, Answer]) -> dict[str, Answer]:
        """``answers`` (a test's own node script) with this script in front for the recordings
        it knows: enrollment's checks hear the fixtures; everything else gets the test's answer."""
        out = dict(answers)
        for action, own in self.answers().items():
            theirs = answers.get(action)
            known = self.voices if action == "embed" else self.said
            out[action] = own if theirs is None else self._known_first(own, theirs, known)
        return out

    @staticmethod
    def _known_first(own: ActionHandler, theirs: Answer, known: dict[str, str]) -> ActionHandler:
        def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            inline = "b64" in body.get("audio", {})  # the intake's checks; S3 is the fan-out's
            if inline and _sha(_audio(body)) in known:
                return own(body)
            return theirs(body) if callable(theirs) else theirs
        return answer

    def embed(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        digest = _sha(_audio(body))
        return 200, {"data": {"embedding": voice_embedding(self.voices.get(digest, digest)),
                              "speech_s": 6.0, "model_id": "contract-node",
                              "model_version": self.model_version}}

    def transcribe(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        text = self.said.get(_sha(_audio(body)), "")
        return 200, {"data": {"language": "en", "segments": [{"start": 0.0, "end": 5.0, "text": text,
                                                              "words": []}]}}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _audio(body: dict[str, Any]) -> bytes:
    audio = body["audio"]
    if "b64" in audio:
        return base64.b64decode(audio["b64"])
    import boto3  # the fan-out's S3 reference: the test's moto bucket (mock_aws is process-wide)

    ref = audio["s3"]
    return bytes(boto3.client("s3", region_name="us-east-1").get_object(
        Bucket=ref["bucket"], Key=ref["key"])["Body"].read())
