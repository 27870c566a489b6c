"""The real node's transcribe + diarize output through the core's real merge and exports.

Both sides are real (Whisper tiny.en and pyannote on the node, ``domain.transcripts`` in the
core), so a drift in how the node spells words or turns breaks this test, not a user's
transcript. Speech: two LibriSpeech readers back to back (CC BY 4.0, see fixtures CREDITS).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import FIXTURES

pytestmark = pytest.mark.model
SR = 16000


@pytest.fixture(scope="module")
def conversation() -> Any:
    from scaiecho.audio.decode import DecodedAudio

    a, _ = sf.read(FIXTURES / "speech" / "speaker_f_103.flac", dtype="float32")
    b, _ = sf.read(FIXTURES / "speech" / "speaker_m_1040.flac", dtype="float32")
    x = np.concatenate([a, np.zeros(SR, np.float32), b])
    return DecodedAudio(x, SR, "wav", SR, 1, 0.0)


def test_node_output_merges_into_readable_text_and_full_turns(engine: Any, conversation: Any) -> None:
    from scaiecho.domain.exports import to_rttm
    from scaiecho.domain.transcripts import merge

    asr = engine.transcribe(conversation, "en").serialize()
    diarization = engine.diarize(conversation).serialize()
    transcript = merge(asr, diarization, diarize=True).serialize()

    speech = [s for s in transcript["segments"] if s["type"] == "speech"]
    text = " ".join(s["text"] for s in speech if s["text"])
    words = re.findall(r"[A-Za-z']+", text)
    # readable English: words separated by spaces, no glued runs, no doubled spaces
    assert len(words) >= 20, text
    assert max(len(w) for w in words) < 20, text
    assert "  " not in text and all(s["text"] == s["text"].strip() for s in speech)
    asr_text = re.sub(r"\s+", " ", " ".join(s["text"] for s in asr["segments"])).strip()
    assert re.sub(r"\W", "", text) == re.sub(r"\W", "", asr_text)  # every word kept, once

    # every diarized turn is in the transcript and in the RTTM, under one label scheme
    assert len(transcript["turns"]) == len(diarization["turns"])
    rttm = to_rttm(transcript, "conv").splitlines()
    assert len(rttm) == len(diarization["turns"])
    assert transcript["speakers"]["count"] == diarization["num_speakers"] >= 2
    assert {s["speaker"] for s in speech} <= set(transcript["speakers"]["labels"]) | {None}
