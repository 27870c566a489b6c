"""Streaming over a real WebSocket against `make run`'s stack with two real nodes: two enrolled
LibriSpeech readers and one unenrolled reader, streamed as one recording."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from scaiecho.local.stack import ALL_SCOPES, LocalStack
from scaiecho.local.stream_client import stream_samples
from scaiecho.services.keys import create_key
from tests.e2e.speech import FIXTURES, RATE, enroll_part, read

pytestmark = pytest.mark.e2e
ENROLL_S = 7.0  # enroll from the first 7 s of each reader, stream the rest








@pytest.fixture(scope="module")
def tenant_key(stack: LocalStack) -> str:
    # a tenant of its own: the other e2e tests enroll these readers for the demo tenant
    return create_key("e2e-stream", ALL_SCOPES).api_key


def test_enrolled_speakers_are_named_and_a_stranger_gets_a_session_label(
    stack: LocalStack, tenant_key: str
) -> None:
    female = read(FIXTURES / "speech" / "speaker_f_103.flac")
    male = read(FIXTURES / "speech" / "speaker_m_1040.flac")
    stranger = read(FIXTURES / "audio" / "1034-121119-0000.flac")  # not enrolled
    split = int(ENROLL_S * RATE)
    with httpx.Client(base_url=stack.api_url, timeout=300,
                      headers={"Authorization": f"Bearer {tenant_key}"}) as http:
        f_id = enroll_part(http, "Reader 103", female[:split], reader="103",
                           purpose="label me in live captions")
        m_id = enroll_part(http, "Reader 1040", male[:split], reader="1040",
                           purpose="label me in live captions")

    gap = np.zeros(RATE, dtype=np.float32)
    parts = [female[split:], male[split:], stranger]
    bounds, t = [], 0.0
    for part in parts:
        bounds.append((t, t + part.size / RATE))
        t += part.size / RATE + 1.0
    recording = np.concatenate([parts[0], gap, parts[1], gap, parts[2], gap])

    result = stream_samples(stack.stream_url, tenant_key, recording, diarize=True, language="en",
                            speed=0)

    assert result.frames[0] == {"type": "ready", "backend_used": "A"}
    assert result.off_contract == []  # every frame matches docs/asyncapi.json's models
    assert result.frames[-1] == {"type": "closed"}, result.frames[-3:]
    assert not result.problems, result.problems  # falling_behind is timing: the bench measures it

    def labels_in(part: int) -> list[tuple[str | None, str]]:
        lo, hi = bounds[part]
        return [(d.get("speaker_label"), d["text"]) for d in result.deltas
                if lo - 0.5 <= (d["start"] + d["end"]) / 2 <= hi + 0.5]

    female_deltas, male_deltas, stranger_deltas = labels_in(0), labels_in(1), labels_in(2)
    assert female_deltas and male_deltas and stranger_deltas, result.deltas
    assert {label for label, _ in female_deltas} == {f_id}, female_deltas
    assert {label for label, _ in male_deltas} == {m_id}, male_deltas
    stranger_labels = {label for label, _ in stranger_deltas}
    assert stranger_labels and all(str(label).startswith("spk_") for label in stranger_labels), \
        stranger_deltas
    assert all(text.strip() for _, text in female_deltas + male_deltas + stranger_deltas)
    words = " ".join(text for _, text in female_deltas + male_deltas + stranger_deltas).lower().split()
    assert len(words) > 30  # ~21 s of read speech
    named = {d["speaker_label"]: d.get("speaker_name") for d in result.deltas if "speaker_name" in d}
    assert named == {f_id: "Reader 103", m_id: "Reader 1040"}


def test_stream_without_diarize_has_text_and_no_labels(stack: LocalStack, tenant_key: str) -> None:
    speech = read(FIXTURES / "audio" / "26-495-0000.flac")
    result = stream_samples(stack.stream_url, tenant_key, speech, diarize=False, speed=0)
    assert result.frames[-1] == {"type": "closed"} and result.deltas
    assert all("speaker_label" not in d for d in result.deltas)
    assert " ".join(d["text"] for d in result.deltas).strip()


