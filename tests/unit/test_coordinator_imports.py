"""server/coordinator.py decides rounds; it must not speak gRPC or protobuf itself
(server/messages.py does), so another transport or a simulation can drive it."""

from __future__ import annotations

import ast
from pathlib import Path

COORDINATOR = Path(__file__).resolve().parents[2] / "server" / "coordinator.py"
FORBIDDEN = ("grpc", "common.proto")


def _imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_the_coordinator_imports_neither_grpc_nor_the_stubs() -> None:
    modules = _imported_modules(COORDINATOR)
    assert "server.messages" in modules  # the check reads the right file
    offending = [
        m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN) or "_pb2" in m
    ]
    assert offending == []
