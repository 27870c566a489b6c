"""Transcription request validation: each bad value has its own 422 code; audio_urls name our
bucket under the caller's tenant, or a remote https:// recording (its form checked here; the
fetch step checks its addresses)."""

from __future__ import annotations

from typing import Any

import pytest

from scaiecho.domain.audio_urls import Allowlist
from scaiecho.domain.jobs import (
    MAX_AUDIO_URLS,
    AudioSource,
    audio_source,
    check_known_fields,
    parse_audio_urls,
    parse_options,
)
from scaiecho.errors import ScaiEchoError, ValidationFailed

BUCKET, REGION = "scaiecho-local-audio", "us-east-1"


def source(url: Any, allowlist: str = "") -> AudioSource:
    return audio_source(url, tenant_id="acme", bucket=BUCKET, region=REGION,
                        allowlist=Allowlist.parse(allowlist))


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
                      (["s3://a/b"] * (MAX_AUDIO_URLS + 1), "too_many_audio_urls")]:
        with pytest.raises(ValidationFailed) as err:
            parse_audio_urls(bad)
        assert err.value.code == code
    # several files make a batch (one job each), up to the bound
    assert len(parse_audio_urls(["s3://a/b"] * MAX_AUDIO_URLS)) == MAX_AUDIO_URLS


@pytest.mark.parametrize("url", [
    f"s3://{BUCKET}/uploads/acme/u1/a.wav",
    f"s3://{BUCKET}/tenant/acme/jobs/j1/audio.flac",
    f"https://{BUCKET}.s3.amazonaws.com/uploads/acme/u1/a%20b.wav",
    f"https://{BUCKET}.s3.{REGION}.amazonaws.com/uploads/acme/u1/a.wav",
    f"https://s3.{REGION}.amazonaws.com/{BUCKET}/uploads/acme/u1/a.wav",
])
def test_our_bucket_under_the_tenant_prefix_is_accepted(url: str) -> None:
    got = source(url)
    assert not got.remote and got.key is not None
    assert got.key.startswith(("uploads/acme/", "tenant/acme/"))


@pytest.mark.parametrize("url", [
    "https://example.com/interview.mp3",
    "https://media.example.org:8443/a/b.wav?token=abc",
    f"https://{BUCKET}.s3.amazonaws.com.evil.com/uploads/acme/a.wav",  # just another public host
    f"https://s3.{REGION}.amazonaws.com/other/uploads/acme/a.wav",  # a public object elsewhere
])
def test_remote_https_urls_are_accepted_for_the_fetch_step(url: str) -> None:
    got = source(url)
    assert got.remote and got.url == url


def test_http_only_for_hosts_the_allowlist_names() -> None:
    with pytest.raises(ScaiEchoError) as err:
        source("http://127.0.0.1:8080/a.wav")
    assert err.value.code == "audio_url_not_allowed"
    assert source("http://127.0.0.1:8080/a.wav", "127.0.0.1").remote
    assert source("http://media.internal/a.wav", "media.internal").remote
    with pytest.raises(ScaiEchoError) as err:
        source("http://other.internal/a.wav", "media.internal")
    assert err.value.code == "audio_url_not_allowed"


@pytest.mark.parametrize(("url", "code"), [
    ("https://10.0.0.7/a.wav", "audio_url_forbidden_address"),  # an address literal is judged now
    ("https://[::1]/a.wav", "audio_url_forbidden_address"),
    ("https://169.254.169.254/latest/meta-data/", "audio_url_forbidden_address"),
    ("https://exa mple.com/a.wav", "invalid_audio_urls"),
    ("https://bad_host!/a.wav", "invalid_audio_urls"),
    ("https://example.com:99999/a.wav", "invalid_audio_urls"),
    ("https://" + "a" * 2100 + ".com/", "invalid_audio_urls"),
    (42, "invalid_audio_urls"),
])
def test_remote_urls_of_bad_form_are_refused_at_submit(url: Any, code: str) -> None:
    with pytest.raises(ScaiEchoError) as err:
        source(url)
    assert err.value.code == code and err.value.status == 422


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "ftp://example.com/a.wav",
    f"http://{BUCKET}.s3.amazonaws.com/uploads/acme/a.wav",  # not TLS
    "s3://other-bucket/uploads/acme/a.wav",
    f"s3://{BUCKET}/uploads/globex/a.wav",  # another tenant
    f"s3://{BUCKET}/tenant/globex/speakers/x.flac",
    f"s3://{BUCKET}/uploads/acme/../globex/a.wav",
    f"s3://{BUCKET}/uploads/acme",
    f"https://user:pw@{BUCKET}.s3.amazonaws.com/uploads/acme/a.wav",
    f"https://{BUCKET}.s3.amazonaws.com:8443/uploads/acme/a.wav",
    f"https://{BUCKET}.s3.amazonaws.com/uploads/acme/a.wav?X-Amz-Signature=1",
    "https://user:pw@example.com/a.wav",
])
def test_anything_else_is_refused_without_fetching(url: Any) -> None:
    with pytest.raises(ScaiEchoError) as err:
        source(url)
    assert err.value.code == "audio_url_not_allowed" and err.value.status == 422


def test_speakerIds_is_the_seed_guides_spelling_of_speaker_ids() -> None:
    opts = parse_options({"diarize": True, "speakerIds": ["ext_101"]}, supported_languages=("en",))
    assert opts.speaker_ids == ("ext_101",)
    with pytest.raises(ValidationFailed) as both:
        parse_options({"diarize": True, "speakerIds": ["a"], "speaker_ids": ["b"]},
                      supported_languages=("en",))
    assert both.value.code == "conflicting_fields"
