"""The running local stack's endpoints, written to a state file the CLI reads (no flags needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def state_path() -> Path:
    home = os.environ.get("SCAIECHO_HOME") or str(Path.home() / ".scaiecho")
    return Path(home) / "local-stack.json"


def write_state(state: dict[str, Any]) -> Path:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)  # it holds the demo API key
    tmp.replace(path)
    return path


def read_state() -> dict[str, Any] | None:
    path = state_path()
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    pid = data.get("pid")
    if pid and not _alive(int(pid)):
        return None  # a stack that died without cleaning up
    return data


def clear_state(pid: int) -> None:
    path = state_path()
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def apply_state_env(state: dict[str, Any]) -> None:
    """Point this process's settings and AWS clients at the running stack."""
    os.environ.update(state["environment"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
