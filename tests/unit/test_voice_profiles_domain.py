"""Voice profiles and voiceMatchScore: the pure rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scaiecho.api.schemas.accounts import VoiceProfilePublic
from scaiecho.domain.identification import score_from_cosine
from scaiecho.domain.voice_match import NOT_MATCHED_CAP, voice_match_scores, without_profile
from scaiecho.domain.voice_profiles import (
    ProfileStatus,
    VoiceProfile,
    check_sample_duration,
    check_sample_format,
    check_sample_size,
    subject_id,
)
from scaiecho.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


def profile(consent_version: str = "v1") -> VoiceProfile:
    return VoiceProfile(
        tenant_id="acme", user_id="alice", profile_id="vp_1", provider="pyannote",
        consent_version=consent_version, created_at=datetime(2026, 1, 2, tzinfo=UTC),
        sample_duration_s=7.12345, dim=3, model_id=None, model_version=None,
        sealed_embedding=b"ciphertext",
    )


def test_status_and_public_shape() -> None:
    p = profile("v1")
    assert p.status("v1") is ProfileStatus.ACTIVE
    assert p.status("v2") is ProfileStatus.REQUIRES_RECONSENT
    assert VoiceProfilePublic.from_domain(p, "v2").model_dump(exclude_unset=True) == {
        "status": "REQUIRES_RECONSENT", "provider": "pyannote", "consentVersion": "v1",
        "createdAt": "2026-01-02T00:00:00+00:00", "sampleDurationSeconds": 7.123,
    }
    assert "ciphertext" not in repr(p)
    assert "vp_1" not in str(VoiceProfilePublic.from_domain(p, "v1").model_dump())
    assert subject_id("alice") == "voice-profile#alice"


def test_sample_rules() -> None:
    check_sample_size(10, 10)
    with pytest.raises(PayloadTooLarge) as big:
        check_sample_size(11, 10)
    assert big.value.code == "voice_sample_too_large" and big.value.status == 413
    assert [check_sample_format(f) for f in ("wav", "mp3", "m4a")] == ["wav", "mp3", "m4a"]
    for fmt in ("flac", "ogg", None):
        with pytest.raises(UnsupportedMediaType):
            check_sample_format(fmt)
    check_sample_duration(5.0, min_s=5.0, max_s=60.0)
    with pytest.raises(BadRequest) as short:
        check_sample_duration(4.99, min_s=5.0, max_s=60.0)
    assert short.value.code == "voice_sample_too_short" and short.value.status == 400
    with pytest.raises(BadRequest) as long:
        check_sample_duration(60.5, min_s=5.0, max_s=60.0)
    assert long.value.code == "voice_sample_too_long"


def test_score_mapping() -> None:
    assert score_from_cosine(0.54) == pytest.approx(0.5)
    assert score_from_cosine(1.0) > 0.99 and score_from_cosine(0.2) < 0.01
    assert score_from_cosine(-50.0) == 0.0  # no overflow


def test_incomparable_clusters_score_zero() -> None:
    data = {"speakers": [{"label": "SPEAKER_00", "embedding": [1.0, 0.0]},
                         {"label": "SPEAKER_01", "embedding": [0.0, 0.0, 0.0]},
                         {"label": "SPEAKER_02"}], "identified": {}}
    assert voice_match_scores(data, candidate_id="vp_me", embedding=[0.0, 0.0, 1.0]) == {
        "SPEAKER_00": 0.0, "SPEAKER_01": pytest.approx(0.0, abs=1e-6), "SPEAKER_02": 0.0}


def test_scores_per_label() -> None:
    me = [1.0, 0.0, 0.0]
    result = {
        "speakers": [
            {"label": "SPEAKER_00", "embedding": [0.0, 1.0, 0.0]},  # someone else
            {"label": "SPEAKER_01", "embedding": [0.9, 0.1, 0.0]},  # the user
            {"label": "SPEAKER_02", "embedding": [0.7, 0.7, 0.0]},  # close, but not chosen
            {"label": "SPEAKER_03"},                                 # no embedding
        ],
        "identified": {
            "SPEAKER_01": {"speaker_id": "vp_me", "score": 0.97, "cosine": 0.99},
            "SPEAKER_00": {"speaker_id": "spk_enrolled", "score": 0.9, "cosine": 0.8},
        },
    }
    scores = voice_match_scores(result, candidate_id="vp_me", embedding=me)
    assert scores["SPEAKER_01"] == 0.97  # the node's own calibrated score
    assert scores["SPEAKER_00"] < 0.01
    # cosine 0.707 maps above 0.5, but the node assigned the profile elsewhere: capped below 0.5
    assert scores["SPEAKER_02"] == NOT_MATCHED_CAP
    assert scores["SPEAKER_03"] == 0.0
    assert without_profile(result["identified"], "vp_me") == {
        "SPEAKER_00": {"speaker_id": "spk_enrolled", "score": 0.9, "cosine": 0.8}
    }
    # Nothing identified and no clusters: nothing to score.
    assert voice_match_scores({}, candidate_id="vp_me", embedding=me) == {}


def test_settings_flag_per_tenant_and_bounds() -> None:
    from pydantic import ValidationError

    from scaiecho.settings import Settings

    s = Settings(voice_profiles_enabled=False, voice_profiles_enabled_by_tenant={"acme": True})
    assert s.voice_profiles_enabled_for("acme") and not s.voice_profiles_enabled_for("beta")
    assert Settings(voice_sample_max_mb=1).voice_sample_max_bytes == 1024 * 1024
    with pytest.raises(ValidationError):
        Settings(voice_sample_min_s=10, voice_sample_max_s=5)
    with pytest.raises(ValidationError):
        Settings(voice_consent_version=" ")
