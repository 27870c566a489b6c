import pytest
from pydantic import ValidationError

from scaiecho.settings import Settings


def test_defaults_are_the_local_stage() -> None:
    settings = Settings()
    assert settings.stage == "local"
    assert settings.workflow_sync_api is True
    assert settings.max_upload_bytes == 50 * 1024 * 1024


def test_values_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_SPEAKERS_TABLE", "prod-speakers")
    monkeypatch.setenv("SCAIECHO_MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = Settings()
    assert settings.speakers_table == "prod-speakers"
    assert settings.max_upload_bytes == 2 * 1024 * 1024
    assert settings.region == "eu-west-1"


@pytest.mark.parametrize("value", ["0", "-3", "lots"])
def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SCAIECHO_MAX_UPLOAD_MB", value)
    with pytest.raises(ValidationError):
        Settings()


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.stage = "prod"  # type: ignore[misc]


def test_stage_names_every_table_unless_one_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_STAGE", "prod")
    monkeypatch.setenv("SCAIECHO_NODES_TABLE", "custom-nodes")
    s = Settings()
    assert s.api_keys_table == "scaiecho-prod-api-keys"
    assert s.erasure_audit_table == "scaiecho-prod-erasure-audit"
    assert s.nodes_table == "custom-nodes"
