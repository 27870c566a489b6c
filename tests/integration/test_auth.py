"""Bearer keys: 401 without/with a bad key, 403 without the scope, 404 for another tenant's objects."""

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from scaiecho.api.deps import requires
from scaiecho.api.errors import install_error_handlers
from scaiecho.domain.auth import Principal, Scope
from scaiecho.services.keys import create_key, revoke_key
from tests.conftest import auth

KEYS_ME = "/v1/modules/scaiecho/keys/me"


def test_missing_key_is_401(api: Any) -> None:
    resp = api.get(KEYS_ME)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthenticated"
    assert resp.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer nonsense", "Basic abc", "Bearer se_deadbeef_wrong"])
def test_invalid_keys_are_401(api: Any, header: str) -> None:
    resp = api.get(KEYS_ME, headers={"Authorization": header})
    assert resp.status_code == 401


def test_x_api_key_header_works_like_bearer(api: Any, make_key: Any) -> None:
    key = make_key()
    resp = api.get(KEYS_ME, headers={"X-API-Key": key})
    assert resp.status_code == 200 and resp.json()["data"]["tenant_id"] == "acme"
    assert api.get(KEYS_ME, headers={"X-API-Key": key[:-4] + "AAAA"}).status_code == 401
    assert api.get(KEYS_ME, params={"api_key": key}).status_code == 401  # never in a REST query


def test_wrong_secret_for_a_real_key_id_is_401(api: Any, make_key: Any) -> None:
    key = make_key()
    tampered = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert api.get(KEYS_ME, headers=auth(tampered)).status_code == 401


def test_revoked_key_is_401(api: Any) -> None:
    created = create_key("acme", "scaiecho:enroll")
    assert api.get(KEYS_ME, headers=auth(created.api_key)).status_code == 200
    revoke_key(created.key.key_id)
    resp = api.get(KEYS_ME, headers=auth(created.api_key))
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"


def test_valid_key_resolves_tenant_and_scopes(api: Any, make_key: Any) -> None:
    key = make_key("acme", "scaiecho:transcribe,scaiecho:diarize", user_id="u-1")
    data = api.get(KEYS_ME, headers=auth(key)).json()["data"]
    assert data["tenant_id"] == "acme"
    assert data["scopes"] == ["scaiecho:diarize", "scaiecho:transcribe"]
    assert data["user_id"] == "u-1"


def test_other_tenants_key_is_404_own_is_visible(api: Any) -> None:
    mine = create_key("acme", "scaiecho:enroll")
    theirs = create_key("globex", "scaiecho:enroll")
    own = api.get(f"/v1/modules/scaiecho/keys/{mine.key.key_id}", headers=auth(mine.api_key))
    assert own.status_code == 200
    assert "secret_hash" not in own.json()["data"]
    other = api.get(f"/v1/modules/scaiecho/keys/{theirs.key.key_id}", headers=auth(mine.api_key))
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "api_key_not_found"


def _scoped_app() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()

    @router.get("/enroll-only")
    def enroll_only(principal: Principal = requires(Scope.ENROLL)) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    @router.get("/diarize")
    def diarize(principal: Principal = requires(Scope.TRANSCRIBE, Scope.DIARIZE)) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


def test_missing_scope_is_403_and_transcribe_never_implies_enroll(aws: Any) -> None:
    client = _scoped_app()
    transcribe = create_key("acme", "scaiecho:transcribe").api_key
    resp = client.get("/enroll-only", headers=auth(transcribe))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "insufficient_scope"
    assert resp.json()["error"]["details"] == {"required": ["scaiecho:enroll"]}
    assert client.get("/diarize", headers=auth(transcribe)).status_code == 403
    both = create_key("acme", "scaiecho:transcribe,scaiecho:diarize").api_key
    assert client.get("/diarize", headers=auth(both)).status_code == 200
    enroll = create_key("acme", "scaiecho:enroll").api_key
    assert client.get("/enroll-only", headers=auth(enroll)).json() == {"tenant": "acme"}
