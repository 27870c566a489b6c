"""Consent checks, pure: text normalisation and coverage, voice scoring, per-tenant policy."""

from __future__ import annotations

import numpy as np
import pytest

from scaiecho.domain.consent_checks import (
    CheckStatus,
    ConsentPolicy,
    check_text,
    check_voice,
    coverage,
    number_words,
    words,
)
from scaiecho.settings import Settings

POLICY = ConsentPolicy(voice_threshold=0.54, voice_slope=40.0, text_min_coverage=0.5,
                       duplicate_voice_threshold=0.54)
TEXT = "I, Karen Savage, agree that ScaiEcho may store a voiceprint of my voice until 2027."


def test_words_normalise_case_punctuation_and_numbers() -> None:
    assert words("Don't STOP: 3rd, 21 and 10,000!") == [
        "dont", "stop", "third", "twenty", "one", "and", "ten", "thousand"]
    assert words("in 1905 and 2026") == ["in", "nineteen", "oh", "five", "and", "twenty", "twenty", "six"]
    assert number_words(1_000_001) == ["one", "million", "one"]


def test_what_the_asr_writes_differently_still_covers_the_text() -> None:
    heard = ("i karen savich agree that scai echo may store a voice print of my voice until "
             "twenty twenty seven")
    assert coverage(TEXT, heard, full_name="Karen Savage") == 1.0


def test_too_little_or_another_text_is_low() -> None:
    assert coverage(TEXT, "I agree", full_name="Karen Savage") < 0.3
    other = "she could not make a very favourable answer jane was by no means better"
    assert coverage(TEXT, other, full_name="Karen Savage") < 0.2
    assert check_text(TEXT, other, full_name="Karen Savage", policy=POLICY).status is CheckStatus.FAILED


def test_order_matters_a_shuffled_reading_is_not_the_text() -> None:
    shuffled = " ".join(reversed(words(TEXT)))
    assert coverage(TEXT, shuffled) < 0.3


def test_voice_check_uses_the_identification_curve() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(192)
    same = check_voice(a, a + 0.1 * rng.standard_normal(192), POLICY)
    other = check_voice(a, rng.standard_normal(192), POLICY)
    assert same.status is CheckStatus.PASSED and same.score > 0.99
    assert other.status is CheckStatus.FAILED and other.score < 0.01
    at = check_voice(np.array([1.0, 0.0]), np.array([0.54, np.sqrt(1 - 0.54**2)]), POLICY)
    assert at.score == pytest.approx(0.5, abs=1e-6)


def test_policy_per_tenant_overrides_and_rejects_unknown_keys() -> None:
    settings = Settings(consent_policy_by_tenant={"acme": {"text_min_coverage": 0.8}})
    assert settings.consent_policy_for("acme").text_min_coverage == 0.8
    assert settings.consent_policy_for("globex").text_min_coverage == settings.consent_text_min_coverage
    with pytest.raises(ValueError, match="unknown consent setting"):
        Settings(consent_policy_by_tenant={"acme": {"text_threshold": 0.8}})


def test_export_rows_cannot_run_as_spreadsheet_formulas_and_old_records_say_not_checked() -> None:
    import csv
    import io
    import json
    from datetime import UTC, datetime

    from scaiecho.domain.speakers import Consent
    from scaiecho.services.consents import as_csv, as_jsonl

    old = Consent(tenant_id="acme", consent_id="cns_1", speaker_id="spk_1", full_name="=HYPERLINK(1)",
                  stated_purpose="p", consent_text="t", consent_version="2026-01", audio_key="k",
                  audio_sha256="0" * 64, captured_at=datetime(2026, 1, 1, tzinfo=UTC), actor="key_1")
    (row,) = csv.DictReader(io.StringIO(as_csv([old])))
    assert row["full_name"] == "'=HYPERLINK(1)" and row["voice_status"] == "not_checked"
    record = json.loads(as_jsonl([old]))
    assert record["voice_check"]["status"] == record["text_check"]["status"] == "not_checked"
    assert "audio_key" not in record


def test_a_consent_text_that_is_only_the_name_proves_nothing() -> None:
    assert coverage("Karen Savage.", "karen savage", full_name="Karen Savage") == 0.0
