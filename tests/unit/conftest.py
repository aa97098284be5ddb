"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest
import torch

from common.data import Dataset, load_dataset


@pytest.fixture(scope="module")
def digits() -> Dataset:
    """scikit-learn's digits (bundled), with one torch thread as clients train."""
    torch.set_num_threads(1)
    return load_dataset("digits", "data", seed=0)
