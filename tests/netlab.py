"""Separate hosts on this machine: Linux network namespaces joined by a bridge.

A `NetLab` makes one namespace per host (the server, each client) and a switch
namespace holding a bridge; each host reaches the bridge over a veth pair, and has an
address in a /24 of 10.213.0.0/16 that exists only inside the lab's namespaces. Nothing
stays in this machine's own namespace: a veth pair is moved out the moment it is made.
Links are shaped per host and per direction:

- rate: a token bucket (`tc tbf`) on the host's side (its uploads) and on the switch's
  side (its downloads);
- loss: iptables' `statistic` match drops that fraction of the packets a host receives
  and of those it sends;
- down / up: the host's interface, as a cable pulled and put back.

(This machine's kernel has no `netem`: delay and jitter are not emulated here.)

Everything the lab made lives in its namespaces, so `close()` deletes the namespaces
and with them every veth, qdisc and rule; `leftovers()` lists what of this lab still
exists. Names carry the creating process's id, and a new lab first removes the labs
of processes that are gone (a test run killed before its clean-up). Needs root,
iproute2 and iptables: `missing()` says what is not there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PREFIX = "sfl"  # every namespace and interface of every lab starts with it


def missing() -> str:
    """Why a lab cannot be made here ('' when it can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc", "iptables"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (iproute2, iptables)"
    return ""


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _sh("ip", "netns", "list").stdout.splitlines() if line]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def remove_orphans() -> None:
    """Delete the namespaces of labs whose process is gone."""
    for name in _namespaces():
        owner = name[len(PREFIX) :].split("-")[0]
        if name.startswith(PREFIX) and owner.isdigit() and not _alive(int(owner)):
            _sh("ip", "netns", "del", name, check=False)


@dataclass(frozen=True)
class Host:
    name: str
    namespace: str
    address: str  # its IPv4 address inside the lab
    outer: str  # its veth's name on the switch's side


class NetLab:
    def __init__(self) -> None:
        remove_orphans()
        self.tag = f"{PREFIX}{os.getpid()}"
        self.subnet = f"10.213.{os.getpid() % 250}"  # one /24 per concurrent lab
        self.switch = f"{self.tag}-sw"
        self.hosts: dict[str, Host] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        _sh("ip", "netns", "add", self.switch)
        self._in(self.switch, "ip", "link", "add", "br0", "type", "bridge")
        self._in(self.switch, "ip", "link", "set", "br0", "up")

    def _in(self, namespace: str, *argv: str, check: bool = True) -> None:
        _sh("ip", "netns", "exec", namespace, *argv, check=check)

    def host(self, name: str) -> Host:
        """A new host on the bridge, its interface `eth0` up, with the next address."""
        index = len(self.hosts) + 1
        namespace, inner, outer = f"{self.tag}-{name}", f"{self.tag}i{index}", f"{self.tag}o{index}"
        _sh("ip", "netns", "add", namespace)
        _sh("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
        _sh("ip", "link", "set", inner, "netns", namespace)  # nothing stays outside
        _sh("ip", "link", "set", outer, "netns", self.switch)
        self._in(namespace, "ip", "link", "set", inner, "name", "eth0")
        host = Host(name, namespace, f"{self.subnet}.{index}", outer)
        self._in(namespace, "ip", "addr", "add", f"{host.address}/24", "dev", "eth0")
        for link in ("lo", "eth0"):
            self._in(namespace, "ip", "link", "set", link, "up")
        self._in(self.switch, "ip", "link", "set", outer, "master", "br0")
        self._in(self.switch, "ip", "link", "set", outer, "up")
        self.hosts[name] = host
        return host

    # ---- links -------------------------------------------------------------------

    def rate(self, host: Host, mbit: float) -> None:
        """Both directions of `host`'s link at `mbit` Mbit/s (replaces an earlier rate)."""
        rate_bytes = mbit * 1e6 / 8
        burst = max(3_000, int(rate_bytes / 50))  # 20 ms of data, at least two packets
        tbf = ["tbf", "rate", f"{mbit}mbit", "burst", str(burst), "latency", "1s"]
        self._in(host.namespace, "tc", "qdisc", "replace", "dev", "eth0", "root", *tbf)
        self._in(self.switch, "tc", "qdisc", "replace", "dev", host.outer, "root", *tbf)

    def loss(self, host: Host, fraction: float) -> None:
        """Drop `fraction` of the packets `host` receives and sends (0: no loss)."""
        for chain in ("INPUT", "OUTPUT"):
            self._in(host.namespace, "iptables", "-F", chain)
            if fraction > 0:
                drop = ["-m", "statistic", "--mode", "random", "--probability", str(fraction)]
                self._in(host.namespace, "iptables", "-A", chain, *drop, "-j", "DROP")

    def link(self, host: Host, up: bool) -> None:
        """Pull `host`'s cable (up=False) or put it back."""
        self._in(host.namespace, "ip", "link", "set", "eth0", "up" if up else "down")

    # ---- processes ---------------------------------------------------------------

    def signfed(self, host: Host, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """`signfed ARGV` inside `host`'s namespace, logging to `log`."""
        command = ["ip", "netns", "exec", host.namespace, sys.executable, "-m", "signfed.cli"]
        with open(log, "wb") as out:
            process = subprocess.Popen([*command, *argv], stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    # ---- clean-up ----------------------------------------------------------------

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        for namespace in [host.namespace for host in self.hosts.values()] + [self.switch]:
            _sh("ip", "netns", "del", namespace, check=False)

    def leftovers(self) -> list[str]:
        """What of this lab still exists: namespaces, and links in this namespace."""
        links = _sh("ip", "-o", "link", "show").stdout
        found = [name for name in _namespaces() if name.startswith(self.tag)]
        return found + [line for line in links.splitlines() if self.tag in line]
