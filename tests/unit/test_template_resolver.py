from pathlib import Path

import pytest

from scaiecho.local.template import Resolver, load_template


def _resolver() -> Resolver:
    template = {
        "Parameters": {"Stage": {"Default": "dev"}, "Url": {"Default": ""}},
        "Conditions": {"HasUrl": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Url"}, ""]}]}},
    }
    return Resolver(
        template=template,
        parameters={"Stage": "local", "Url": ""},
        physical={"Table": "t-local", "Fn": "fn-local"},
        attributes={("Fn", "Arn"): "arn:fn"},
    )


def test_sub_ref_getatt_and_pseudo_parameters() -> None:
    r = _resolver()
    assert r.resolve({"Fn::Sub": "x-${Stage}-${AWS::AccountId}"}) == "x-local-123456789012"
    assert r.resolve({"Fn::Sub": "${Fn.Arn}/*"}) == "arn:fn/*"
    assert r.resolve({"Ref": "Table"}) == "t-local"
    assert r.resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == "arn:fn"
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-local"


def test_conditions() -> None:
    r = _resolver()
    assert r.condition("HasUrl") is False
    assert r.resolve({"Fn::If": ["HasUrl", "yes", "no"]}) == "no"


def test_unknown_references_fail_loudly() -> None:
    with pytest.raises(KeyError):
        _resolver().resolve({"Ref": "Nope"})
    with pytest.raises(KeyError):
        _resolver().resolve({"Fn::FindInMap": ["a", "b", "c"]})


def test_definition_substitution_requires_every_placeholder() -> None:
    r = _resolver()
    done = r.substitute_definition('{"T": "${TableName}"}', {"TableName": {"Ref": "Table"}})
    assert done == '{"T": "t-local"}'
    with pytest.raises(KeyError):
        r.substitute_definition('{"T": "${Other}"}', {})


def test_project_template_loads_with_short_form_tags() -> None:
    template = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
    assert template["Resources"]["ApiKeysTable"]["Properties"]["TableName"] == {
        "Fn::Sub": "scaiecho-${Stage}-api-keys"
    }
