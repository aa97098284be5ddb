"""Algorithms as plugins: one module each in this package (see base.py).

Every module here is imported, and so registered, when the package is: adding an
algorithm is adding its file.
"""

import importlib
import pkgutil

from common.algorithms.base import (
    Algorithm,
    Trainer,
    available,
    create_aggregator,
    get_algorithm,
    register,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Algorithm", "Trainer", "available", "create_aggregator", "get_algorithm", "register"]
