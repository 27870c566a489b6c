"""The Lambda authorizer, replaying events/authorizer/*.json through functions/authorizer/app.py."""

from typing import Any

import pytest

from tests.events import call_handler, lambda_context, load_event, load_handler


def test_bearer_key_is_allowed_with_tenant_context(make_key: Any) -> None:
    key = make_key("acme", "scaiecho:enroll,scaiecho:transcribe")
    result = call_handler("authorizer", load_event("authorizer", "valid_bearer", API_KEY=key))
    statement = result["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abc123/*"
    assert result["context"]["tenant_id"] == "acme"
    assert result["context"]["scopes"] == "scaiecho:enroll,scaiecho:transcribe"
    assert all(isinstance(v, str) for v in result["context"].values())


def test_x_api_key_header_is_accepted_like_bearer(make_key: Any) -> None:
    key = make_key("acme", "scaiecho:transcribe")
    result = call_handler("authorizer", load_event("authorizer", "x_api_key", API_KEY=key))
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["context"]["tenant_id"] == "acme"


def test_websocket_handshake_may_use_the_query_key(make_key: Any) -> None:
    key = make_key("acme", "scaiecho:transcribe")
    result = call_handler("authorizer", load_event("authorizer", "websocket_query_key", API_KEY=key))
    assert result["context"]["tenant_id"] == "acme"


@pytest.mark.parametrize("key", [None, "se_0000_bad"])
def test_missing_or_bad_key_raises_unauthorized(aws: Any, key: str | None) -> None:
    handler = load_handler("authorizer")
    event = (
        load_event("authorizer", "missing_key")
        if key is None
        else load_event("authorizer", "valid_bearer", API_KEY=key)
    )
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(event, lambda_context("authorizer"))


def test_api_function_trusts_the_authorizer_context(aws: Any) -> None:
    """Behind API Gateway the key was checked by the authorizer; Mangum passes its context."""
    import json

    response = call_handler("health", load_event("health", "get_key_me_authorized"))
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["data"]["tenant_id"] == "acme"
    assert body["data"]["scopes"] == ["scaiecho:enroll"]


