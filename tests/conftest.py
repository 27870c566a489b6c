"""Shared fixtures: a moto-backed AWS provisioned from template.yaml, API clients, keys."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def _reset_settings() -> None:
    from scaiecho.adapters.aws import reset_clients
    from scaiecho.settings import get_settings

    get_settings.cache_clear()
    reset_clients()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """In-process moto with the project's patches, provisioned exactly as template.yaml says."""
    from moto import mock_aws

    from scaiecho.local import moto_patches
    from scaiecho.local.provision import provision

    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SCAIECHO_WORKFLOW_SYNC_API", "false")
    moto_patches.apply()
    with mock_aws(config=moto_patches.MOTO_CONFIG):
        session = boto3.Session(region_name="us-east-1")
        provisioned = provision(session, ROOT / "template.yaml")
        for key, value in provisioned.environment.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SCAIECHO_WORKFLOW_SYNC_API", "false")  # moto has no StartSyncExecution
        _reset_settings()
        provisioned.session = session
        yield provisioned
        moto_patches.REGISTRY.endpoints.clear()
    _reset_settings()


@pytest.fixture
def make_key(aws: Any) -> Callable[..., str]:
    from scaiecho.services.keys import create_key

    def _make(tenant: str = "acme", scopes: str = "scaiecho:enroll", user_id: str | None = None) -> str:
        return create_key(tenant, scopes, user_id=user_id).api_key

    return _make


@pytest.fixture
def api(aws: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from scaiecho.api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach AWS: no credentials from the developer's machine leak in."""
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)


@pytest.fixture
def speech_node(aws: Any) -> Iterator[Any]:
    """A contract node (``node-1``, online) scripted with :class:`tests.contract_node.SpeechScript`:
    enrollment's consent checks run for real on its answers. Yields the script."""
    from tests.contract_node import SpeechScript, registered

    script = SpeechScript()
    with registered(script.answers(), online=True) as node:
        script.node = node  # type: ignore[attr-defined]
        yield script


@pytest.fixture
def identify_incomplete(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Identify incomplete enrollments too (deployment-wide opt-in): for tests about
    identification whose speakers are enrolled from the fixtures' short references (reader 103's
    holds 11.7 s of speech, under the 12 s that completes an enrollment)."""
    monkeypatch.setenv("SCAIECHO_IDENTIFY_INCOMPLETE_ENROLLMENTS", "true")
    _reset_settings()
