"""The bundled digits (common/digits.npz): scikit-learn's `load_digits` arrays, read
without scikit-learn."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

from common.data import DIGITS_FILE, DIGITS_TEST_SIZE, load_dataset

ROOT = Path(__file__).resolve().parents[2]
# Images per class 0..9 in scikit-learn's load_digits (the UCI test set).
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_bundle_holds_the_1797_digits() -> None:
    with np.load(DIGITS_FILE, allow_pickle=False) as bundle:
        assert sorted(bundle.files) == ["images", "target"]
        images, target = bundle["images"], bundle["target"]
    assert (images.shape, images.dtype) == ((1797, 64), np.uint8)
    assert (target.shape, target.dtype) == ((1797,), np.uint8)
    assert (int(images.min()), int(images.max())) == (0, 16)
    assert np.bincount(target).tolist() == CLASS_COUNTS


def test_loaded_split_keeps_every_label() -> None:
    data = load_dataset("digits", "no-such-dir", seed=0)  # needs no data dir
    assert tuple(data.train_x.shape) == (1797 - DIGITS_TEST_SIZE, 64)
    assert tuple(data.test_x.shape) == (DIGITS_TEST_SIZE, 64)
    labels = np.concatenate([data.train_y.numpy(), data.test_y.numpy()])
    assert np.bincount(labels).tolist() == CLASS_COUNTS


def test_loads_where_sklearn_cannot_be_imported() -> None:
    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # `import sklearn` now raises
        "from common.data import load_dataset\n"
        "d = load_dataset('digits', 'data', seed=1)\n"
        "print(len(d.train_y) + len(d.test_y), d.num_classes)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1797", "10"]


def test_bundle_ships_in_the_package_without_scikit_learn() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "digits.npz" in pyproject["tool"]["setuptools"]["package-data"]["common"]
    assert not [d for d in pyproject["project"]["dependencies"] if d.startswith("scikit-learn")]
