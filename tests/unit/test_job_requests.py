"""Transcription request validation: each bad value has its own 422 code; audio_urls stay ours."""

from __future__ import annotations

from typing import Any

import pytest

from scaiecho.domain.jobs import (
    audio_key_from_url,
    check_known_fields,
    parse_audio_urls,
    parse_options,
)
from scaiecho.errors import ValidationFailed

BUCKET, REGION = "scaiecho-local-audio", "us-east-1"


def code_of(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationFailed) as err:
        parse_options(doc, supported_languages=("en",))
    return err.value.code


def test_defaults_and_a_full_valid_request() -> None:
    assert parse_options({}, supported_languages=("en",)).serialize() == {"language": None, "diarize": False}
    opts = parse_options(
        {"language": "en-US", "diarize": "true", "speaker_ids": ["spk_a", "spk_a", "spk_b"],
         "diarization_config": {"backend": "pyannote", "min_speakers": 2, "max_speakers": 2}},
        supported_languages=("en",),
    )
    assert opts.language == "en" and opts.diarize
    assert opts.speaker_ids == ("spk_a", "spk_b")
    assert opts.diarization.serialize() == {"backend": "pyannote", "min_speakers": 2, "max_speakers": 2}


@pytest.mark.parametrize(("doc", "code"), [
    ({"diarize": "maybe"}, "invalid_diarize"),
    ({"diarize": 1}, "invalid_diarize"),
    ({"diarization_config": "pyannote"}, "invalid_diarization_config"),
    ({"diarization_config": {"backend": "pyannote", "speakers": 2}}, "invalid_diarization_config"),
    ({"diarization_config": {"backend": "whisperx"}}, "invalid_diarization_backend"),
    ({"diarization_config": {"min_speakers": 0}}, "invalid_min_speakers"),
    ({"diarization_config": {"min_speakers": 21}}, "invalid_min_speakers"),
    ({"diarization_config": {"min_speakers": "2"}}, "invalid_min_speakers"),
    ({"diarization_config": {"min_speakers": True}}, "invalid_min_speakers"),
    ({"diarization_config": {"max_speakers": 0}}, "invalid_max_speakers"),
    ({"diarization_config": {"max_speakers": 25}}, "invalid_max_speakers"),
    ({"diarization_config": {"max_speakers": 2.5}}, "invalid_max_speakers"),
    ({"diarization_config": {"min_speakers": 5, "max_speakers": 3}}, "invalid_speaker_range"),
    ({"language": "English!"}, "invalid_language"),
    ({"language": 7}, "invalid_language"),
    ({"language": "de"}, "unsupported_language"),
    ({"speaker_ids": "spk_a"}, "invalid_speaker_ids"),
    ({"speaker_ids": ["spk_a", ""]}, "invalid_speaker_ids"),
    ({"speaker_ids": [f"spk_{i}" for i in range(101)], "diarize": True}, "invalid_speaker_ids"),
    ({"speaker_ids": ["spk_a"]}, "speaker_ids_need_diarize"),
])
def test_each_bad_value_has_its_code(doc: dict[str, Any], code: str) -> None:
    assert code_of(doc) == code


def test_any_language_when_the_model_is_multilingual() -> None:
    assert parse_options({"language": "de"}, supported_languages=()).language == "de"


def test_unknown_fields_and_audio_url_lists() -> None:
    with pytest.raises(ValidationFailed, match="audio_url") as err:
        check_known_fields({"audio_url": "s3://x/y"})
    assert err.value.code == "unknown_field"
    for bad, code in [([], "invalid_audio_urls"), ("s3://a/b", "invalid_audio_urls"),
                      (["s3://a/b", "s3://a/c"], "too_many_audio_urls")]:
        with pytest.raises(ValidationFailed) as err:
            parse_audio_urls(bad)
        assert err.value.code == code


@pytest.mark.parametrize("url", [
    f"s3://{BUCKET}/uploads/acme/u1/a.wav",
    f"s3://{BUCKET}/tenant/acme/jobs/j1/audio.flac",
    f"https://{BUCKET}.s3.amazonaws.com/uploads/acme/u1/a%20b.wav",
    f"https://{BUCKET}.s3.{REGION}.amazonaws.com/uploads/acme/u1/a.wav",
    f"https://s3.{REGION}.amazonaws.com/{BUCKET}/uploads/acme/u1/a.wav",
])
def test_our_bucket_under_the_tenant_prefix_is_accepted(url: str) -> None:
    key = audio_key_from_url(url, tenant_id="acme", bucket=BUCKET, region=REGION)
    assert key.startswith(("uploads/acme/", "tenant/acme/"))


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "https://example.com/a.wav",
    "file:///etc/passwd",
    f"http://{BUCKET}.s3.amazonaws.com/uploads/acme/a.wav",  # not TLS
    "s3://other-bucket/uploads/acme/a.wav",
    f"s3://{BUCKET}/uploads/globex/a.wav",  # another tenant
    f"s3://{BUCKET}/tenant/globex/speakers/x.flac",
    f"s3://{BUCKET}/uploads/acme/../globex/a.wav",
    f"s3://{BUCKET}/uploads/acme",
    f"https://{BUCKET}.s3.amazonaws.com.evil.com/uploads/acme/a.wav",
    f"https://user:pw@{BUCKET}.s3.amazonaws.com/uploads/acme/a.wav",
    f"https://{BUCKET}.s3.amazonaws.com:8443/uploads/acme/a.wav",
    f"https://{BUCKET}.s3.amazonaws.com/uploads/acme/a.wav?X-Amz-Signature=1",
    f"https://s3.{REGION}.amazonaws.com/other/uploads/acme/a.wav",
    42,
])
def test_anything_else_is_refused_without_fetching(url: Any) -> None:
    with pytest.raises(ValidationFailed) as err:
        audio_key_from_url(url, tenant_id="acme", bucket=BUCKET, region=REGION)
    assert err.value.code == "audio_url_not_allowed" and err.value.status == 422
