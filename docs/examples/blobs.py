"""A dataset in one file: Gaussian blobs ("blobs"), drawn from the seed, no download.

Four classes in 16 dimensions: each class a Gaussian of unit noise around its own
mean, the means drawn once from N(0, SPREAD^2). Chance is 25 %; the best possible
classifier gets about 90 %. Everything comes from the run's seed, so the server and
every client load the same examples.

    signfed simulate --plugin docs/examples/blobs.py --dataset blobs

docs/extending.md explains what a loader returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from common.data import Dataset
from common.registry import register_dataset

CLASSES, DIM = 4, 16
TRAIN, TEST = 2000, 500
SPREAD = 0.5  # class means vs unit noise: learnable, not trivial


@register_dataset("blobs", default_model="mlp", summary="four Gaussian blobs in 16 dimensions")
def load(data_dir: Path, seed: int) -> Dataset:
    # data_dir is --data-dir: a dataset kept in files reads them from there (and passes
    # check= to register_dataset, so `signfed local` says what is missing up front).
    rng = np.random.default_rng([seed, 0x424C4F42])  # seed and a tag ("BLOB") of its own
    means = rng.normal(0.0, SPREAD, size=(CLASSES, DIM))

    def draw(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = rng.permutation(np.arange(count) % CLASSES)  # balanced classes
        x = means[labels] + rng.normal(size=(count, DIM))
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels.astype(np.int64))

    train_x, train_y = draw(TRAIN)  # (2000, 16) float32, (2000,) int64
    test_x, test_y = draw(TEST)
    return Dataset(
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=CLASSES,
        input_shape=(DIM,),  # one example's shape: what the model is built for
        name="blobs",
    )
