"""Regenerates the Python modules for the .proto files in this folder.

Generated code is committed (so installs need no grpcio-tools); the test
`tests/unit/test_protos.py` regenerates into a temporary folder and fails on a diff.
Run: python -m yatt.protos.generate
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
# The virtual path makes generated imports read `from yatt.protos import common_pb2`.
IMPORT_PATH = "yatt/protos"


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Writes *_pb2.py, *_pb2_grpc.py and *_pb2.pyi for every proto into out_dir."""
    from grpc_tools import protoc  # build-time dependency only

    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{IMPORT_PATH}={PROTO_DIR}",
            f"-I{Path(protoc.__file__).parent / '_proto'}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--plugin=protoc-gen-mypy={Path(sys.executable).parent / 'protoc-gen-mypy'}",
            f"--mypy_out={tmp}",
            *[f"{IMPORT_PATH}/{p.name}" for p in proto_files()],
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed: " + " ".join(args))
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for f in sorted((Path(tmp) / IMPORT_PATH).iterdir()):
            shutil.copy(f, out_dir / f.name)
            written.append(out_dir / f.name)
        return written


def main() -> int:
    for path in generate(PROTO_DIR):
        print(path.relative_to(PROTO_DIR.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
