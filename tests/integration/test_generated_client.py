"""The served OpenAPI document is a client's contract: it validates, every operation documents its
request body and its 2xx answer, and a client generated from it (datamodel-code-generator, at
test time) parses a real transcript answer and dumps it back to the same JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from datamodel_code_generator import DataModelType, InputFileType, generate
from openapi_spec_validator import validate

from scaiecho.api.app import API_PREFIX
from tests.conftest import auth
from tests.contract_node import ContractNode
from tests.integration.test_transcription import JOBS, key, node, submit, wait

__all__ = ["key", "node"]  # the fixtures this module borrows
_METHODS = ("get", "put", "post", "delete", "patch")


def served_document(api: Any) -> dict[str, Any]:
    resp = api.get(f"{API_PREFIX}/openapi.json")
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def generated_models(doc: dict[str, Any], folder: Path) -> ModuleType:
    """Pydantic v2 models generated from ``doc`` into ``folder`` and imported."""
    out = folder / "scaiecho_client_models.py"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the generator's notice about formatters
        generate(json.dumps(doc), input_file_type=InputFileType.OpenAPI, output=out,
                 output_model_type=DataModelType.PydanticV2BaseModel)
    spec = importlib.util.spec_from_file_location(out.stem, out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[out.stem] = module  # pydantic resolves the module's forward references through it
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(out.stem, None)
    return module


def response_model(models: ModuleType, doc: dict[str, Any], path: str, method: str) -> Any:
    """The generated class of an operation's 200 JSON answer (named after its schema)."""
    schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[1].replace("_", "")
    return getattr(models, name)


def test_the_document_validates_and_documents_every_body_and_answer(api: Any) -> None:
    doc = served_document(api)
    validate(doc)
    missing: list[str] = []
    for path, item in doc["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            where = f"{method.upper()} {path}"
            body = op.get("requestBody")
            if body is not None:
                missing += [f"{where} request {media}" for media, c in body["content"].items()
                            if not c.get("schema")]
            elif method in ("put", "post", "patch"):  # every operation here that takes a body
                missing.append(f"{where} requestBody")
            ok = {s: r for s, r in op["responses"].items() if s.startswith("2")}
            if not ok:
                missing.append(f"{where} 2xx")
            for status, answer in ok.items():
                if status == "204":
                    continue
                content = answer.get("content") or {}
                if not content or not all(c.get("schema") for c in content.values()):
                    missing.append(f"{where} {status} schema")
    assert missing == []


def test_a_generated_client_round_trips_a_transcript(api: Any, node: ContractNode, key: str,
                                                     tmp_path: Path) -> None:
    doc = served_document(api)
    models = generated_models(doc, tmp_path)

    job = submit(api, key, language="en", diarize="true")
    assert wait(api, key, job["job_id"])["status"] == "COMPLETED"
    resp = api.get(f"{JOBS}/{job['job_id']}", headers=auth(key))
    assert resp.status_code == 200
    body = resp.json()
    assert body["data"]["segments"] and body["data"]["speakers"]  # a real, diarized transcript

    envelope = response_model(models, doc, f"{API_PREFIX}/transcribe/{{job_id}}", "get")
    parsed = envelope.model_validate(body)
    assert parsed.data.job_id == job["job_id"]
    assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == body
