"""Node settings, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL_DIR = ".models/default"
MODEL_DIR_ENV = "SCAIECHO_MODEL_DIR"


def repo_root() -> Path:
    """The source checkout root (layers/node/scaiecho_node/settings.py → three levels up)."""
    return Path(__file__).resolve().parents[3]


def resolve_model_dir(value: str | os.PathLike[str] | None = None) -> Path:
    """Resolve a model directory: explicit value, else $SCAIECHO_MODEL_DIR, else the default.

    Relative paths are taken from the repository root (so the node finds ``.models/default``
    whatever its working directory), unless they exist relative to the current directory.
    """
    raw = Path(value if value is not None else os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)
    raw = raw.expanduser()
    if raw.is_absolute():
        return raw
    if raw.exists():
        return raw.resolve()
    return (repo_root() / raw).resolve()


@dataclass(frozen=True)
class NodeSettings:
    """Settings of one node process."""

    model_dir: Path
    device: str = "cpu"
    num_threads: int | None = None
    node_id: str = "local-node"
    # identification overrides, for model dirs other than the calibrated default (community-1)
    id_threshold: float | None = None
    id_slope: float | None = None
    # speech-to-text: a local CTranslate2 Whisper dir; None → <model_dir>/asr, else bundled tiny.en
    asr_model: str | None = None

    @classmethod
    def from_env(
        cls, *, model_dir: str | os.PathLike[str] | None = None, node_id: str | None = None
    ) -> NodeSettings:
        threads = os.environ.get("SCAIECHO_NODE_THREADS")
        threshold = os.environ.get("SCAIECHO_ID_THRESHOLD")
        slope = os.environ.get("SCAIECHO_ID_SLOPE")
        return cls(
            model_dir=resolve_model_dir(model_dir),
            device=os.environ.get("SCAIECHO_NODE_DEVICE", "cpu"),
            num_threads=int(threads) if threads else None,
            node_id=node_id or os.environ.get("SCAIECHO_NODE_ID", "local-node"),
            id_threshold=float(threshold) if threshold else None,
            id_slope=float(slope) if slope else None,
            asr_model=os.environ.get("SCAIECHO_ASR_MODEL") or None,
        )
