"""A misconfigured cluster says why in `docker compose up`'s own output.

Three clients with batch mode 4 (defined for 15): the server refuses the settings.
Compose v1 used to print only `Container ... is unhealthy` (clients waited for a
healthy server), and the reason stayed in the server's log."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from tests.docker.conftest import OVERRIDE, ROOT

REASON = "--batch-mode 4 is defined for 15 clients; use --clients 15 or give --batch-sizes"


def test_a_misconfiguration_is_printed_by_compose_up(stack: Any) -> None:
    s = stack(SIGNFED_CLIENTS="3", SIGNFED_BATCH_MODE="4")
    command = [*s.compose, "-p", s.project, "-f", "docker-compose.yml", "-f", str(OVERRIDE)]
    up = subprocess.Popen(
        [*command, "up", "--no-build"],
        cwd=ROOT,
        env=s.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 180
    try:
        assert up.stdout is not None
        for line in up.stdout:
            seen.append(line)
            if REASON in line or time.monotonic() > deadline:
                break
        output = "".join(seen)
        assert REASON in output, output
        assert "Traceback" not in output
        (server,) = s.containers("server")
        assert server.wait(timeout=60)["StatusCode"] == 2  # before compose stops it
    finally:
        up.terminate()
        up.wait(timeout=60)
