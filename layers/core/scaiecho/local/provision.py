"""Creates every table, bucket, key, function and state machine that template.yaml declares.

The template is the single source of truth: nothing here names a resource. The result carries
the environment every function gets on AWS (Globals + per-function variables), resolved to the
local names, so in-process handlers read the same settings they would read on Lambda.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scaiecho.local import moto_patches
from scaiecho.local.template import (
    ACCOUNT_ID,
    Resolver,
    default_parameters,
    load_template,
    resources_of,
)

LOCAL_ROLE = "scaiecho-local-execution"
TABLE_TYPES = ("AWS::DynamoDB::Table",)
BUCKET_TYPES = ("AWS::S3::Bucket",)
KEY_TYPES = ("AWS::KMS::Key",)
FUNCTION_TYPES = ("AWS::Serverless::Function",)
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine",)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    code_uri: str  # relative to the template, e.g. functions/intake/
    handler: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]  # Globals + the function's own variables, resolved

    def serialize(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_stored(cls, doc: dict[str, Any]) -> FunctionSpec:
        return cls(**doc)


@dataclass
class Provisioned:
    tables: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    environment: dict[str, str] = field(default_factory=dict)
    # What Lambda would know of each function (by logical id): `scaiecho invoke` and
    # `scaiecho env --sam` rebuild one function's own environment from it.
    function_specs: dict[str, FunctionSpec] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "tables": self.tables,
            "buckets": self.buckets,
            "kms_keys": len(self.keys),
            "functions": self.functions,
            "state_machines": sorted(self.state_machines.values()),
        }


def _active(resolver: Resolver, resource: dict[str, Any]) -> bool:
    cond = resource.get("Condition")
    return cond is None or resolver.condition(cond)


def provision(
    session: Any,
    template_path: Path,
    *,
    stage: str = "local",
    region: str = "us-east-1",
) -> Provisioned:
    """Provision into whatever endpoint ``session`` (a boto3 Session or client factory) targets."""
    template = load_template(template_path)
    root = template_path.parent
    params = default_parameters(template, {"Stage": stage})
    resolver = Resolver(template=template, parameters=params, physical={}, attributes={},
                        region=region)
    out = Provisioned()

    kms = session.client("kms", region_name=region)
    for logical, res in resources_of(template, *KEY_TYPES).items():
        if not _active(resolver, res):
            continue
        meta = kms.create_key(Description=res["Properties"].get("Description", logical))["KeyMetadata"]
        resolver.physical[logical] = meta["KeyId"]
        resolver.attributes[(logical, "Arn")] = meta["Arn"]
        out.keys.append(meta["KeyId"])

    _name_resources(template, resolver, region)

    s3 = session.client("s3", region_name=region)
    for logical, res in resources_of(template, *BUCKET_TYPES).items():
        if _active(resolver, res):
            out.buckets.append(_create_bucket(s3, resolver, logical, res["Properties"], region))

    ddb = session.client("dynamodb", region_name=region)
    for logical, res in resources_of(template, *TABLE_TYPES).items():
        if _active(resolver, res):
            out.tables.append(_create_table(ddb, resolver, logical, res["Properties"]))

    role_arn = _execution_role(session.client("iam", region_name=region))
    lam = session.client("lambda", region_name=region)
    for logical, res in resources_of(template, *FUNCTION_TYPES).items():
        if _active(resolver, res):
            out.functions.append(_create_function(lam, resolver, root, logical, res, role_arn))
            out.function_specs[logical] = _function_spec(template, resolver, logical, res)

    sfn = session.client("stepfunctions", region_name=region)
    for logical, res in resources_of(template, *STATE_MACHINE_TYPES).items():
        if _active(resolver, res):
            props = res["Properties"]
            definition = resolver.substitute_definition(
                (root / props["DefinitionUri"]).read_text(), props.get("DefinitionSubstitutions", {})
            )
            arn = sfn.create_state_machine(
                name=resolver.physical[logical + ".Name"],
                definition=definition,
                roleArn=role_arn,
                type=props.get("Type", "STANDARD"),
            )["stateMachineArn"]
            out.state_machines[logical] = arn

    out.environment = function_environment(template, resolver)
    return out


def _name_resources(template: dict[str, Any], resolver: Resolver, region: str) -> None:
    """Fix every physical name/ARN up front: resources reference each other in any order."""
    for logical, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        rtype = res.get("Type")
        if rtype in TABLE_TYPES:
            name = resolver.resolve(props["TableName"])
            resolver.physical[logical] = name
            resolver.attributes[(logical, "Arn")] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}"
        elif rtype in BUCKET_TYPES:
            name = resolver.resolve(props["BucketName"])
            resolver.physical[logical] = name
            resolver.attributes[(logical, "Arn")] = f"arn:aws:s3:::{name}"
        elif rtype in FUNCTION_TYPES:
            name = resolver.resolve(props.get("FunctionName", logical))
            resolver.physical[logical] = name
            resolver.attributes[(logical, "Arn")] = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
        elif rtype in STATE_MACHINE_TYPES:
            name = resolver.resolve(props.get("Name", logical))
            arn = f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"
            resolver.physical[logical] = arn
            resolver.physical[logical + ".Name"] = name
            resolver.attributes[(logical, "Name")] = name
        elif rtype == "AWS::SageMaker::Endpoint":
            resolver.physical[logical] = resolver.resolve(props.get("EndpointName", logical))
        elif rtype not in KEY_TYPES:
            # APIs, layers, roles...: not provisioned locally; a Ref to them yields a placeholder.
            resolver.physical.setdefault(logical, f"local-{logical}")


def _create_bucket(s3: Any, resolver: Resolver, logical: str, props: dict[str, Any], region: str) -> str:
    name = resolver.physical[logical]
    s3.create_bucket(Bucket=name)
    if props.get("VersioningConfiguration"):
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration=resolver.resolve(props["VersioningConfiguration"])
        )
    if props.get("BucketEncryption"):
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": {
                    k2: str(resolver.resolve(v2))
                    for k2, v2 in {
                        "SSEAlgorithm": r["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
                        "KMSMasterKeyID": r["ServerSideEncryptionByDefault"].get("KMSMasterKeyID"),
                    }.items()
                    if v2
                },
                "BucketKeyEnabled": bool(r.get("BucketKeyEnabled", False)),
            }
            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if props.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration=resolver.resolve(props["PublicAccessBlockConfiguration"]),
        )
    if props.get("LifecycleConfiguration"):
        rules = []
        for rule in props["LifecycleConfiguration"]["Rules"]:
            r: dict[str, Any] = {
                "ID": rule["Id"],
                "Status": rule["Status"],
                "Filter": _lifecycle_filter(rule),
            }
            if "ExpirationInDays" in rule:
                r["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
            if "NoncurrentVersionExpiration" in rule:
                r["NoncurrentVersionExpiration"] = {
                    "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
                }
            rules.append(r)
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    return str(name)


def _lifecycle_filter(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's Prefix / TagFilters as the S3 API's Filter (one condition, or an And)."""
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters", [])]
    prefix = rule.get("Prefix")
    if not tags:
        return {"Prefix": prefix or ""}
    if len(tags) == 1 and not prefix:
        return {"Tag": tags[0]}
    both: dict[str, Any] = {"Tags": tags}
    if prefix:
        both["Prefix"] = prefix
    return {"And": both}


def _create_table(ddb: Any, resolver: Resolver, logical: str, props: dict[str, Any]) -> str:
    name = resolver.physical[logical]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    ddb.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": bool(ttl["Enabled"]), "AttributeName": ttl["AttributeName"]},
        )
    return str(name)


def _execution_role(iam: Any) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
             "Action": "sts:AssumeRole"}
        ],
    }
    try:
        return str(iam.get_role(RoleName=LOCAL_ROLE)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(
            iam.create_role(RoleName=LOCAL_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        )


def _create_function(
    lam: Any, resolver: Resolver, root: Path, logical: str, res: dict[str, Any], role_arn: str
) -> str:
    props = res["Properties"]
    globals_fn = resolver.template.get("Globals", {}).get("Function", {})
    name = resolver.physical[logical]
    code_dir = root / props["CodeUri"]
    handler = props.get("Handler", globals_fn.get("Handler", "app.lambda_handler"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(code_dir.glob("*.py")):
            zf.write(path, path.name)
    lam.create_function(
        FunctionName=name,
        Runtime=props.get("Runtime", globals_fn.get("Runtime", "python3.11")),
        Role=role_arn,
        Handler=handler,
        Code={"ZipFile": buf.getvalue()},
        Timeout=int(props.get("Timeout", globals_fn.get("Timeout", 29))),
    )
    moto_patches.register_function(name, moto_patches.load_handler(code_dir, handler))
    return str(name)


def _function_spec(template: dict[str, Any], resolver: Resolver, logical: str,
                   res: dict[str, Any]) -> FunctionSpec:
    props = res["Properties"]
    globals_fn = template.get("Globals", {}).get("Function", {})
    env: dict[str, str] = {}
    for block in (globals_fn, props):  # the function's own variables override Globals, as on AWS
        for key, value in (block.get("Environment", {}).get("Variables", {}) or {}).items():
            env[key] = str(resolver.resolve(value))
    return FunctionSpec(
        logical_id=logical,
        name=str(resolver.physical[logical]),
        code_uri=str(props["CodeUri"]),
        handler=str(props.get("Handler", globals_fn.get("Handler", "app.lambda_handler"))),
        memory_mb=int(resolver.resolve(props.get("MemorySize", globals_fn.get("MemorySize", 128)))),
        timeout_s=int(resolver.resolve(props.get("Timeout", globals_fn.get("Timeout", 3)))),
        environment=env,
    )


def function_environment(template: dict[str, Any], resolver: Resolver) -> dict[str, str]:
    """Globals + every function's variables, resolved (one process hosts them all locally)."""
    env: dict[str, str] = {}
    blocks = [template.get("Globals", {}).get("Function", {})]
    blocks += [r.get("Properties", {}) for r in resources_of(template, *FUNCTION_TYPES).values()]
    for block in blocks:
        for key, value in (block.get("Environment", {}).get("Variables", {}) or {}).items():
            env[key] = str(resolver.resolve(value))
    return env
