"""Helpers for .ci/validate.sh that need to read template.yaml (stdlib + PyYAML only).

  asl OUT_DIR       copy every statemachine/*.asl.json into OUT_DIR with its ${Name}
                    DefinitionSubstitutions replaced by plausible names/ARNs, so ASL linters that
                    check Resource/ARN shapes see what Step Functions will see. Prints one line
                    per file: "<source>\t<prepared copy>". Fails on a placeholder with no
                    substitution; warns on an ASL file no state machine uses.
  runtime           the Python runtime of the template's functions (e.g. python3.12).
  reqs              layers/core/requirements.txt pins (==) every [project].dependencies package of
                    pyproject.toml, and nothing from the [node] extra (torch stays out of the layer).
  sizes BUILD_DIR   after `sam build`: unzipped size of every built function and layer, the
                    function+layers total against Lambda's 250 MB limit, and a torch check on
                    everything that is not the pyannote node part (CodeUri/ContentUri under
                    layers/node). Exit 1 on torch in an API part or a package over the limit.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: function code + all its layers, unzipped
NODE_PREFIX = "layers/node"

ARN_SHAPES = {
    "AWS::Serverless::Function": "arn:aws:lambda:{r}:{a}:function:{n}",
    "AWS::Lambda::Function": "arn:aws:lambda:{r}:{a}:function:{n}",
    "AWS::Serverless::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{r}:{a}:table/{n}",
    "AWS::S3::Bucket": "arn:aws:s3:::{n}",
    "AWS::KMS::Key": "arn:aws:kms:{r}:{a}:key/00000000-0000-0000-0000-000000000000",
    "AWS::SQS::Queue": "arn:aws:sqs:{r}:{a}:{n}",
    "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:{n}",
    "AWS::SageMaker::Endpoint": "arn:aws:sagemaker:{r}:{a}:endpoint/{n}",
    "AWS::Events::EventBus": "arn:aws:events:{r}:{a}:event-bus/{n}",
}
# Ref returns the ARN (not a name) for these types.
REF_IS_ARN = {
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
    "AWS::SNS::Topic",
    "AWS::KMS::Key",
}


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def load(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        return yaml.load(fh, Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def _name(logical: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", logical).lower()


def _plausible(value: Any, resources: dict[str, Any], params: dict[str, Any]) -> str:
    """A stand-in for what CloudFormation would substitute."""
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            if arg in params:
                return str(params[arg].get("Default", arg))
            rtype = resources.get(arg, {}).get("Type", "")
            if rtype in REF_IS_ARN:
                return ARN_SHAPES[rtype].format(r=REGION, a=ACCOUNT, n=_name(arg))
            return _name(arg)
        if key == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
            rtype = resources.get(logical, {}).get("Type", "")
            if attr.endswith("Arn") and rtype in ARN_SHAPES:
                return ARN_SHAPES[rtype].format(r=REGION, a=ACCOUNT, n=_name(logical))
            return _name(logical) + "-" + attr.lower()
        if key == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}

            def repl(m: re.Match[str]) -> str:
                ref = m.group(1)
                if ref in pseudo:
                    return pseudo[ref]
                if "." in ref:
                    return _plausible({"Fn::GetAtt": ref.split(".", 1)}, resources, params)
                return _plausible({"Ref": ref}, resources, params)

            return re.sub(r"\$\{([^}!]+)\}", repl, text)
    raise SystemExit(f"template_tool: cannot stand in for substitution value {value!r}")


def _guess(name: str) -> str:
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{_name(name[:-3])}"
    if name.endswith("StateMachineArn"):
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{_name(name[:-3])}"
    if name.endswith("Arn"):
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{_name(name[:-3])}"
    return _name(name)


def cmd_asl(out_dir: Path) -> int:
    template = load(ROOT / "template.yaml")
    resources = template.get("Resources", {})
    params = template.get("Parameters", {})
    users: dict[Path, list[tuple[str, dict[str, Any]]]] = {}
    for logical, res in resources.items():
        if res.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = res.get("Properties", {})
        uri = props.get("DefinitionUri")
        if isinstance(uri, str):
            subs = props.get("DefinitionSubstitutions", {}) or {}
            users.setdefault((ROOT / uri).resolve(), []).append((logical, subs))
    out_dir.mkdir(parents=True, exist_ok=True)
    errors = 0
    for asl in sorted((ROOT / "statemachine").glob("*.asl.json")):
        text = asl.read_text()
        placeholders = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text)))
        owners = users.get(asl.resolve(), [])
        rel = asl.relative_to(ROOT)
        if not owners:
            print(f"WARN {rel}: no AWS::Serverless::StateMachine uses it", file=sys.stderr)
            values = {p: _guess(p) for p in placeholders}
        else:
            values = {}
            for logical, subs in owners:
                for p in placeholders:
                    if p not in subs:
                        print(f"ERROR {rel}: ${{{p}}} has no DefinitionSubstitution in "
                              f"{logical}", file=sys.stderr)
                        errors += 1
                    else:
                        values[p] = _plausible(subs[p], resources, params)
                for unused in sorted(set(subs) - set(placeholders)):
                    print(f"WARN {rel}: {logical} substitutes {unused}, which the file never "
                          f"uses", file=sys.stderr)
        prepared = re.sub(r"\$\{([A-Za-z0-9_]+)\}",
                          lambda m, v=values: v.get(m.group(1), m.group(0)), text)
        try:
            json.loads(prepared)
        except json.JSONDecodeError as exc:
            print(f"ERROR {rel}: not valid JSON: {exc}", file=sys.stderr)
            errors += 1
        target = out_dir / asl.name
        target.write_text(prepared)
        print(f"{rel}\t{target}")
    return 1 if errors else 0


def cmd_runtime() -> int:
    template = load(ROOT / "template.yaml")
    runtimes = set()
    glob_rt = template.get("Globals", {}).get("Function", {}).get("Runtime")
    for res in template.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            rt = res.get("Properties", {}).get("Runtime", glob_rt)
            if isinstance(rt, str) and rt.startswith("python"):
                runtimes.add(rt)
        meta = res.get("Metadata", {}) or {}
        if str(meta.get("BuildMethod", "")).startswith("python"):
            runtimes.add(meta["BuildMethod"])
    print("\n".join(sorted(runtimes)))
    return 0


def _canon(req: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0]).lower()


def cmd_reqs() -> int:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_canon(r) for r in project.get("dependencies", [])}
    node = {_canon(r) for r in project.get("optional-dependencies", {}).get("node", [])}
    pinned: dict[str, str] = {}
    for line in (ROOT / "layers/core/requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pinned[_canon(line)] = line
    errors = [f"{n}: in pyproject dependencies, missing from layers/core/requirements.txt"
              for n in sorted(wanted - set(pinned))]
    errors += [f"{line}: not an exact (==) pin" for line in pinned.values() if "==" not in line]
    errors += [f"{n}: a [node] extra package in the core layer" for n in sorted(node & set(pinned))]
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    if not errors:
        print(f"layers/core/requirements.txt pins all {len(wanted)} core dependencies")
    return 1 if errors else 0


def _du(path: Path) -> tuple[int, bool]:
    total, torch = 0, False
    for dirpath, dirnames, filenames in os.walk(path):
        if "torch" in dirnames:
            torch = True
        for f in filenames:
            fp = Path(dirpath, f)
            if not fp.is_symlink():
                total += fp.stat().st_size
    return total, torch


def cmd_sizes(build_dir: Path) -> int:
    source = load(ROOT / "template.yaml")
    built = load(build_dir / "template.yaml")
    node_parts = set()
    for logical, res in source.get("Resources", {}).items():
        props = res.get("Properties", {}) or {}
        uri = props.get("CodeUri") or props.get("ContentUri")
        if isinstance(uri, str) and uri.strip("./").startswith(NODE_PREFIX):
            node_parts.add(logical)
    glob_layers = built.get("Globals", {}).get("Function", {}).get("Layers", [])
    sizes: dict[str, tuple[int, bool]] = {}
    for d in sorted(p for p in build_dir.iterdir() if p.is_dir()):
        sizes[d.name] = _du(d)
    failed = False
    print(f"{'built part':<34} {'unzipped MB':>11} {'+layers MB':>10}  torch")
    for name, (size, torch) in sizes.items():
        res = built.get("Resources", {}).get(name, {})
        with_layers = size
        if res.get("Type") == "AWS::Serverless::Function":
            layers = res.get("Properties", {}).get("Layers", glob_layers) or []
            for layer in layers:
                ref = layer.get("Ref") if isinstance(layer, dict) else None
                if ref in sizes:
                    with_layers += sizes[ref][0]
                    torch = torch or (sizes[ref][1] and ref not in node_parts)
        verdict = "-"
        if torch:
            verdict = "yes (node part, allowed)" if name in node_parts else "YES - FORBIDDEN"
            failed = failed or name not in node_parts
        over = with_layers > LAMBDA_UNZIPPED_LIMIT
        failed = failed or over
        print(f"{name:<34} {size / 1e6:>11.2f} {with_layers / 1e6:>10.2f}  {verdict}"
              + ("  OVER 250 MB LIMIT" if over else ""))
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "asl":
        return cmd_asl(Path(argv[1]))
    if argv == ["runtime"]:
        return cmd_runtime()
    if argv == ["reqs"]:
        return cmd_reqs()
    if len(argv) >= 2 and argv[0] == "sizes":
        return cmd_sizes(Path(argv[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
