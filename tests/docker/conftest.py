"""Container tests: the image, the compose stack on host networking, fault injection.

They need a Docker engine and docker compose (v2 plugin or v1 `docker-compose`). Without
them the tests are skipped with a loud reason, unless SIGNFED_REQUIRE_DOCKER=1 (set by
.ci/run), which turns the skip into a failure: CI must prove the containers work.

The image is built through compose, so SIGNFED_BASE_IMAGE and SIGNFED_WHEELHOUSE from
the environment pick an offline base and wheelhouse exactly as for `make images`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = ROOT / "tests" / "docker" / "compose.host.yml"
REQUIRED = os.environ.get("SIGNFED_REQUIRE_DOCKER") == "1"
BUILD_TIMEOUT_S = 1800  # a cold build on a copying storage driver takes minutes
# pytest-timeout's per-test limit (pyproject) is for the fast tests; a container test
# may build the image first (its fixture counts) and then waits up to ~30 min itself.
TEST_TIMEOUT_S = BUILD_TIMEOUT_S + 2400


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.docker)
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


def compose_command() -> list[str] | None:
    """`docker compose` when the v2 plugin is there, else v1's `docker-compose`."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def _unavailable(reason: str) -> None:
    message = f"CONTAINER TESTS NOT RUN: {reason}"
    if REQUIRED:
        pytest.fail(message + " (SIGNFED_REQUIRE_DOCKER=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def compose() -> list[str]:
    command = compose_command()
    if command is None:
        _unavailable("neither `docker compose` nor `docker-compose` is installed")
    assert command is not None
    return command


@pytest.fixture(scope="session")
def engine(compose: list[str]) -> Iterator[Any]:
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:  # no socket, engine down, SDK missing: all mean "no engine"
        _unavailable(f"no Docker engine answers ({exc})")
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(engine: Any, compose: list[str]) -> str:
    """Builds the image once per session with `compose build` (cached layers after)."""
    tag = os.environ.get("SIGNFED_IMAGE", "signfed:latest")
    started = time.monotonic()
    subprocess.run(
        [*compose, "-p", "signfed-build", "build", "server"],
        cwd=ROOT,
        env={**os.environ, "SIGNFED_IMAGE": tag},
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    size = engine.images.get(tag).attrs["Size"]
    print(f"\nimage {tag}: {size / 1e6:.0f} MB, built in {time.monotonic() - started:.0f} s")
    return tag


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """One compose project of the repository's docker-compose.yml + the host override."""

    compose: list[str]
    engine: Any
    runs: Path
    settings: dict[str, str]
    project: str = field(default_factory=lambda: f"signfed-test-{secrets.token_hex(3)}")

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.settings, "SIGNFED_TEST_RUNS": str(self.runs)}

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [*self.compose, "-p", self.project, "-f", "docker-compose.yml"]
        command += ["-f", str(OVERRIDE), *args]
        return subprocess.run(
            command, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout
        )

    def up(self) -> None:
        done = self.run("up", "--detach", "--no-build")
        assert done.returncode == 0, done.stdout + done.stderr

    def containers(self, service: str) -> list[Any]:
        labels = [f"com.docker.compose.project={self.project}"]
        labels.append(f"com.docker.compose.service={service}")
        found = self.engine.containers.list(all=True, filters={"label": labels})
        return sorted(found, key=lambda c: c.name)

    def wait_server(self, timeout_s: float) -> int:
        (server,) = self.containers("server")
        return int(server.wait(timeout=timeout_s)["StatusCode"])

    def metrics(self) -> list[dict[str, Any]]:
        path = self.runs / "test" / "metrics.jsonl"
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def wait_for_round(self, round_index: int, timeout_s: float) -> None:
        """Until metrics.jsonl holds round `round_index`; fails with the server's log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            records = self.metrics()
            if records and records[-1]["round"] >= round_index:
                return
            time.sleep(0.2)
        raise AssertionError(
            f"round {round_index} not reached in {timeout_s}s:\n{self.logs('server')}"
        )

    def summary(self) -> dict[str, Any]:
        return dict(json.loads((self.runs / "test" / "summary.json").read_text()))

    def logs(self, service: str) -> str:
        return "\n".join(c.logs().decode(errors="replace") for c in self.containers(service))


@pytest.fixture
def stack(image: str, engine: Any, compose: list[str], tmp_path: Path) -> Iterator[Any]:
    """Factory: Stack(**settings) on a fresh port; every project is taken down after."""
    made: list[Stack] = []

    def _make(**settings: str) -> Stack:
        runs = tmp_path / f"runs-{len(made)}"
        runs.mkdir()
        runs.chmod(0o777)  # the image runs as an unprivileged user
        port = str(free_port())
        base = {
            "SIGNFED_IMAGE": image,
            "SIGNFED_PORT": port,
            "SIGNFED_SERVER": f"127.0.0.1:{port}",
            "SIGNFED_RUN_NAME": "test",
            "SIGNFED_DATASET": "digits",
            "SIGNFED_BATCH_MODE": "0",
        }
        made.append(Stack(compose, engine, runs, {**base, **settings}))
        return made[-1]

    yield _make
    for s in made:
        s.run("down", "--volumes", "--remove-orphans", "--timeout", "5")
