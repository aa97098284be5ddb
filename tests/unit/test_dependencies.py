"""pyproject's dependency ranges are the ones the committed stubs check at import, and
constraints.txt pins a version inside every range."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "common" / "proto"


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [
        entry for extra in project["optional-dependencies"].values() for entry in extra
    ]
    return {(r := Requirement(entry)).name: r for entry in listed}


def _pins() -> dict[str, Version]:
    lines = (ROOT / "constraints.txt").read_text().split()
    return {name: Version(version) for name, version in (line.split("==") for line in lines)}


def test_protobuf_range_is_the_gencode_version() -> None:
    stub = (PROTO / "signfed_pb2.py").read_text()
    gencode = re.search(r"# Protobuf Python Version: (\d+)\.(\d+)\.(\d+)", stub)
    assert gencode is not None
    major, minor, patch = gencode.groups()
    expected = f"<{int(major) + 1},>={major}.{minor}.{patch}"
    assert str(_requirements()["protobuf"].specifier) == expected


def test_grpcio_range_is_the_generated_version() -> None:
    stub = (PROTO / "signfed_pb2_grpc.py").read_text()
    generated = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", stub)
    assert generated is not None
    major = Version(generated.group(1)).major
    requirements = _requirements()
    for name in ("grpcio", "grpcio-health-checking"):
        assert str(requirements[name].specifier) == f"<{major + 1},>={generated.group(1)}"


def test_every_pin_is_inside_its_range() -> None:
    pins = _pins()
    for name, requirement in _requirements().items():
        assert name in pins, f"constraints.txt pins no {name}"
        assert pins[name] in requirement.specifier, f"{name}=={pins[name]} vs {requirement}"
