"""Peak memory of a process and everything it started, sampled from /proc.

Used by `benchmarks.flower_compare` to measure both sides the same way, from the outside.
Every `interval` seconds the sampler finds the run's processes and sums their PSS
(`/proc/PID/smaps_rollup`: shared pages split among their users, so a library mapped by
ten Ray workers counts once in all) and their RSS (the sum counts shared pages again in
every process: an upper bound). A process of the run is any of:

- a descendant of the launched process (parent links, walked afresh each sample);
- a member of its session: it is started with `start_new_session=True`, so its session
  id is its pid, and a child that double-forks to init keeps that session;
- a process whose command line names `marker` (Ray's temp dir, unique per run): Ray's
  raylet and GCS are re-parented to init when their parent exits and some daemons call
  setsid, and they all carry `--session-dir=<temp dir>/session_...` or similar.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


@dataclass
class Sample:
    """One look at the run: summed KiB and how many processes of each name."""

    pss_kib: int = 0
    rss_kib: int = 0
    names: Counter[str] = field(default_factory=Counter)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(name, parent pid, session id) from /proc/PID/stat; None when it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]  # a name may hold spaces and ')'
    fields = raw[raw.rindex(")") + 2 :].split()  # state ppid pgrp session ...
    return name, int(fields[1]), int(fields[3])


def _cmdline(pid: int) -> str:
    try:
        return (
            (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in KiB: smaps_rollup, else VmRSS for both; (0, 0) when it is gone."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
        values = {}
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            if key in ("Pss", "Rss"):
                values[key] = int(rest.split()[0])
        if "Pss" in values and "Rss" in values:
            return values["Pss"], values["Rss"]
    except (OSError, ValueError):
        pass
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                return rss, rss
    except (OSError, ValueError):
        pass
    return 0, 0


def run_processes(root: int, marker: str = "") -> dict[int, str]:
    """pid -> name of every live process of the run started as `root` (see the module)."""
    stats: dict[int, tuple[str, int, int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    members = {pid for pid, (_, _, sid) in stats.items() if sid == root}
    if root in stats:
        members.add(root)
    if marker:
        me = os.getpid()
        members |= {pid for pid in stats if pid != me and marker in _cmdline(pid)}
    todo = list(members)
    while todo:  # and all their descendants
        for child in children.get(todo.pop(), []):
            if child not in members:
                members.add(child)
                todo.append(child)
    return {pid: stats[pid][0] for pid in members}


def sample(root: int, marker: str = "") -> Sample:
    found = Sample()
    for pid, name in run_processes(root, marker).items():
        pss, rss = _memory_kib(pid)
        if pss or rss:  # a zombie has no memory and is no longer one of the run's
            found.pss_kib += pss
            found.rss_kib += rss
            found.names[name] += 1
    return found


class PeakMemory(threading.Thread):
    """Samples a run until stopped; keeps the peak PSS and RSS sums (each at its own
    moment) and the processes seen at the PSS peak."""

    def __init__(self, root: int, marker: str = "", interval: float = 0.15) -> None:
        super().__init__(daemon=True)
        self.root, self.marker, self.interval = root, marker, interval
        self.peak_pss_kib = 0
        self.peak_rss_kib = 0
        self.at_peak: Counter[str] = Counter()
        self.most_processes = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self._take()
            self._stop_event.wait(self.interval)

    def _take(self) -> None:
        now = sample(self.root, self.marker)
        self.samples += 1
        self.most_processes = max(self.most_processes, sum(now.names.values()))
        self.peak_rss_kib = max(self.peak_rss_kib, now.rss_kib)
        if now.pss_kib > self.peak_pss_kib:
            self.peak_pss_kib, self.at_peak = now.pss_kib, now.names

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def describe(self) -> str:
        """'python x1, raylet x1, ...': the processes summed at the PSS peak."""
        return ", ".join(f"{name} x{count}" for name, count in sorted(self.at_peak.items()))
