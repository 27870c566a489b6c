"""Model-dir builder (idempotent, checksummed) and the SageMaker package layout."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from scaiecho_node import modeldir
from scaiecho_node.package import build_package
from scaiecho_node.settings import resolve_model_dir


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("models") / "default"
    report = modeldir.build(out)
    assert report.built
    return out


def test_build_writes_a_pipeline_dir_with_manifest(built: Path) -> None:
    for name in modeldir.EXPECTED_FILES:
        assert (built / name).is_file(), name
    manifest = json.loads((built / modeldir.MANIFEST).read_text())
    assert set(modeldir.EXPECTED_FILES) <= set(manifest["files"])
    assert modeldir.verify(built) == []


def test_build_is_idempotent_and_repairs_corruption(built: Path) -> None:
    before = (built / "embedding" / "pytorch_model.bin").stat().st_mtime_ns
    assert modeldir.build(built).built is False
    assert (built / "embedding" / "pytorch_model.bin").stat().st_mtime_ns == before
    with (built / "segmentation" / "pytorch_model.bin").open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00corrupt\x00")
    assert any("segmentation" in p for p in modeldir.verify(built))
    report = modeldir.build(built)
    assert report.built and "segmentation" in report.reason
    assert modeldir.verify(built) == []


def test_verify_reports_missing_dir(tmp_path: Path) -> None:
    assert modeldir.verify(tmp_path / "nothing") != []


def test_resolve_model_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCAIECHO_MODEL_DIR", str(tmp_path))
    assert resolve_model_dir() == tmp_path
    monkeypatch.delenv("SCAIECHO_MODEL_DIR")
    assert resolve_model_dir().parts[-2:] == (".models", "default")


def test_package_layout(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "embedding").mkdir(parents=True)
    (model / "config.yaml").write_text("pipeline: {}\n")
    (model / "embedding" / "pytorch_model.bin").write_bytes(b"weights")
    out = tmp_path / "model.tar.gz"
    build_package(model, out)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"config.yaml", "embedding/pytorch_model.bin", "code/inference.py",
            "code/requirements.txt", "code/scaiecho_node/engine.py",
            "code/scaiecho/errors.py", "code/scaiecho/audio/decode.py"} <= names


def test_package_ships_the_asr_model_as_asr_dir(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.yaml").write_text("pipeline: {}\n")
    whisper = tmp_path / "whisper"
    whisper.mkdir()
    (whisper / "model.bin").write_bytes(b"ct2")
    (whisper / "tokenizer.json").write_text("{}")
    out = tmp_path / "model.tar.gz"
    build_package(model, out, asr_dir=whisper)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        requirements = tar.extractfile("code/requirements.txt").read().decode()  # type: ignore[union-attr]
    assert {"asr/model.bin", "asr/tokenizer.json", "code/scaiecho_node/asr.py"} <= names
    assert "faster-whisper" in requirements
