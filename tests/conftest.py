"""Suite-wide reporting: say plainly whether the container tests ran."""

from __future__ import annotations

from typing import Any


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
