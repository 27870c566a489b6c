"""The transcription-job API document's own example requests (../shared/seeds/003_…), run against
the local stack as its clients write them: `X-API-Key`, JSON `audio_urls` with `https://` URLs,
`diarization_config`; only the host (a local HTTPS server on 127.0.0.1, allowed through the
operator allowlist) and the key differ. The recordings are real speech (two LibriSpeech readers,
fixtures/speech/CREDITS.md) encoded as MP3, as the document's `interview.mp3` / `panel.mp3`.

This deployment's speech-to-text is Whisper tiny.en: the document's `"language": "am"` is answered
422 `unsupported_language` (the request is understood; the model cannot do Amharic), and its
`nemo` backend 422 `backend_not_available` (no such node here). The same requests with
`"language": "en"` run end to end, one of them as a batch.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import av
import httpx
import numpy as np
import pytest

from scaiecho.local.stack import ALL_SCOPES, LocalStack
from tests.audio_server import AudioServer, send, serving
from tests.e2e.speech import FIXTURES, read

pytestmark = pytest.mark.e2e
TWO_DECIMALS = re.compile(r"^\d+\.\d\d$")


def mp3(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="fltp",
                                           layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


@pytest.fixture(scope="module")
def audio_host(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudioServer]:
    """HTTPS on 127.0.0.1 with a generated certificate that the stack's process trusts
    (SSL_CERT_FILE), and the operator allowlist naming 127.0.0.1 (loopback is refused otherwise)."""
    from scaiecho.settings import get_settings

    directory = tmp_path_factory.mktemp("tls")
    female = read(FIXTURES / "speech" / "speaker_f_103.flac")[: 16000 * 8]
    male = read(FIXTURES / "speech" / "speaker_m_1040.flac")[: 16000 * 8]
    pause = np.zeros(8000, dtype=np.float32)
    saved = {k: os.environ.get(k) for k in ("SSL_CERT_FILE", "SCAIECHO_AUDIO_URL_ALLOWLIST")}
    with serving(directory) as (server, _):
        conversation = mp3(np.concatenate([female, pause, male]))
        server.routes.update({"/interview.mp3": send(conversation, "audio/mpeg"),
                              "/panel.mp3": send(conversation, "audio/mpeg"),
                              "/lecture.mp3": send(mp3(male), "audio/mpeg")})
        os.environ["SSL_CERT_FILE"] = str(directory / "cert.pem")
        os.environ["SCAIECHO_AUDIO_URL_ALLOWLIST"] = "127.0.0.1"
        get_settings.cache_clear()
        try:
            yield server
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            get_settings.cache_clear()


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[httpx.Client]:
    """The document's client: `X-API-Key`, JSON bodies, its own tenant."""
    from scaiecho.services.keys import create_key

    key = create_key("jobdoc-e2e", ALL_SCOPES).api_key
    with httpx.Client(base_url=stack.api_url, timeout=300, headers={"X-API-Key": key}) as http:
        yield http


def post(client: httpx.Client, body: str) -> httpx.Response:
    return client.post("/transcribe", content=body.encode(), headers={"Content-Type": "application/json"})


def wait(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        data: dict[str, Any] = client.get(f"/transcribe/{job_id}").json()["data"]
        if data["status"] in ("COMPLETED", "FAILED"):
            return data
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish: {data}")


def check_document_transcript(data: dict[str, Any], url: str) -> None:
    """The shape of the document's example transcript."""
    assert data["status"] == "COMPLETED", data
    assert data["audio_url"] == url and data["language"] == "en"
    assert isinstance(data["duration"], float) and 16 <= data["duration"] <= 18
    labels = data["speakers"]["labels"]
    assert data["speakers"]["count"] == len(labels) >= 2
    assert labels == [f"SPEAKER_{n:02d}" for n in range(len(labels))]  # first appearance
    assert data["warnings"] == [] or all(isinstance(w, str) for w in data["warnings"])
    for n, seg in enumerate(data["segments"]):
        assert seg["id"] == n and seg["type"] in ("speech", "silence")
        assert TWO_DECIMALS.match(seg["start_time"]) and TWO_DECIMALS.match(seg["end_time"]), seg
        assert float(seg["start_time"]) <= float(seg["end_time"])
        assert "speaker" in seg  # diarized: every segment has the field
    speech = [s for s in data["segments"] if s["type"] == "speech" and s["text"]]
    assert speech and {s["speaker"] for s in speech} <= set(labels)
    assert all(s["speaker"] is None for s in data["segments"] if s["type"] != "speech")


def test_example_1_enable_diarization(client: httpx.Client, audio_host: AudioServer) -> None:
    url = f"https://127.0.0.1:{audio_host.port}/interview.mp3"
    as_written = f'''{{
    "audio_urls": ["{url}"],
    "language": "am",
    "diarize": true
  }}'''
    fetched = len(audio_host.hosts)
    resp = post(client, as_written)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unsupported_language" and error["details"]["supported"] == ["en"]
    assert len(audio_host.hosts) == fetched  # refused at submit: nothing fetched

    resp = post(client, as_written.replace('"am"', '"en"'))
    assert resp.status_code == 202, resp.text
    job = resp.json()["data"]
    assert job["status"] == "QUEUED" and job["job_id"].startswith("job_")
    data = wait(client, job["job_id"])
    check_document_transcript(data, url)
    # fetched once, by the workflow (never by the API), Host: naming the URL's host
    assert audio_host.hosts[fetched:] == [f"127.0.0.1:{audio_host.port}"]


def test_example_2_diarization_config_as_a_batch(client: httpx.Client, audio_host: AudioServer) -> None:
    url = f"https://127.0.0.1:{audio_host.port}/panel.mp3"
    as_written = f'''{{
    "audio_urls": ["{url}"],
    "language": "am",
    "diarize": true,
    "diarization_config": {{
      "backend": "pyannote",
      "min_speakers": 2,
      "max_speakers": 5
    }}
  }}'''
    assert post(client, as_written).json()["error"]["code"] == "unsupported_language"
    # The document's batch: the same setting for every file ("no per-file diarization toggle").
    second = f"https://127.0.0.1:{audio_host.port}/interview.mp3"
    batch_body = as_written.replace('"am"', '"en"').replace(f'["{url}"]', f'["{url}", "{second}"]')
    headers = {"Content-Type": "application/json", "Idempotency-Key": "doc-batch-1"}
    resp = client.post("/transcribe", content=batch_body.encode(), headers=headers)
    assert resp.status_code == 202, resp.text
    batch = resp.json()["data"]
    again = client.post("/transcribe", content=batch_body.encode(), headers=headers)
    assert again.status_code == 202 and again.json()["data"] == batch  # a retry: the same batch
    assert [j["audio_url"] for j in batch["jobs"]] == [url, second]

    results = [wait(client, j["job_id"]) for j in batch["jobs"]]
    for n, (data, file_url) in enumerate(zip(results, [url, second], strict=True)):
        check_document_transcript(data, file_url)
        assert (data["batch_id"], data["batch_index"]) == (batch["batch_id"], n)
        assert data["request"]["diarization_config"] == {"backend": "pyannote", "min_speakers": 2,
                                                         "max_speakers": 5}
        assert 2 <= data["speakers"]["count"] <= 5
    listed = client.get(f"/transcribe/batches/{batch['batch_id']}").json()["data"]
    assert listed["status"] == "COMPLETED" and listed["counts"]["COMPLETED"] == 2
    assert [j["job_id"] for j in listed["jobs"]] == [j["job_id"] for j in batch["jobs"]]


def test_example_3_nemo_backend(client: httpx.Client, audio_host: AudioServer) -> None:
    as_written = f'''{{
    "audio_urls": ["https://127.0.0.1:{audio_host.port}/lecture.mp3"],
    "language": "am",
    "diarize": true,
    "diarization_config": {{
      "backend": "nemo"
    }}
  }}'''
    assert post(client, as_written).json()["error"]["code"] == "unsupported_language"
    resp = post(client, as_written.replace('"am"', '"en"'))
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "backend_not_available" and error["details"]["available"] == ["pyannote"]
