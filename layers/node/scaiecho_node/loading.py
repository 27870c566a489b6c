"""Load a pyannote pipeline directory: the embedded default or any pyannote one (community-1).

``Pipeline.from_pretrained(<dir>)`` reads ``<dir>/config.yaml`` and resolves ``$model/<sub>``
entries to files under ``<dir>``; nothing is fetched from the hub (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scaiecho.errors import ServiceUnavailable
from scaiecho_node.gain import GAIN_MODES
from scaiecho_node.runtime import configure_runtime


@dataclass
class LoadedModel:
    pipeline: Any  # pyannote.audio.pipelines.SpeakerDiarization
    embedding_model: Any  # pyannote.audio.Model used for every embedding
    model_id: str
    model_version: str
    model_dir: Path
    device: str
    embedding_dim: int
    sample_rate: int
    load_time_s: float
    gain_normalisation: str = "none"  # before segmentation (gain.py); config.yaml's scaiecho block


def read_identity(model_dir: Path) -> tuple[str, str]:
    """(model_id, model_version) from config.yaml's ``scaiecho`` block, else from the path."""
    config = yaml.safe_load((model_dir / "config.yaml").read_text()) or {}
    ours = config.get("scaiecho") or {}
    model_id = str(ours.get("model_id") or model_dir.name)
    version = ours.get("model_version")
    if version is None:
        deps = config.get("dependencies") or {}
        version = f"pyannote.audio-{deps.get('pyannote.audio', config.get('version', 'unknown'))}"
    return model_id, str(version)


def load_model(
    model_dir: Path, *, device: str = "cpu", num_threads: int | None = None
) -> LoadedModel:
    """Load the diarization pipeline (and its embedding model) from ``model_dir``."""
    configure_runtime(num_threads)
    import torch
    from pyannote.audio import Model, Pipeline
    from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization

    model_dir = Path(model_dir)
    if not (model_dir / "config.yaml").is_file():
        raise ServiceUnavailable(
            f"no pyannote pipeline at {model_dir} (config.yaml missing); build the default with "
            "`python -m scaiecho_node.modeldir build` or set SCAIECHO_MODEL_DIR",
            code="model_not_loaded",
        )
    started = time.perf_counter()
    pipeline = Pipeline.from_pretrained(model_dir)
    if not isinstance(pipeline, SpeakerDiarization):
        raise ServiceUnavailable(
            f"{model_dir} holds a {type(pipeline).__name__}, not a SpeakerDiarization pipeline",
            code="model_not_loaded",
        )
    pipeline.to(torch.device(device))
    embedding = pipeline._embedding
    embedding_model = getattr(embedding, "model_", None)
    if not isinstance(embedding_model, Model):
        raise ServiceUnavailable(
            "the pipeline's embedding is not a pyannote.audio Model; only pyannote models are "
            "supported for enrollment embeddings",
            code="model_not_loaded",
        )
    embedding_model.eval()
    model_id, version = read_identity(model_dir)
    ours = (yaml.safe_load((model_dir / "config.yaml").read_text()) or {}).get("scaiecho") or {}
    gain = str(ours.get("gain_normalisation", "none"))
    if gain not in GAIN_MODES:
        raise ServiceUnavailable(
            f"{model_dir}/config.yaml: scaiecho.gain_normalisation must be one of {GAIN_MODES}",
            code="model_not_loaded",
        )
    return LoadedModel(
        pipeline=pipeline,
        embedding_model=embedding_model,
        model_id=model_id,
        model_version=version,
        model_dir=model_dir,
        device=device,
        embedding_dim=int(embedding.dimension),
        sample_rate=int(embedding.sample_rate),
        load_time_s=time.perf_counter() - started,
        gain_normalisation=gain,
    )
