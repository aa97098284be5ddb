"""Datasets as tensors, loaded only when asked for, never at import time.

Five sources work offline: the 8x8 digits bundled as `common/digits.npz`, MNIST and
Fashion-MNIST as IDX files fetched once by `common.fetch` (`make data`), CIFAR-10 from
the `cifar-10-batches-py` folder a person brings (`common.cifar`), and seeded synthetic
Gaussian classes. torchvision does not import beside the pinned torch, so IDX files are
read with NumPy (`common.idx`). Each is a name in common/registry.py, as a plugin's
dataset is (docs/extending.md); `load_dataset` loads any of them and checks the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common import cifar, registry
from common.config import ConfigError
from common.idx import read_idx

logger = logging.getLogger(__name__)

# Per-pixel mean/std of the training images after scaling to [0, 1]: the customary
# constants, so numbers compare with other MNIST/Fashion-MNIST results.
_IMAGE_STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
# Per-channel (R, G, B) mean/std of CIFAR-10's training images in [0, 1]: the customary
# constants, as in most CIFAR-10 code, so results compare.
_CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
_CIFAR10_STD = (0.2470, 0.2435, 0.2616)
_MAKE_TARGET = {"mnist": "make data", "fashion-mnist": "make data-fashion"}
_IDX_STEMS = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

DIGITS_FILE = Path(__file__).with_name("digits.npz")  # package data (pyproject.toml)
DIGITS_TEST_SIZE = 300  # of 1,797: leaves 1,497 to train on
SYNTHETIC_DIM = 64  # same width as digits, so the same MLP fits both
SYNTHETIC_CLASSES = 10
SYNTHETIC_TRAIN = 3000
SYNTHETIC_TEST = 1000
SYNTHETIC_SEPARATION = 0.35  # scale of the class means vs unit noise: learnable, not trivial


class DataError(ConfigError):
    """A dataset that does not load; the message says how to get a good copy. A
    ConfigError: the command line shows it as one line, not a traceback."""


class MissingDataError(DataError, FileNotFoundError):
    """A dataset (or one of its files) that is not where --data-dir says."""


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value
class Dataset:
    """A train/test split as float32 features and int64 labels.

    x is (N, C, H, W) for images and (N, D) for flat features; `input_shape` is the
    shape of one example, which is what `build_model` needs.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    name: str


def _find_idx(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder / stem}[.gz] not found")


def _fetch_hint(name: str, data_dir: Path) -> str:
    return (
        f"Run `{_MAKE_TARGET[name]}` (or `signfed fetch --dataset {name} --data-dir "
        f"{data_dir}`) to fetch it."
    )


def _missing_data_error(name: str, folder: Path, detail: str) -> MissingDataError:
    return MissingDataError(
        f"{name} is not in {folder} ({detail}). {_fetch_hint(name, folder.parent)}"
    )


def _idx_paths(name: str, data_dir: Path) -> dict[str, Path]:
    """The four IDX files of `name` under data_dir; MissingDataError says how to fetch them."""
    folder = data_dir / name
    if not folder.is_dir():
        raise _missing_data_error(name, folder, "no such directory")
    try:
        return {key: _find_idx(folder, stem) for key, stem in _IDX_STEMS.items()}
    except FileNotFoundError as exc:
        raise _missing_data_error(name, folder, str(exc)) from None


def _load_idx_images(name: str, data_dir: Path) -> Dataset:
    folder = data_dir / name
    try:
        arrays = {key: read_idx(path) for key, path in _idx_paths(name, data_dir).items()}
    except (ValueError, OSError) as exc:  # truncated, corrupt or unreadable
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{exc}. {_fetch_hint(name, data_dir)}") from None
    mean, std = _IMAGE_STATS[name]
    tensors: dict[str, torch.Tensor] = {}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise DataError(
                f"{folder}: {split} images should be (N, 28, 28) uint8, got "
                f"{images.shape} {images.dtype}"
            )
        if labels.shape != (images.shape[0],):
            raise DataError(f"{folder}: {images.shape[0]} {split} images but {labels.shape} labels")
        if labels.size and labels.max() > 9:
            raise DataError(f"{folder}: {split} labels outside 0..9")
        x = (images.astype(np.float32) / np.float32(255.0) - np.float32(mean)) / np.float32(std)
        tensors[f"{split}_x"] = torch.from_numpy(x[:, None, :, :])  # (N, 1, 28, 28)
        tensors[f"{split}_y"] = torch.from_numpy(labels.astype(np.int64))
    logger.info(
        "loaded %s from %s: %d train, %d test",
        name,
        folder,
        len(tensors["train_y"]),
        len(tensors["test_y"]),
    )
    return Dataset(num_classes=10, input_shape=(1, 28, 28), name=name, **tensors)


def _load_cifar10(data_dir: Path) -> Dataset:
    try:
        arrays, folder = cifar.load_arrays(data_dir)
    except FileNotFoundError as exc:
        raise MissingDataError(str(exc)) from None
    except (ValueError, OSError) as exc:  # a damaged batch file
        raise DataError(f"{exc}. {cifar.download_hint(data_dir)}.") from None
    mean = np.array(_CIFAR10_MEAN, dtype=np.float32)[None, :, None, None]  # (1, 3, 1, 1)
    std = np.array(_CIFAR10_STD, dtype=np.float32)[None, :, None, None]

    def standardise(images: np.ndarray) -> torch.Tensor:
        x = images.astype(np.float32)  # (N, 3, 32, 32); in place below: 600 MB for train
        x /= np.float32(255.0)
        x -= mean
        x /= std
        return torch.from_numpy(x)

    logger.info(
        "loaded cifar10 from %s: %d train, %d test", folder, len(arrays.train_y), len(arrays.test_y)
    )
    return Dataset(
        train_x=standardise(arrays.train_x),
        train_y=torch.from_numpy(arrays.train_y),
        test_x=standardise(arrays.test_x),
        test_y=torch.from_numpy(arrays.test_y),
        num_classes=cifar.NUM_CLASSES,
        input_shape=cifar.IMAGE_SHAPE,
        name="cifar10",
    )


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance per feature, with statistics from the training split only."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std < 1e-6] = 1.0  # digits has always-blank corner pixels: leave them at 0
    return (train - mean) / std, (test - mean) / std


def _flat_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
) -> Dataset:
    return Dataset(
        train_x=torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)),
        train_y=torch.from_numpy(np.asarray(y_train, dtype=np.int64)),
        test_x=torch.from_numpy(np.ascontiguousarray(x_test, dtype=np.float32)),
        test_y=torch.from_numpy(np.asarray(y_test, dtype=np.int64)),
        num_classes=num_classes,
        input_shape=(x_train.shape[1],),
        name=name,
    )


def _load_digits(seed: int) -> Dataset:
    """The 8x8 digits, split 1,497 / 300 by `seed`, from the bundled `common/digits.npz`.

    The file holds `images` (1797, 64) uint8 with pixels 0..16 and `target` (1797,) uint8
    labels 0..9: the UCI Optical Recognition of Handwritten Digits data (Alpaydin and
    Kaynak, 1998; its 1,797-image test set), as shipped by scikit-learn's `load_digits`,
    saved once unchanged. Licence: CC BY 4.0. Bundled so that the fast offline dataset
    needs no scikit-learn; float64 from uint8 is exact, so the arrays are bit for bit
    those `load_digits` gave.
    """
    with np.load(DIGITS_FILE, allow_pickle=False) as bundle:
        x = bundle["images"].astype(np.float64) / 16.0  # (1797, 64), pixels 0..16
        y = bundle["target"].astype(np.int64)  # (1797,)
    order = np.random.default_rng([seed, 0x44494749]).permutation(len(y))  # tag "DIGI"
    test, train = order[:DIGITS_TEST_SIZE], order[DIGITS_TEST_SIZE:]
    x_train, x_test = _standardise(x[train], x[test])
    return _flat_dataset("digits", x_train, y[train], x_test, y[test], num_classes=10)


def _make_synthetic(seed: int) -> Dataset:
    """Ten Gaussian classes in 64 dims with unit noise: a stand-in that needs no files."""
    rng = np.random.default_rng([seed, 0x53594E54])  # tag "SYNT"
    means = rng.normal(0.0, SYNTHETIC_SEPARATION, size=(SYNTHETIC_CLASSES, SYNTHETIC_DIM))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(count) % SYNTHETIC_CLASSES)  # balanced classes
        return means[labels] + rng.normal(size=(count, SYNTHETIC_DIM)), labels

    x_train, y_train = draw(SYNTHETIC_TRAIN)
    x_test, y_test = draw(SYNTHETIC_TEST)
    return _flat_dataset("synthetic", x_train, y_train, x_test, y_test, SYNTHETIC_CLASSES)


def load_dataset(name: str, data_dir: str | Path, seed: int = 0) -> Dataset:
    """Load the dataset registered as `name` (common/registry.py): "digits", "mnist",
    "fashion-mnist", "cifar10", "synthetic", or a plugin's.

    `seed` fixes the digits train/test split and the synthetic draws; MNIST,
    Fashion-MNIST and CIFAR-10 have fixed splits and ignore it. `data_dir` holds mnist/,
    fashion-mnist/ and cifar10/cifar-10-batches-py/ as written by `common.fetch` (a bare
    cifar-10-batches-py/ there is found too).
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if name not in registry.dataset_names():
        raise DataError(f"unknown dataset {name!r}; choose one of {registry.dataset_names()}")
    data = registry.get_dataset(name).load(Path(data_dir), seed)
    _check_loaded(name, data)
    return data


def load_builtin(name: str, data_dir: Path, seed: int) -> Dataset:
    """A built-in dataset (the registry's loader of each)."""
    if name == "digits":
        return _load_digits(seed)
    if name == "synthetic":
        return _make_synthetic(seed)
    if name in _IMAGE_STATS:
        return _load_idx_images(name, data_dir)
    return _load_cifar10(data_dir)


def _check_loaded(name: str, data: Dataset) -> None:
    """DataError unless a loader (a plugin's above all) gave what trainers expect."""
    if not isinstance(data, Dataset):
        raise DataError(f"dataset {name}: its loader returned {type(data).__name__}, not a Dataset")
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        problem = ""
        if x.dtype != torch.float32 or y.dtype != torch.int64:
            problem = f"x must be float32 and y int64, got {x.dtype} and {y.dtype}"
        elif tuple(x.shape[1:]) != tuple(data.input_shape) or y.shape != (len(x),):
            problem = f"x {tuple(x.shape)}, y {tuple(y.shape)}, input_shape {data.input_shape}"
        elif len(y) and not 0 <= int(y.min()) <= int(y.max()) < data.num_classes:
            problem = f"labels must lie in 0..{data.num_classes - 1}"
        if problem:
            raise DataError(f"dataset {name}, {split} split: {problem}")


def check_available(name: str, data_dir: str | Path) -> None:
    """MissingDataError unless the files of `name` are in data_dir (they are not read:
    a launcher checks this before it starts processes that would each fail on it)."""
    check = registry.get_dataset(name).check
    if check is not None:
        check(Path(data_dir))


def check_files(name: str, data_dir: Path) -> None:
    """The check of the built-in datasets that live in files."""
    if name in _IMAGE_STATS:
        _idx_paths(name, data_dir)
        return
    folder = cifar.find_folder(data_dir)
    if folder is None:
        first, second = cifar.candidate_folders(data_dir)
        where = f"CIFAR-10 is not in {first} (nor in {second})"
    else:
        names = (*cifar.TRAIN_BATCHES, cifar.TEST_BATCH)
        missing = [n for n in names if not (folder / n).is_file()]
        if not missing:
            return
        where = f"{folder} lacks {', '.join(missing)}"
    raise MissingDataError(f"{where}. {cifar.download_hint(data_dir)}.")
