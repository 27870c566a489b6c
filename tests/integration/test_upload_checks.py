"""A job's uploaded recording is checked once: its format sniffed once, its duration probed once
(one size check, one format table: services/uploads.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from scaiecho.audio import decode, probe
from scaiecho.services import uploads
from tests.conftest import auth
from tests.contract_node import ContractNode
from tests.integration.test_transcription import JOBS, key, node, upload

__all__ = ["key", "node"]  # the fixtures this module borrows


def counted(calls: Counter[str], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return fn(*args, **kwargs)
    return wrapper


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every magic-byte detection (wherever it is imported from) and every duration probe."""
    seen: Counter[str] = Counter()
    monkeypatch.setattr(decode, "detect_format", counted(seen, "detect", decode.detect_format))
    monkeypatch.setattr(probe, "detect_format", counted(seen, "detect", probe.detect_format))
    monkeypatch.setattr(uploads, "probe_duration_s", counted(seen, "probe", uploads.probe_duration_s))
    return seen


def test_a_job_upload_is_sniffed_and_probed_once(api: Any, node: ContractNode, key: str,
                                                 calls: Counter[str]) -> None:
    resp = api.post(JOBS, headers=auth(key), **upload())
    assert resp.status_code == 202, resp.text
    assert calls == Counter(detect=1, probe=1)
    stored = api.get(f"{JOBS}/{resp.json()['data']['job_id']}", headers=auth(key))
    assert stored.status_code == 200


def test_a_non_audio_job_upload_is_refused_after_one_sniff(api: Any, node: ContractNode, key: str,
                                                           calls: Counter[str]) -> None:
    resp = api.post(JOBS, headers=auth(key), files={"audio": ("a.flac", b"not audio at all", "audio/flac")})
    assert resp.status_code == 415 and resp.json()["error"]["code"] == "unsupported_media_type"
    assert calls == Counter(detect=1)
