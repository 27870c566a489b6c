"""Least privilege in template.yaml, read statically (no AWS, no .tools venvs needed).

- No policy statement grants a wildcard action on a data service (`*`, `s3:*`, `dynamodb:Get*`,
  NotAction ...) or a data action on `Resource: "*"`. The two deliberate exceptions: the KMS key
  policy's account-root admin statement (the key must stay manageable) and the bucket policy's
  TLS-only Deny.
- No AWS-managed "FullAccess"/admin policy is attached.
- Only erasure (logical id containing "Erasure") may delete audio: every function or state
  machine that can s3:DeleteObject / s3:DeleteObjectVersion, through inline statements, SAM
  policy templates (S3CrudPolicy and S3FullAccessPolicy include s3:DeleteObject) or managed
  policies, must be named like *Erasure*.

SAM policy templates are expanded from samtranslator's policy_templates.json when a venv here has
it (.tools/sam, made by .ci/validate.sh), else from the table below (copied from
aws-sam-translator 1.115.0); a test checks the table against the file whenever both exist.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from scaiecho.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# Services whose actions touch tenant data (or run code/workflows over it).
DATA_SERVICES = frozenset(
    {"s3", "dynamodb", "kms", "secretsmanager", "ssm", "sqs", "sns", "sagemaker", "states",
     "lambda"}
)
DELETE_ACTIONS = ("s3:deleteobject", "s3:deleteobjectversion")
ERASURE = re.compile(r"Erasure")
BROAD_MANAGED = re.compile(r"FullAccess|AdministratorAccess|PowerUserAccess")
PRINCIPAL_TYPES = ("AWS::Serverless::Function", "AWS::Serverless::StateMachine")

# Actions of the SAM policy templates (aws-sam-translator 1.115.0, policy_templates.json).
EMBEDDED_TEMPLATES: dict[str, tuple[str, ...]] = {
    "S3ReadPolicy": ("s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation",
                     "s3:GetObjectVersion", "s3:GetLifecycleConfiguration"),
    "S3WritePolicy": ("s3:PutObject", "s3:PutObjectAcl", "s3:PutLifecycleConfiguration"),
    "S3CrudPolicy": ("s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation",
                     "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl",
                     "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration",
                     "s3:DeleteObject"),
    "S3FullAccessPolicy": ("s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectVersion",
                           "s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject",
                           "s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging",
                           "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
                           "s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:ListBucket",
                           "s3:GetBucketLocation", "s3:GetLifecycleConfiguration",
                           "s3:PutLifecycleConfiguration"),
    "DynamoDBReadPolicy": ("dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query",
                           "dynamodb:BatchGetItem", "dynamodb:DescribeTable"),
    "DynamoDBWritePolicy": ("dynamodb:PutItem", "dynamodb:UpdateItem",
                            "dynamodb:BatchWriteItem"),
    "DynamoDBCrudPolicy": ("dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem",
                           "dynamodb:Scan", "dynamodb:Query", "dynamodb:UpdateItem",
                           "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem",
                           "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"),
    "LambdaInvokePolicy": ("lambda:InvokeFunction",),
    "StepFunctionsExecutionPolicy": ("states:StartExecution",),
    "KMSDecryptPolicy": ("kms:Decrypt",),
    "KMSEncryptPolicy": ("kms:Encrypt",),
}


def _samtranslator_templates_file() -> Path | None:
    candidates = sorted(ROOT.glob(".tools/sam/lib/python3*/site-packages/samtranslator/"
                                  "policy_templates_data/policy_templates.json"))
    if not candidates:
        try:
            import samtranslator  # type: ignore[import-not-found]
        except ImportError:
            return None
        path = Path(samtranslator.__file__).parent / "policy_templates_data/policy_templates.json"
        return path if path.exists() else None
    return candidates[-1]


def _statement_actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in _as_list(statement.get("Action", []))]


@cache
def policy_templates() -> dict[str, tuple[str, ...]]:
    path = _samtranslator_templates_file()
    if path is None:
        return EMBEDDED_TEMPLATES
    data = json.loads(path.read_text())["Templates"]
    return {
        name: tuple(a for s in _as_list(t["Definition"]["Statement"])
                    for a in _statement_actions(s))
        for name, t in data.items()
    }


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, yes, no = value["Fn::If"]
        return _as_list(yes) + _as_list(no)
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- statement extraction


def _doc_statements(doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        return []
    return [s for s in _as_list(doc.get("Statement", [])) if isinstance(s, dict)]


def sam_policies(props: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yields ("inline", statement) / ("template", (name, args)) / ("managed", name-or-arn)."""
    for item in _as_list(props.get("Policies", [])):
        if isinstance(item, str):
            yield "managed", item
        elif isinstance(item, dict) and "Statement" in item:
            for st in _doc_statements(item):
                yield "inline", st
        elif isinstance(item, dict) and len(item) == 1:
            (key, arg), = item.items()
            if key == "Ref" or key.startswith("Fn::"):
                yield "managed", json.dumps(item)
            else:
                yield "template", (key, arg)


def all_statements(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, kind, statement) for identity and resource policies in the template."""
    for logical, res in template.get("Resources", {}).items():
        rtype, props = res.get("Type"), res.get("Properties", {}) or {}
        if rtype in PRINCIPAL_TYPES:
            for kind, value in sam_policies(props):
                if kind == "inline":
                    yield logical, "identity", value
        elif rtype in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            for pol in _as_list(props.get("Policies", [])):
                for st in _doc_statements(pol.get("PolicyDocument") if isinstance(pol, dict)
                                          else None):
                    yield logical, "identity", st
        elif rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for st in _doc_statements(props.get("PolicyDocument")):
                yield logical, "identity", st
        elif rtype == "AWS::KMS::Key":
            for st in _doc_statements(props.get("KeyPolicy")):
                yield logical, "key-policy", st
        elif rtype in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy",
                       "AWS::SNS::TopicPolicy"):
            for st in _doc_statements(props.get("PolicyDocument")):
                yield logical, "resource-policy", st


# ---------------------------------------------------------------- rules


def _service(action: str) -> str:
    return action.split(":", 1)[0].lower() if ":" in action else "*"


def _is_root_admin(kind: str, st: dict[str, Any]) -> bool:
    principal = json.dumps(st.get("Principal", {}))
    return (kind == "key-policy" and st.get("Effect") == "Allow"
            and principal.endswith(':root"}}') and "AWS::AccountId" in principal
            and "Condition" not in st)


def _is_tls_only_deny(st: dict[str, Any]) -> bool:
    cond = st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
    return st.get("Effect") == "Deny" and str(cond).lower() == "false"


def statement_violations(logical: str, kind: str, st: dict[str, Any]) -> list[str]:
    if _is_root_admin(kind, st) or _is_tls_only_deny(st):
        return []
    sid = st.get("Sid", "?")
    out = []
    if "NotAction" in st and st.get("Effect", "Allow") == "Allow":
        out.append(f"{logical} [{sid}]: Allow with NotAction")
    actions = _statement_actions(st)
    for action in actions:
        if "*" in action and (action == "*" or _service(action) in DATA_SERVICES):
            out.append(f"{logical} [{sid}]: wildcard action {action!r}")
    # A key policy's Resource is always "*" (it means "this key"): only its actions matter.
    if kind != "key-policy":
        resources = _as_list(st.get("Resource", []))
        data = [a for a in actions if _service(a) in DATA_SERVICES or a == "*"]
        if "*" in resources and data:
            out.append(f"{logical} [{sid}]: Resource '*' for data actions {data}")
    return out


def principal_actions(props: dict[str, Any]) -> list[str]:
    """Every Allow action a function/state machine gets from its Policies (lower case)."""
    table = policy_templates()
    actions: list[str] = []
    for kind, value in sam_policies(props):
        if kind == "inline" and value.get("Effect", "Allow") == "Allow":
            actions += [a.lower() for a in _statement_actions(value)]
        elif kind == "template":
            name = value[0]
            assert name in table, f"unknown SAM policy template {name}: add it to the table"
            actions += [a.lower() for a in table[name]]
        elif kind == "managed" and re.search(r"S3FullAccess|AdministratorAccess", value):
            actions.append("s3:*")
    return actions


def can_delete_audio(props: dict[str, Any]) -> bool:
    return any(fnmatch.fnmatchcase(d, pattern) for pattern in principal_actions(props)
               for d in DELETE_ACTIONS)


# ---------------------------------------------------------------- the template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _principals(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {logical: res.get("Properties", {}) or {}
            for logical, res in template["Resources"].items()
            if res.get("Type") in PRINCIPAL_TYPES}


def test_template_has_functions_with_policies(template: dict[str, Any]) -> None:
    principals = _principals(template)
    assert any(logical.endswith("Function") for logical in principals)
    assert any(list(sam_policies(p)) for p in principals.values())


def test_no_wildcard_data_actions_or_star_resources(template: dict[str, Any]) -> None:
    violations = [v for logical, kind, st in all_statements(template)
                  for v in statement_violations(logical, kind, st)]
    assert not violations, "over-broad policy statements:\n" + "\n".join(violations)


def test_only_the_two_deliberate_wildcards_exist(template: dict[str, Any]) -> None:
    exempt = [(logical, kind) for logical, kind, st in all_statements(template)
              if _is_root_admin(kind, st) or _is_tls_only_deny(st)]
    kinds = {kind for _, kind in exempt}
    assert kinds <= {"key-policy", "resource-policy"}
    assert len(exempt) <= 2, exempt


def test_no_broad_managed_policies(template: dict[str, Any]) -> None:
    bad = [f"{logical}: {value}" for logical, props in _principals(template).items()
           for kind, value in sam_policies(props)
           if kind == "managed" and BROAD_MANAGED.search(value)]
    for logical, res in template["Resources"].items():
        if res.get("Type") == "AWS::IAM::Role":
            for arn in _as_list(res.get("Properties", {}).get("ManagedPolicyArns", [])):
                if BROAD_MANAGED.search(json.dumps(arn)):
                    bad.append(f"{logical}: {arn}")
    assert not bad, bad


def test_every_sam_policy_template_used_is_known(template: dict[str, Any]) -> None:
    table = policy_templates()
    unknown = sorted({value[0] for props in _principals(template).values()
                      for kind, value in sam_policies(props)
                      if kind == "template" and value[0] not in table})
    assert not unknown, f"add these SAM policy templates to EMBEDDED_TEMPLATES: {unknown}"


def test_only_erasure_can_delete_audio(template: dict[str, Any]) -> None:
    deleters = sorted(logical for logical, props in _principals(template).items()
                      if can_delete_audio(props))
    assert all(ERASURE.search(logical) for logical in deleters), (
        f"only *Erasure* functions may delete objects from the audio bucket: {deleters}"
    )


def test_embedded_table_matches_samtranslator() -> None:
    path = _samtranslator_templates_file()
    if path is None:
        pytest.skip("no samtranslator here (run .ci/validate.sh to create .tools/sam)")
    shipped = policy_templates()
    for name, actions in EMBEDDED_TEMPLATES.items():
        assert set(shipped[name]) == set(actions), name


# ---------------------------------------------------------------- the checker itself


def _fn(policies: list[Any]) -> dict[str, Any]:
    return {"Policies": policies}


def test_checker_flags_deletes_from_templates_and_inline() -> None:
    assert can_delete_audio(_fn([{"S3CrudPolicy": {"BucketName": "b"}}]))
    assert can_delete_audio(_fn([{"S3FullAccessPolicy": {"BucketName": "b"}}]))
    assert can_delete_audio(_fn([{"Statement": [{"Effect": "Allow", "Action": "s3:Delete*",
                                                 "Resource": "arn:aws:s3:::b/*"}]}]))
    assert can_delete_audio(_fn([{"Statement": {"Effect": "Allow",
                                                "Action": ["s3:DeleteObjectVersion"],
                                                "Resource": "arn:aws:s3:::b/*"}}]))
    assert can_delete_audio(_fn(["arn:aws:iam::aws:policy/AmazonS3FullAccess"]))
    assert not can_delete_audio(_fn([{"S3ReadPolicy": {"BucketName": "b"}},
                                     {"S3WritePolicy": {"BucketName": "b"}}]))
    assert not can_delete_audio(_fn([{"Statement": [{"Effect": "Deny", "Action": "s3:*",
                                                     "Resource": "*"}]}]))


def test_checker_flags_wildcards_and_star_resources() -> None:
    def bad(st: dict[str, Any], kind: str = "identity") -> bool:
        return bool(statement_violations("X", kind, st))

    assert bad({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:::t"})
    assert bad({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"})
    assert bad({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"})
    assert bad({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert bad({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/r"},
                "Action": "kms:*", "Resource": "*"}, kind="key-policy")
    assert not bad({"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"})
    assert not bad({"Effect": "Allow", "Action": "s3:GetObject",
                    "Resource": {"Fn::Sub": "${AudioBucket.Arn}/*"}})
    root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert not bad({"Effect": "Allow", "Principal": root, "Action": "kms:*", "Resource": "*"},
                   kind="key-policy")
    assert not bad({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                   kind="resource-policy")


def test_the_node_endpoint_scales_on_invocations_per_instance(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    target = resources["NodeScalableTarget"]["Properties"]
    assert target["ServiceNamespace"] == "sagemaker"
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert "NodeEndpoint.EndpointName" in str(target["ResourceId"])
    policy = resources["NodeScalingPolicy"]["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
        "SageMakerVariantInvocationsPerInstance"
    assert resources["NodeScalableTarget"]["Condition"] == resources["NodeEndpoint"]["Condition"]
