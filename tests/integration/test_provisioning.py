"""The local stack provisions exactly what template.yaml declares, configured as declared."""

from typing import Any

from scaiecho.local.template import load_template, resources_of
from tests.conftest import ROOT


def _active(template: dict[str, Any], types: str) -> dict[str, Any]:
    # Resources behind a condition that is false by default (the SageMaker node) are not local.
    return {k: v for k, v in resources_of(template, types).items() if "Condition" not in v}


def test_every_table_bucket_function_and_state_machine_exists(aws: Any) -> None:
    template = load_template(ROOT / "template.yaml")
    session = aws.session
    tables = set(session.client("dynamodb").list_tables()["TableNames"])
    assert tables == {f"scaiecho-local-{t['Properties']['TableName']['Fn::Sub'].split('}-', 1)[1]}"
                      for t in _active(template, "AWS::DynamoDB::Table").values()}
    assert len(tables) == len(_active(template, "AWS::DynamoDB::Table"))

    functions = {f["FunctionName"] for f in session.client("lambda").list_functions()["Functions"]}
    assert len(functions) == len(_active(template, "AWS::Serverless::Function"))
    machines = session.client("stepfunctions").list_state_machines()["stateMachines"]
    assert len(machines) == len(_active(template, "AWS::Serverless::StateMachine"))
    buckets = session.client("s3").list_buckets()["Buckets"]
    assert len(buckets) == len(_active(template, "AWS::S3::Bucket"))


def test_table_keys_and_indexes_match_the_template(aws: Any) -> None:
    ddb = aws.session.client("dynamodb")
    desc = ddb.describe_table(TableName="scaiecho-local-api-keys")["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "key_id", "KeyType": "HASH"}]
    assert [i["IndexName"] for i in desc["GlobalSecondaryIndexes"]] == ["tenant-index"]


def test_bucket_is_versioned_kms_encrypted_and_private(aws: Any) -> None:
    s3 = aws.session.client("s3")
    bucket = aws.buckets[0]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"].startswith("arn:aws:kms:")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle[0]["Filter"]["Prefix"] == "uploads/"


def test_functions_get_the_resolved_environment(aws: Any) -> None:
    env = aws.environment
    assert env["SCAIECHO_API_KEYS_TABLE"] == "scaiecho-local-api-keys"
    assert env["SCAIECHO_AUDIO_BUCKET"] == aws.buckets[0]
    assert env["SCAIECHO_NODE_PROBE_STATE_MACHINE_ARN"] == aws.state_machines["NodeProbeStateMachine"]
    assert all("${" not in v and "Fn::" not in v for v in env.values())
