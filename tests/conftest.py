"""Suite-wide settings and reporting: Ray's environment, and whether the container and
separate-host tests ran."""

from __future__ import annotations

import os
from typing import Any

# Read when ray is first imported (whichever test imports it first) and inherited by the
# Ray processes tests start: Ray reports no usage, and keeps every address on 127.0.0.1
# (it swaps loopback for the machine's routable address unless told this is a cluster
# of one machine; tests send traffic to 127.0.0.1 only).
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


# suite part -> (its name, what `bash .ci/run` provides that it needs)
LOUD = {
    "tests/docker/": ("container tests", "starts an engine"),
    "tests/netns/": ("separate-host tests", "runs them as root with iproute2 and iptables"),
}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for part, (name, ci) in LOUD.items():
        counts: dict[str, int] = {}
        for outcome in ("passed", "failed", "error", "skipped"):
            for report in terminalreporter.stats.get(outcome, []):
                if part in getattr(report, "nodeid", ""):
                    counts[outcome] = counts.get(outcome, 0) + 1
        if not counts:
            continue
        line = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
        terminalreporter.write_sep("=", f"{name} ({part.rstrip('/')}): {line}", bold=True)
        if counts.get("skipped"):
            terminalreporter.write_line(
                f"*** Some {name} did NOT run (see the skip reasons). `bash .ci/run` {ci}. ***",
                red=True,
                bold=True,
            )
