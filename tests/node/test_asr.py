"""Speech-to-text on the node: model resolution (pure) and real faster-whisper tiny.en runs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from scaiecho.audio.decode import decode_audio
from scaiecho_node.asr import AsrUnavailable, normalise_language, resolve_asr_model

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def test_language_codes_are_normalised() -> None:
    assert normalise_language("en-US") == "en"
    assert normalise_language("EN_gb") == "en"
    assert normalise_language("  ") is None
    assert normalise_language(None) is None


def test_asr_model_must_be_a_local_directory(tmp_path: Path) -> None:
    # a model *name* would make faster-whisper download weights: refused
    with pytest.raises(AsrUnavailable, match="local CTranslate2"):
        resolve_asr_model("large-v3", None)
    (tmp_path / "model.bin").write_bytes(b"x")
    assert resolve_asr_model(str(tmp_path), None) == tmp_path


def test_a_model_dir_may_carry_its_own_asr_model(tmp_path: Path) -> None:
    (tmp_path / "asr").mkdir()
    (tmp_path / "asr" / "model.bin").write_bytes(b"x")
    assert resolve_asr_model(None, tmp_path) == tmp_path / "asr"


@pytest.mark.model
def test_transcribes_real_speech_with_word_timestamps(engine) -> None:
    audio = decode_audio((SPEECH / "speaker_f_103.flac").read_bytes())
    result = engine.transcribe(audio, "en-US").serialize()
    assert result["language"] == "en"
    assert result["model"] == "whisper-tiny.en"
    text = " ".join(s["text"] for s in result["segments"])
    assert "Rachel" in text  # LibriSpeech 103: "Mrs. Rachel Lynde is surprised"
    words = [w for s in result["segments"] for w in s["words"]]
    assert len(words) > 20
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= result["duration_s"] + 0.05 for w in words)


@pytest.mark.model
def test_transcribe_over_the_contract_rejects_languages_the_model_lacks(engine) -> None:
    from scaiecho_node.invocation import Dispatcher

    audio = {"b64": base64.b64encode((SPEECH / "speaker_m_1040.flac").read_bytes()).decode()}
    status, body = Dispatcher(engine).handle({"action": "transcribe", "audio": audio, "language": "de"})
    assert status == 422 and body["error"]["code"] == "unsupported_language"
    status, body = Dispatcher(engine).handle({"action": "transcribe", "audio": audio, "language": 5})
    assert status == 422 and body["error"]["code"] == "invalid_language"
    status, body = Dispatcher(engine).handle({"action": "transcribe", "audio": audio})
    assert status == 200 and body["data"]["segments"]


def test_short_window_fits_live_utterances_only() -> None:
    from scaiecho_node.asr import SHORT_WINDOW_S, fits_short_window

    assert fits_short_window(8.0)  # the stream endpointer's longest utterance
    assert not fits_short_window(SHORT_WINDOW_S)  # no room for the padding after the speech
    assert not fits_short_window(30.0)


@pytest.mark.model
def test_live_utterances_use_the_short_window_and_say_the_same(engine) -> None:
    import dataclasses

    audio = decode_audio((SPEECH / "speaker_f_103.flac").read_bytes())
    clip = dataclasses.replace(audio, samples=audio.samples[: 6 * audio.sample_rate])
    engine.transcribe(clip, "en", word_timestamps=False)  # loads the model
    asr = engine._asr
    before = asr.short_window_fallbacks
    short = asr.transcribe(clip, "en", word_timestamps=False, short_window=True)
    full = asr.transcribe(clip, "en", word_timestamps=False)  # not a live stream's: full window
    assert short.segments and short.segments[0].words == []
    assert "Rachel" in short.segments[0].text
    assert short.segments[0].text.split()[:4] == full.segments[0].text.split()[:4]
    assert asr.short_window_fallbacks == before  # decoded in the short window, no fallback
    from scaiecho_node.scheduling import Priority, current_priority

    token = current_priority.set(Priority.REALTIME)  # what the dispatcher sets for a stream's request
    try:
        live = asr.transcribe(clip, "en", word_timestamps=False)
    finally:
        current_priority.reset(token)
    assert live.segments[0].text == short.segments[0].text
    worded = asr.transcribe(clip, "en")  # word timestamps (jobs): the full window, words timed
    assert worded.segments[0].words
    silence = dataclasses.replace(audio, samples=audio.samples[:16000] * 0)
    assert asr.transcribe(silence, "en", word_timestamps=False, short_window=True).segments == []
