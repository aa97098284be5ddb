"""Models and datasets by name: what --model and --dataset take.

Like the algorithms (common/algorithms/base.py), a model or a dataset is a name in a
registry, and nothing else lists the names: RunConfig validates against these tables,
the CLI's choices come from them, `common.models.build_model` builds what a model
name says and `common.data.load_dataset` loads what a dataset name says. The built-in
ones are registered at the bottom of this file; a plugin (signfed/plugins.py,
docs/extending.md) registers its own when it is imported:

    @register_model("logreg", summary="multinomial logistic regression")
    def logreg(input_shape: tuple[int, ...], num_classes: int) -> nn.Module: ...

    @register_dataset("blobs", default_model="mlp", summary="Gaussian blobs")
    def blobs(data_dir: Path, seed: int) -> Dataset: ...

No torch here: the built-in builders and loaders are imported when first called, so
reading names (the CLI's --help, RunConfig) costs nothing.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from common.config_error import ConfigError

if TYPE_CHECKING:
    from torch import nn

    from common.data import Dataset

# (one example's shape, number of classes) -> the module, built on torch's meta device:
# build_model then fills every parameter from the run's seed, so replicas agree.
ModelBuilder = Callable[[tuple[int, ...], int], "nn.Module"]
# (--data-dir, run seed) -> the train/test split; the seed fixes any draw or split, so
# every replica loads the same examples.
DatasetLoader = Callable[[Path, int], "Dataset"]
# --data-dir -> None, or common.data.MissingDataError saying how to get the files.
DataCheck = Callable[[Path], None]

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # a flag value, a file name, a label
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: ModelBuilder
    summary: str = ""  # one line for people


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    load: DatasetLoader
    default_model: str  # what an empty --model picks for this dataset
    summary: str = ""
    check: DataCheck | None = None  # for launchers, before they start processes; None: no files


_MODELS: dict[str, ModelSpec] = {}
_DATASETS: dict[str, DatasetSpec] = {}


def _add(table: dict[str, Any], kind: str, spec: ModelSpec | DatasetSpec) -> None:
    if not NAME.fullmatch(spec.name):
        raise ValueError(f"{kind} name {spec.name!r} is not 1..64 characters of a-z 0-9 . _ -")
    if spec.name in table:
        raise ValueError(f"{kind} name {spec.name!r} is already registered")
    table[spec.name] = spec


def register_model(name: str, *, summary: str = "") -> Callable[[F], F]:
    """Decorator: make `build(input_shape, num_classes) -> nn.Module` the model `name`."""

    def decorate(build: F) -> F:
        _add(_MODELS, "model", ModelSpec(name, build, summary))
        return build

    return decorate


def register_dataset(
    name: str, *, default_model: str, summary: str = "", check: DataCheck | None = None
) -> Callable[[F], F]:
    """Decorator: make `load(data_dir, seed) -> common.data.Dataset` the dataset `name`."""

    def decorate(load: F) -> F:
        _add(_DATASETS, "dataset", DatasetSpec(name, load, default_model, summary, check))
        return load

    return decorate


def model_names() -> tuple[str, ...]:
    """Registered models, built-in ones first, in registration order."""
    return tuple(_MODELS)


def model_choices() -> tuple[str, ...]:
    """--model's choices: "" (the dataset's default) and every model."""
    return ("", *_MODELS)


def dataset_names() -> tuple[str, ...]:
    """Registered datasets, built-in ones first, in registration order."""
    return tuple(_DATASETS)


def get_model(name: str) -> ModelSpec:
    spec = _MODELS.get(name)
    if spec is None:
        raise ConfigError(f"unknown model {name!r}; choose one of {model_names()}")
    return spec


def get_dataset(name: str) -> DatasetSpec:
    spec = _DATASETS.get(name)
    if spec is None:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {dataset_names()}")
    return spec


def default_model(dataset: str) -> str:
    """The model an empty --model picks for `dataset`."""
    return get_dataset(dataset).default_model


def _lazy(target: str, *bound: Any) -> Callable[..., Any]:
    """`module:function`, imported at the first call, with `bound` as its first arguments."""
    module, _, attr = target.partition(":")

    def call(*args: Any) -> Any:
        return getattr(importlib.import_module(module), attr)(*bound, *args)

    call.__qualname__ = call.__name__ = attr
    return call


# ---- the built-in models and datasets (their code: common/models.py, common/data.py) ----
for _name, _summary in (
    ("mlp", "input -> 64 hidden -> classes: digits and synthetic data"),
    ("net", "the paper's MNIST CNN, 582,026 parameters on 1x28x28"),
    ("resnet56", "the CIFAR ResNet-56 of He et al. 2016, 853,018 parameters on 3x32x32"),
):
    register_model(_name, summary=_summary)(_lazy(f"common.models:build_{_name}"))

for _name, _model, _files, _summary in (
    ("digits", "mlp", False, "8x8 handwritten digits, bundled: 1,497 train / 300 test"),
    ("mnist", "net", True, "MNIST, 60,000 / 10,000 (`make data`)"),
    ("fashion-mnist", "net", True, "Fashion-MNIST, 60,000 / 10,000 (`make data-fashion`)"),
    ("cifar10", "resnet56", True, "CIFAR-10, 50,000 / 10,000 (`signfed fetch --source`)"),
    ("synthetic", "mlp", False, "ten seeded Gaussian classes in 64 dimensions"),
):
    register_dataset(
        _name,
        default_model=_model,
        summary=_summary,
        check=_lazy("common.data:check_files", _name) if _files else None,
    )(_lazy("common.data:load_builtin", _name))
