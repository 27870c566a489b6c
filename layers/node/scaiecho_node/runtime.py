"""Process-wide runtime setup for the node: offline hub, no telemetry, thread count.

Called once before pyannote is imported (by ``loading``); idempotent. Environment variables are
only defaulted, so an operator's explicit value always wins.
"""

from __future__ import annotations

import os
import warnings

_configured = False


def configure_runtime(num_threads: int | None = None) -> None:
    """Make pyannote/huggingface offline and quiet, and pin torch's intra-op threads."""
    global _configured
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # pyannote warns at import when torchcodec cannot load its FFmpeg libraries; the node never
    # asks pyannote to decode files (it passes in-memory waveforms), so that warning is noise.
    warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed correctly")
    import torch

    threads = num_threads or os.cpu_count() or 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    _configured = True
