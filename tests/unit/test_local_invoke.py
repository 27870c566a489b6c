"""`scaiecho invoke` / `scaiecho env --sam` without a stack: placeholders, the environment a
function gets, the --env-vars document, and the endpoint variable SAM can set."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaiecho.errors import ValidationFailed
from scaiecho.local.invoke import LocalFunctions, fill_placeholders
from scaiecho.local.provision import FunctionSpec


def _functions() -> LocalFunctions:
    intake = FunctionSpec(
        logical_id="IntakeFunction", name="scaiecho-local-intake", code_uri="functions/intake/",
        handler="app.lambda_handler", memory_mb=1024, timeout_s=29,
        environment={"SCAIECHO_SPEAKERS_TABLE": "scaiecho-local-speakers", "SCAIECHO_AWS_ENDPOINT_URL": "",
                     "SCAIECHO_WORKFLOW_SYNC_API": "true",
                     "SCAIECHO_ENROLL_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:e"},
    )
    health = FunctionSpec(
        logical_id="HealthFunction", name="scaiecho-local-health", code_uri="functions/health/",
        handler="app.lambda_handler", memory_mb=512, timeout_s=29,
        environment={"SCAIECHO_SPEAKERS_TABLE": "scaiecho-local-speakers", "SCAIECHO_AWS_ENDPOINT_URL": "",
                     "SCAIECHO_WORKFLOW_SYNC_API": "true"},
    )
    stack_env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5123", "AWS_REGION": "us-east-1",
                 "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                 "SCAIECHO_WORKFLOW_SYNC_API": "false", "SCAIECHO_WORKFLOW_WAIT_S": "180",
                 "SCAIECHO_TRANSCRIBE_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:t",
                 "SCAIECHO_SPEAKERS_TABLE": "scaiecho-local-speakers", "MOTO_PORT": "5123"}
    return LocalFunctions(root=Path("/repo"), specs={"IntakeFunction": intake, "HealthFunction": health},
                          stack_environment=stack_env)


def test_placeholders_are_filled_and_a_missing_one_is_named() -> None:
    assert fill_placeholders('{"id": "{{SPEAKER_ID}}"}', {"SPEAKER_ID": "spk_1"}) == '{"id": "spk_1"}'
    with pytest.raises(ValidationFailed) as caught:
        fill_placeholders('{"a": "{{JOB_ID}}", "b": "{{BUCKET}}"}', {"BUCKET": "b"})
    assert caught.value.details == {"missing": ["JOB_ID"]}


def test_a_function_is_found_by_folder_logical_id_or_name() -> None:
    functions = _functions()
    for name in ("intake", "IntakeFunction", "scaiecho-local-intake"):
        assert functions.find(name).logical_id == "IntakeFunction"
    with pytest.raises(Exception, match="one of: health, intake"):
        functions.find("nope")


def test_the_lambda_environment_is_the_functions_own_plus_the_stack() -> None:
    env = _functions().lambda_environment(_functions().find("intake"))
    assert env["SCAIECHO_ENROLL_STATE_MACHINE_ARN"].endswith(":e")
    assert "SCAIECHO_TRANSCRIBE_STATE_MACHINE_ARN" not in env  # another function's variable
    assert "MOTO_PORT" not in env
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5123"
    assert env["SCAIECHO_WORKFLOW_SYNC_API"] == "false"
    assert (env["AWS_LAMBDA_FUNCTION_NAME"], env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) == (
        "scaiecho-local-intake", "1024")


def test_sam_env_vars_override_declared_variables_only() -> None:
    doc = _functions().sam_env_vars(endpoint_host="host.docker.internal")
    assert set(doc) == {"IntakeFunction", "HealthFunction"}
    assert set(doc["HealthFunction"]) == {"SCAIECHO_SPEAKERS_TABLE", "SCAIECHO_AWS_ENDPOINT_URL",
                                          "SCAIECHO_WORKFLOW_SYNC_API"}
    assert doc["HealthFunction"]["SCAIECHO_AWS_ENDPOINT_URL"] == "http://host.docker.internal:5123"
    assert doc["IntakeFunction"]["SCAIECHO_WORKFLOW_SYNC_API"] == "false"
    assert _functions().sam_env_vars()["IntakeFunction"]["SCAIECHO_AWS_ENDPOINT_URL"] == "http://127.0.0.1:5123"


def test_the_declared_endpoint_variable_points_the_settings_at_the_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scaiecho.settings import Settings

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SCAIECHO_AWS_ENDPOINT_URL", "")
    assert Settings().aws_endpoint_url is None  # AWS: declared empty
    monkeypatch.setenv("SCAIECHO_AWS_ENDPOINT_URL", "http://127.0.0.1:5123")
    assert Settings().aws_endpoint_url == "http://127.0.0.1:5123"  # sam local invoke --env-vars
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert Settings().aws_endpoint_url == "http://127.0.0.1:9"  # the local stack's own process
