"""Regenerate the Python gRPC code in gen/ from protos/. The one command: python scripts/gen_protos.py

The output is committed so a clone runs without a build step; CI regenerates and fails on a diff.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

from grpc_tools import protoc
import grpc_tools

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "gen"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="output folder (default gen/)")
    out = parser.parse_args(argv).out.resolve()
    shutil.rmtree(out / "recorder", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    for package_dir in {(out / s).parent for s in sources} | {out / "recorder"}:
        (package_dir / "__init__.py").write_text("")
    print(f"generated {len(sources)} protos into {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
