"""The master copy of the model: the server's replica, evaluated and served to joiners.

The vector is never modified in place: an update builds a new array and swaps the
reference, so a FetchModel stream that is halfway through keeps a consistent x^t.
"""

from __future__ import annotations

import numpy as np
import torch

from common.codecs import Layout
from common.config import RunConfig
from common.data import Dataset
from common.evaluate import evaluate
from common.models import build_model
from common.params import digest, get_flat, model_layout, set_flat


class MasterModel:
    def __init__(self, run: RunConfig, dataset: Dataset) -> None:
        self._dataset = dataset
        self._model = build_model(run.model, dataset.input_shape, dataset.num_classes, run.seed)
        self.flat: np.ndarray = get_flat(self._model)  # (N,) float32, never mutated in place
        self.round = 0  # the model is x^round
        self._digest = digest(self.flat)

    @property
    def layout(self) -> Layout:
        return model_layout(self._model)

    @property
    def num_params(self) -> int:
        return int(self.flat.size)

    @property
    def digest(self) -> bytes:
        return self._digest

    def commit(self, new_flat: np.ndarray, round_index: int) -> None:
        """Swap in x^{round_index} (on the event loop)."""
        self.flat = new_flat
        self.round = round_index
        self._digest = digest(new_flat)

    def evaluate(self, flat: np.ndarray) -> tuple[float, float]:
        """(accuracy, loss) of a given vector on the test set; runs off the event loop."""
        set_flat(self._model, flat)
        with torch.no_grad():
            return evaluate(self._model, self._dataset.test_x, self._dataset.test_y)
