"""Reads template.yaml and resolves the intrinsic functions the local stack needs.

Only what this project's template uses is supported (Ref, Sub, GetAtt, Join, If/Equals/Not);
an unknown intrinsic raises, so a template change that the local stack can't follow is loud.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"


class _CfnLoader(yaml.SafeLoader):
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
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return data


@dataclass
class Resolver:
    """Resolves intrinsics against the local names chosen for each resource."""

    template: dict[str, Any]
    parameters: dict[str, str]
    physical: dict[str, str]  # logical id -> Ref value (name or ARN, as CloudFormation gives)
    attributes: dict[tuple[str, str], str]  # (logical id, attribute) -> value
    region: str = "us-east-1"

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": f"scaiecho-{self.parameters.get('Stage', 'local')}",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> str:
        pseudo = self.pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise KeyError(f"template Ref to {name!r} cannot be resolved locally")

    def get_att(self, logical: str, attr: str) -> str:
        if (logical, attr) in self.attributes:
            return self.attributes[(logical, attr)]
        raise KeyError(f"template GetAtt {logical}.{attr} cannot be resolved locally")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        (key, arg), = value.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(logical, attr)
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(str(self.resolve(i)) for i in items)
        if key == "Fn::If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond) else no)
        if key.startswith("Fn::"):
            raise KeyError(f"intrinsic {key} is not supported by the local stack")
        return {key: self.resolve(arg)}

    def condition(self, name: str) -> bool:
        return bool(self._eval_condition(self.template.get("Conditions", {})[name]))

    def _eval_condition(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            (key, arg), = expr.items()
            if key == "Fn::Equals":
                a, b = (self._eval_condition(x) for x in arg)
                return a == b
            if key == "Fn::Not":
                return not self._eval_condition(arg[0])
            if key == "Fn::And":
                return all(self._eval_condition(x) for x in arg)
            if key == "Fn::Or":
                return any(self._eval_condition(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(expr)

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(self.resolve(extra[name]))
            if "." in name and not name.startswith("AWS::"):
                logical, attr = name.split(".", 1)
                return self.get_att(logical, attr)
            return self.ref(name)

        return re.sub(r"\$\{([^}!][^}]*)\}", repl, text)

    def substitute_definition(self, definition: str, substitutions: dict[str, Any]) -> str:
        """SAM DefinitionSubstitutions: plain ${Name} placeholders in the ASL file."""
        values = {k: str(self.resolve(v)) for k, v in substitutions.items()}

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise KeyError(f"ASL placeholder ${{{name}}} has no DefinitionSubstitution")
            return values[name]

        return re.sub(r"\$\{([A-Za-z0-9_]+)\}", repl, definition)


def resources_of(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {
        logical: res
        for logical, res in template.get("Resources", {}).items()
        if res.get("Type") in types
    }


def default_parameters(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    params = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
    params.update(overrides)
    return params
