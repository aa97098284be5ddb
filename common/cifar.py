"""The CIFAR-10 "python version" folder: find it, read it safely, install a copy.

CIFAR-10 ships in no package registry reachable here, so a person brings the official
cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted
`cifar-10-batches-py` folder; `common.fetch` checks the archive's digest and calls
`install_from_archive` / `install_from_folder` below. Each batch is a pickled dict:
b"data" (10000, 3072) uint8, each row one image as 1024 red, 1024 green, 1024 blue
values in row-major order, and b"labels", a list of 10000 ints in 0..9.
"""

from __future__ import annotations

import codecs
import os
import pickle
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
# What the official archive holds; only these names are ever installed.
KNOWN_FILES = (*TRAIN_BATCHES, TEST_BATCH, "batches.meta", "readme.html")
IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10

# Unpickling runs whatever callables the file names, so a pickle from an untrusted
# copy could execute code. The batches need only numpy's array reconstruction (plus
# `_codecs.encode`, with which Python 3 writes bytes at protocol 2); dicts, lists, ints
# and bytes need no globals. Everything else is refused, and these names map to the
# objects themselves, so nothing is imported by a name taken from the file.
_RECONSTRUCT = np.empty(0, np.uint8).__reduce__()[0]  # numpy's _reconstruct, any version
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy 1.x (official files)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy 2.x
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}") from None


@dataclass(frozen=True)
class Cifar10Arrays:
    """The raw split: images (N, 3, 32, 32) uint8, labels (N,) int64."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def download_hint(data_dir: Path) -> str:
    """How a person gets CIFAR-10 into `data_dir` (no registry here carries it)."""
    return (
        "Download cifar-10-python.tar.gz (the 'CIFAR-10 python version') from "
        "https://www.cs.toronto.edu/~kriz/cifar.html and run `signfed fetch --dataset "
        f"cifar10 --source PATH/cifar-10-python.tar.gz --data-dir {data_dir}`, or extract "
        f"it so that {data_dir / 'cifar10' / FOLDER} holds data_batch_1..5 and test_batch"
    )


def candidate_folders(data_dir: Path) -> tuple[Path, Path]:
    """Where the loader looks: the fetch target first, then a bare extraction."""
    return (data_dir / "cifar10" / FOLDER, data_dir / FOLDER)


def find_folder(data_dir: Path) -> Path | None:
    return next((f for f in candidate_folders(data_dir) if f.is_dir()), None)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as images (N, 3, 32, 32) uint8 and labels (N,) int64.

    Raises ValueError naming `path` when the file is not a well-formed batch.
    """
    with path.open("rb") as handle:  # OSError (unreadable file) passes through
        try:
            batch = _BatchUnpickler(handle, encoding="bytes").load()
        except Exception as exc:  # a corrupt pickle fails in a dozen ways; all mean "bad file"
            raise ValueError(f"{path}: not a CIFAR-10 batch ({exc!r})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR-10 batch (no dict with b'data' and b'labels')")
    data = batch[b"data"]
    try:
        labels = np.asarray(batch[b"labels"])
    except (ValueError, OverflowError) as exc:  # ragged or huge values
        raise ValueError(f"{path}: b'labels' is not a list of ints ({exc})") from exc
    row = int(np.prod(IMAGE_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ValueError(f"{path}: b'data' should be a 2-D uint8 array")
    if data.shape[1] != row or data.shape[0] == 0:
        raise ValueError(f"{path}: b'data' should be (N, {row}) with N > 0, got {data.shape}")
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: {data.shape[0]} images but labels of shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: labels should be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise ValueError(f"{path}: labels outside 0..{NUM_CLASSES - 1}")
    # Rows are channel-major (CHW), so a reshape is the whole decoding.
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)


def read_folder(folder: Path) -> Cifar10Arrays:
    """The five training batches (concatenated in order) and the test batch of `folder`."""
    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {', '.join(missing)}: it should hold the extracted {FOLDER}"
        )
    train = [read_batch(folder / name) for name in TRAIN_BATCHES]
    test_x, test_y = read_batch(folder / TEST_BATCH)
    return Cifar10Arrays(
        train_x=np.concatenate([x for x, _ in train]),
        train_y=np.concatenate([y for _, y in train]),
        test_x=test_x,
        test_y=test_y,
    )


def load_arrays(data_dir: Path) -> tuple[Cifar10Arrays, Path]:
    """CIFAR-10 from `data_dir` and the folder it came from; FileNotFoundError says how."""
    folder = find_folder(data_dir)
    if folder is None:
        first, second = candidate_folders(data_dir)
        raise FileNotFoundError(
            f"CIFAR-10 is not in {first} (nor in {second}). {download_hint(data_dir)}."
        )
    try:
        return read_folder(folder), folder
    except FileNotFoundError as exc:  # an incomplete copy: say how to get a whole one
        raise FileNotFoundError(f"{exc}. {download_hint(data_dir)}.") from None


def _is_unsafe(name: str) -> bool:
    path = PurePosixPath(name)
    return path.is_absolute() or ".." in path.parts


def _install_into(target: Path, source: Path, fill: Callable[[Path], None]) -> Path:
    """Fill a temp folder beside `target`, check it loads, then rename it into place.

    A half-copied or bad folder therefore never sits under the name the loader reads.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", suffix=".part", dir=target.parent))
    try:
        fill(staging)
        try:
            read_folder(staging)
        except (FileNotFoundError, ValueError) as exc:
            raise RuntimeError(
                f"{source}: not a usable CIFAR-10 copy, nothing installed: {exc}"
            ) from exc
        os.chmod(staging, 0o755)  # mkdtemp makes it private; data is for every user
        if target.exists():  # an earlier, broken install (fetch checked it first)
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def install_from_archive(archive: Path, target: Path) -> Path:
    """Extract the known batch files of a cifar-10-python.tar.gz into `target`.

    Only regular files named `cifar-10-batches-py/<known name>` are written, each to a
    path built here, never from the member name, so the archive cannot place a file
    elsewhere; a member with an absolute or `..` name rejects the whole archive.
    """

    def fill(staging: Path) -> None:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if _is_unsafe(member.name):
                    raise RuntimeError(f"{archive}: unsafe member name {member.name!r}")
                path = PurePosixPath(member.name)
                if len(path.parts) != 2 or path.parts[0] != FOLDER:
                    continue
                if path.name not in KNOWN_FILES:
                    continue
                if not member.isfile():
                    raise RuntimeError(f"{archive}: {member.name} is not a regular file")
                source = tar.extractfile(member)
                assert source is not None  # isfile() members always have data
                with source, (staging / path.name).open("wb") as out:
                    shutil.copyfileobj(source, out, length=1 << 20)
                os.chmod(staging / path.name, 0o644)

    return _install_into(target, archive, fill)


def install_from_folder(folder: Path, target: Path) -> Path:
    """Copy the known files of an extracted `cifar-10-batches-py` folder into `target`."""

    def fill(staging: Path) -> None:
        for name in KNOWN_FILES:
            if (folder / name).is_file():
                shutil.copyfile(folder / name, staging / name)
                os.chmod(staging / name, 0o644)

    return _install_into(target, folder, fill)
