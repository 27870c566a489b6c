"""Package a model directory + the node code as a SageMaker ``model.tar.gz``.

    python -m scaiecho_node.package --model-dir .models/default --out build/model.tar.gz

Layout (what SageMaker's PyTorch serving container expects)::

    config.yaml, segmentation/, embedding/, plda/, MANIFEST.json   ← the pipeline dir
    asr/model.bin, asr/config.json, …                              ← Whisper (CTranslate2), optional
    code/inference.py                                              ← sagemaker_entry.py
    code/requirements.txt                                          ← node dependencies
    code/scaiecho_node/…, code/scaiecho/{errors.py, audio/…}       ← the sources it imports
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path

import scaiecho
import scaiecho_node
from scaiecho_node.asr import ASR_SUBDIR, bundled_model_dir
from scaiecho_node.settings import resolve_model_dir

REQUIREMENTS = """\
# installed by the SageMaker PyTorch container (torch itself comes with the image)
pyannote.audio==4.0.7
numpy>=1.26
scipy>=1.11
soundfile>=0.13
av>=14
pyyaml>=6
boto3>=1.40
faster-whisper==1.2.1
"""

# only the parts of the core package the node imports (no API, no pynamodb)
CORE_FILES = ("__init__.py", "errors.py", "audio/__init__.py", "audio/decode.py")


def _skip(path: Path) -> bool:
    return "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo")


def build_package(model_dir: Path, out: Path, asr_dir: Path | None = None) -> list[str]:
    """Write the tarball; return its member names. ``asr_dir`` (a CTranslate2 Whisper dir) goes
    in as ``asr/``, where the node's engine looks for it before the bundled tiny.en."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.yaml").is_file():
        raise SystemExit(f"{model_dir} is not a pipeline directory (no config.yaml)")
    out.parent.mkdir(parents=True, exist_ok=True)
    node_src = Path(next(iter(scaiecho_node.__path__)))
    core_src = Path(next(iter(scaiecho.__path__)))
    names: list[str] = []
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file() and not _skip(path):
                arc = str(path.relative_to(model_dir))
                tar.add(path, arcname=arc)
                names.append(arc)
        if asr_dir is not None and not (model_dir / ASR_SUBDIR).exists():
            for path in sorted(Path(asr_dir).rglob("*")):
                if path.is_file() and not _skip(path):
                    arc = f"{ASR_SUBDIR}/{path.relative_to(asr_dir)}"
                    tar.add(path, arcname=arc)
                    names.append(arc)
        tar.add(node_src / "sagemaker_entry.py", arcname="code/inference.py")
        names.append("code/inference.py")
        data = REQUIREMENTS.encode()
        info = tarfile.TarInfo("code/requirements.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        names.append("code/requirements.txt")
        for path in sorted(node_src.rglob("*.py")):
            if not _skip(path):
                arc = f"code/scaiecho_node/{path.relative_to(node_src)}"
                tar.add(path, arcname=arc)
                names.append(arc)
        for rel in CORE_FILES:
            arc = f"code/scaiecho/{rel}"
            tar.add(core_src / rel, arcname=arc)
            names.append(arc)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaiecho_node.package", description=__doc__)
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--out", default="build/model.tar.gz")
    parser.add_argument("--asr-model", default=None,
                        help="CTranslate2 Whisper dir to ship as asr/ (default: the bundled tiny.en)")
    parser.add_argument("--no-asr", action="store_true", help="ship no speech-to-text model")
    args = parser.parse_args(argv)
    out = Path(args.out)
    asr_dir = None if args.no_asr else (Path(args.asr_model) if args.asr_model else bundled_model_dir())
    names = build_package(resolve_model_dir(args.model_dir), out, asr_dir)
    print(f"{out}: {len(names)} files, {out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
