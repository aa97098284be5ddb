"""Regenerate the gRPC stubs in common/proto from proto/ (`make proto`).

The proto source lives at proto/signfed/v1/signfed.proto; it is mapped to the virtual
path common/proto/signfed.proto so the generated modules import each other as
`common.proto.signfed_pb2`, a path that needs no sys.path tricks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto" / "signfed" / "v1"
GENERATED = ("signfed_pb2.py", "signfed_pb2.pyi", "signfed_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    """Write the stubs under out_root/common/proto; returns the files written."""
    from grpc_tools import protoc  # dev-only dependency: imported when generating

    (out_root / "common" / "proto").mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-Icommon/proto={PROTO_DIR}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        "common/proto/signfed.proto",
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    return [out_root / "common" / "proto" / name for name in GENERATED]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT, help="root to write common/proto under")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f"wrote {path.relative_to(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
