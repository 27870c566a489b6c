"""Hostile and malformed input on every route and the WebSocket protocol (issue #14).

One moto-backed deployment serves the whole module (provisioning per case would dominate the
run). Every case asserts: a 4xx (never a 5xx), the case's specific ``error.code``, and nothing
left behind — every table's items and every S3 object version are the same after the rejected
request as before it (speakers, consents, blobs, jobs, sessions, idempotency records).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from tests.conftest import FIXTURES, ROOT, _reset_settings, auth
from tests.hostile_audio import Case, flac_silence, malformed_cases, wav
from tests.integration.test_enrollment import fields as enroll_fields

API = "/v1/modules/scaiecho"
SPEECH = FIXTURES / "speech"
OCTET = "application/octet-stream"


@dataclass
class Deployment:
    client: TestClient
    session: Any
    bucket: str
    key: str  # all scopes, bound to user alice (voice profile)
    speaker_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """Every table's items and every object version/delete marker in the bucket."""
        ddb = self.session.client("dynamodb")
        state: dict[str, Any] = {}
        for table in ddb.list_tables()["TableNames"]:
            items = []
            for page in ddb.get_paginator("scan").paginate(TableName=table):
                items += [json.dumps(i, sort_keys=True) for i in page["Items"]]
            state[table] = sorted(items)
        versions = self.session.client("s3").list_object_versions(Bucket=self.bucket)
        state["s3"] = sorted(f"{v['Key']}@{v['VersionId']}" for v in
                             versions.get("Versions", []) + versions.get("DeleteMarkers", []))
        return state


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    from moto import mock_aws

    from scaiecho.api.app import create_app
    from scaiecho.local import moto_patches
    from scaiecho.local.gateway import mount
    from scaiecho.local.provision import provision
    from scaiecho.services.keys import create_key

    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            mp.delenv(var, raising=False)
        for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                           "SCAIECHO_WORKFLOW_SYNC_API": "false"}.items():
            mp.setenv(var, value)
        moto_patches.apply()
        with mock_aws(config=moto_patches.MOTO_CONFIG):
            session = boto3.Session(region_name="us-east-1")
            provisioned = provision(session, ROOT / "template.yaml")
            for var, value in provisioned.environment.items():
                mp.setenv(var, value)
            _reset_settings()
            key = create_key("acme", "scaiecho:enroll,scaiecho:transcribe,scaiecho:diarize",
                             user_id="alice").api_key
            app = create_app()
            mount(app, API)
            with TestClient(app, raise_server_exceptions=False) as client:
                created = client.post(f"{API}/speakers", data=enroll_fields(), files=_enroll_files(),
                                      headers=auth(key))
                assert created.status_code == 201, created.text
                yield Deployment(client, session, provisioned.buckets[0], key,
                                 created.json()["data"]["speaker_id"])
            moto_patches.REGISTRY.endpoints.clear()
        _reset_settings()


def _enroll_files(reference: bytes | None = None, consent: bytes | None = None) -> dict[str, Any]:
    return {
        "reference": ("r.bin", reference if reference is not None
                      else (SPEECH / "speaker_f_103.flac").read_bytes(), OCTET),
        "consent": ("c.bin", consent if consent is not None
                    else (SPEECH / "consent_200.flac").read_bytes(), OCTET),
    }


def assert_rejected(dep: Deployment, send: Callable[[], Any], status: int | tuple[int, ...],
                    code: str | tuple[str, ...]) -> dict[str, Any]:
    before = dep.snapshot()
    resp = send()
    statuses = status if isinstance(status, tuple) else (status,)
    codes = code if isinstance(code, tuple) else (code,)
    assert resp.status_code < 500, resp.text
    body = resp.json()
    assert resp.status_code in statuses and body["error"]["code"] in codes, (resp.status_code, body)
    assert dep.snapshot() == before, "a rejected request left something behind"
    return dict(body["error"])


# ------------------------------------------------------------ audio on every upload route

def _voice_expectation(case: Case) -> tuple[int, str]:
    # Voice samples accept WAV, MP3 and M4A only: other containers are refused before decoding.
    if case.name.split("_")[0] in ("flac", "ogg") or case.code == "unsupported_media_type":
        return 415, "unsupported_media_type"
    return case.status, case.code


AUDIO_ROUTES: dict[str, Callable[[Deployment, bytes], Any]] = {
    "preflight": lambda d, data: d.client.post(f"{API}/preflight", headers=auth(d.key),
                                               files={"audio": ("a.bin", data, OCTET)}),
    "enroll_reference": lambda d, data: d.client.post(
        f"{API}/speakers", headers=auth(d.key), data=enroll_fields(), files=_enroll_files(reference=data)),
    "enroll_consent": lambda d, data: d.client.post(
        f"{API}/speakers", headers=auth(d.key), data=enroll_fields(), files=_enroll_files(consent=data)),
    "add_sample": lambda d, data: d.client.post(f"{API}/speakers/{d.speaker_id}/samples",
                                                headers=auth(d.key),
                                                files={"reference": ("r.bin", data, OCTET)}),
    "voice_profile": lambda d, data: d.client.post(f"{API}/users/me/voice-profile", headers=auth(d.key),
                                                   files={"file": ("v.bin", data, OCTET)}),
    "transcribe": lambda d, data: d.client.post(f"{API}/transcribe", headers=auth(d.key),
                                                files={"audio": ("a.bin", data, OCTET)},
                                                data={"language": "en"}),
}


@pytest.mark.parametrize("route", list(AUDIO_ROUTES))
@pytest.mark.parametrize("case", malformed_cases(), ids=lambda c: c.name)
def test_malformed_audio(deployment: Deployment, route: str, case: Case) -> None:
    status, code = _voice_expectation(case) if route == "voice_profile" else (case.status, case.code)
    data = case.make()
    assert_rejected(deployment, lambda: AUDIO_ROUTES[route](deployment, data), status, code)


BOMBS: dict[str, Callable[[], bytes]] = {
    # ~30 KB of FLAC that decode to 700 s (limit 600 s): refused from its STREAMINFO header.
    "flac_700s_declared": lambda: flac_silence(700.0),
    # The same with the length field zeroed: found while decoding and cut off at the limit.
    "flac_700s_hidden": lambda: flac_silence(700.0, hide_length=True),
}


@pytest.mark.parametrize("route", ["preflight", "enroll_reference", "enroll_consent", "add_sample"])
@pytest.mark.parametrize("bomb", list(BOMBS))
def test_decode_amplification_is_cut_at_the_route_limit(deployment: Deployment, route: str,
                                                          bomb: str) -> None:
    data = BOMBS[bomb]()
    assert len(data) < 64 * 1024
    error = assert_rejected(deployment, lambda: AUDIO_ROUTES[route](deployment, data), 422, "audio_too_long")
    assert error["details"]["limit_s"] == 600.0


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "data_size_0"])
def test_voice_sample_over_its_limit_is_refused_by_header_or_while_decoding(
    deployment: Deployment, declared: bool
) -> None:
    data = wav(frames=16000 * 75, data_size=None if declared else 0)
    assert_rejected(deployment, lambda: AUDIO_ROUTES["voice_profile"](deployment, data), 400,
                    "voice_sample_too_long")
