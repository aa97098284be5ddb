"""Suite-wide settings and reporting: Ray's environment, and whether the container
tests ran."""

from __future__ import annotations

import os
from typing import Any

# Read when ray is first imported (whichever test imports it first) and inherited by the
# Ray processes tests start: Ray reports no usage, and keeps every address on 127.0.0.1
# (it swaps loopback for the machine's routable address unless told this is a cluster
# of one machine; tests send traffic to 127.0.0.1 only).
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if "tests/docker/" in getattr(report, "nodeid", ""):
                counts[outcome] = counts.get(outcome, 0) + 1
    if not counts:
        return
    line = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    terminalreporter.write_sep("=", f"container tests (tests/docker): {line}", bold=True)
    if counts.get("skipped"):
        terminalreporter.write_line(
            "*** Some container tests did NOT run (see the skip reasons). "
            "`bash .ci/run` starts an engine. ***",
            red=True,
            bold=True,
        )
