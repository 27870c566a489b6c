"""The one error mapper: domain errors, validation, unknown routes, unexpected failures."""

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from scaiecho.api.errors import install_error_handlers
from scaiecho.errors import Conflict, NodeError, NotFound, UnsupportedMediaType


class Body(BaseModel):
    name: str
    count: int


def _client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()

    @router.get("/conflict")
    def conflict() -> None:
        raise Conflict("speaker exists", code="speaker_exists", details={"external_id": "e1"})

    @router.get("/missing")
    def missing() -> None:
        raise NotFound("no such speaker", code="speaker_not_found")

    @router.get("/media")
    def media() -> None:
        raise UnsupportedMediaType("text/plain is not audio")

    @router.get("/node")
    def node() -> None:
        raise NodeError("node down")

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    @router.post("/body")
    def body(b: Body) -> dict[str, str]:
        return {"name": b.name}

    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


def test_domain_errors_carry_status_code_and_details() -> None:
    client = _client()
    resp = client.get("/conflict")
    assert resp.status_code == 409
    assert resp.json() == {
        "error": {"code": "speaker_exists", "message": "speaker exists", "details": {"external_id": "e1"}}
    }
    assert client.get("/missing").json()["error"]["code"] == "speaker_not_found"
    assert client.get("/media").status_code == 415
    assert client.get("/node").status_code == 502


def test_unexpected_errors_are_500_without_internals() -> None:
    resp = _client().get("/boom")
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "internal_error"
    assert "secret" not in resp.text


def test_missing_and_invalid_fields_are_422_with_field_names() -> None:
    client = _client()
    missing = client.post("/body", json={"name": "x"})
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "missing_field"
    assert "count" in missing.json()["error"]["message"]
    invalid = client.post("/body", json={"name": "x", "count": "many"})
    assert invalid.json()["error"]["code"] == "validation_error"
    assert invalid.json()["error"]["details"][0]["field"] == "count"


def test_unknown_routes_use_the_same_error_shape() -> None:
    resp = _client().get("/nowhere")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def _echo_client(details: object, message: str = "bad value") -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/echo")
    def echo() -> None:
        raise Conflict(message, code="echoed", details=details)

    return TestClient(app, raise_server_exceptions=False)


def test_error_details_that_cannot_be_encoded_are_escaped_never_a_500() -> None:
    nan, inf = float("nan"), float("inf")
    details = {"language": "\ud800", "values": [nan, inf, -inf, 1.5], "\udfff key": {"deep": [[["x"]]]}}
    resp = _echo_client(details, message="unknown language '\ud800'").get("/echo")
    assert resp.status_code == 409
    body = resp.json()["error"]
    assert body["code"] == "echoed"
    assert body["details"]["language"] == "\\ud800"
    assert body["details"]["values"] == ["nan", "inf", "-inf", 1.5]
    assert "\\udfff key" in body["details"]
    assert body["message"] == "unknown language '\\ud800'"


def test_error_details_are_bounded() -> None:
    resp = _echo_client({"ids": [f"spk_{i}" for i in range(10_000)], "name": "x" * 100_000}).get("/echo")
    details = resp.json()["error"]["details"]
    assert len(details["ids"]) == 20 and len(details["name"]) < 300
    assert len(resp.content) < 5_000


def test_json_bodies_nested_too_deep_or_with_nan_are_invalid_json() -> None:
    client = _client()
    deep = client.post("/body", content=b"[" * 50_000 + b"]" * 50_000,
                       headers={"content-type": "application/json"})
    assert deep.status_code == 422 and deep.json()["error"]["code"] == "invalid_json"
    broken = client.post("/body", content=b'{"name": ', headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_json"
