"""Regenerate the Python gRPC code in gen/ from protos/. The one command: python scripts/gen_protos.py

The output is committed so a clone runs without a build step; CI regenerates and fails on a diff.
"""
from __future__ import annotations

import pathlib
import shutil
import sys

from grpc_tools import protoc
import grpc_tools

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "gen"


def main() -> int:
    shutil.rmtree(OUT / "recorder", ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={OUT}",
        f"--pyi_out={OUT}",
        f"--grpc_python_out={OUT}",
        *sources,
    ]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    for package_dir in {(OUT / s).parent for s in sources} | {OUT / "recorder"}:
        (package_dir / "__init__.py").write_text("")
    # A descriptor set for tools that cannot use reflection (and for the gateway's docs).
    print(f"generated {len(sources)} protos into {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
