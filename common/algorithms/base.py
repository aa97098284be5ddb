"""An algorithm, declared once: what a client sends, how the server aggregates, how
every replica applies the decision. The registry of algorithms by name.

An algorithm is one file in this package (it registers itself with @register; the
package imports every module in it), and from the registry come the CLI's
--algorithm choices, the experiment grids, report and figure labels and the README's
table. It declares:

- the encodings its updates and decisions may travel in (common/codecs.py), the first
  of each being its default;
- `client_update`: what a client computes from the model x^t and its data in round t,
  as a row of the update codec (signs of a minibatch gradient; later a model delta
  after local steps);
- `aggregator`: the server's stateful half (common/aggregators): rows in, with
  per-row weights (examples behind each), decided row out;
- `apply`: x^{t+1} from x^t and the decision as received, the same on every replica
  (server, clients, simulation), so replicas stay bit-identical.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

import numpy as np

from common.codecs import Codec, Layout, get_codec
from common.config import AggregatorConfig, ConfigError, RunConfig
from common.step import sign_step

if TYPE_CHECKING:
    from common.aggregators import Aggregator


class Trainer(Protocol):
    """What an algorithm may ask of a client's local trainer (client/trainer.py)."""

    client_id: int
    batch_size: int

    def gradient(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        """(N,) float32 minibatch gradient at `flat`, the minibatch fixed by the round."""
        ...


class Algorithm(abc.ABC):
    name: ClassVar[str]  # what --algorithm takes
    label: ClassVar[str]  # figures and reports: "IT-signSGD (llr)"
    summary: ClassVar[str]  # one line for --help and the README's table
    update_encodings: ClassVar[tuple[str, ...]]  # the first is the default
    decision_encodings: ClassVar[tuple[str, ...]]
    baseline: ClassVar[bool] = False  # a float reference, drawn dashed in figures
    encoding_hint: ClassVar[str] = ""  # said after a refused --*-encoding

    @abc.abstractmethod
    def client_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, run: RunConfig
    ) -> np.ndarray:
        """The row a client sends for `round_index`, in its update codec's row form."""

    @abc.abstractmethod
    def aggregator(self, num_coords: int, config: AggregatorConfig) -> Aggregator:
        """A fresh server-side aggregator for a model of `num_coords` parameters."""

    def apply(self, flat: np.ndarray, values: np.ndarray, learning_rate: float) -> np.ndarray:
        """x - lr * U: the decision's values (N,) float32 applied to x, as a new array.
        Exact float32 arithmetic, so every replica gets the same bits."""
        return sign_step(flat, values, learning_rate)

    def encodings(self, run: RunConfig, layout: Layout = ()) -> tuple[Codec, Codec]:
        """(update codec, decision codec) of a run: its choices, else the defaults;
        ConfigError for an encoding this algorithm cannot send. `layout` (the model's
        parameter blocks, common/ternary.py) helps codecs whose size depends on the data
        encode more compactly; decoding never needs it."""
        updates, decisions = self.allowed_encodings(run)
        chosen = []
        for flag, wanted, allowed in (
            ("--update-encoding", run.update_encoding, updates),
            ("--decision-encoding", run.decision_encoding, decisions),
        ):
            if wanted and wanted not in allowed:
                raise ConfigError(
                    f"{flag} {wanted} does not suit --algorithm {self.name}; it takes "
                    f"{', '.join(allowed)}{self.encoding_hint}"
                )
            chosen.append(get_codec(wanted or allowed[0]).bound(layout))
        return chosen[0], chosen[1]

    def allowed_encodings(self, run: RunConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The (update, decision) encodings `run` may choose from, defaults first; the
        sign algorithms narrow them by --zeros, and only they take it."""
        if run.aggregator.zeros != "coin":
            raise ConfigError(
                f"--zeros {run.aggregator.zeros} is for the sign algorithms (llr, mv); "
                f"--algorithm {self.name} sends {self.update_encodings[0]}"
            )
        return self.update_encodings, self.decision_encodings

    def apply_payload(
        self, flat: np.ndarray, row: np.ndarray, codec: Codec, learning_rate: float
    ) -> np.ndarray:
        """x^{t+1} from a received decision row (what every replica runs)."""
        return self.apply(flat, codec.values(row, flat.size), learning_rate)


_REGISTRY: dict[str, Algorithm] = {}
A = TypeVar("A", bound=type[Algorithm])


def register(cls: A) -> A:
    """Class decorator: make the algorithm available under `cls.name`."""
    if cls.name in _REGISTRY:
        raise ValueError(f"algorithm name {cls.name!r} is already registered")
    for name in (*cls.update_encodings, *cls.decision_encodings):
        get_codec(name)  # a typo fails at import, not in round 0
    _REGISTRY[cls.name] = cls()
    return cls


def available() -> tuple[str, ...]:
    """Registered algorithm names, sorted (llr, mv, sgd: the paper's method first)."""
    return tuple(sorted(_REGISTRY))


def get_algorithm(name: str) -> Algorithm:
    algorithm = _REGISTRY.get(name)
    if algorithm is None:
        raise ConfigError(f"unknown algorithm {name!r}; available: {', '.join(available())}")
    return algorithm


def create_aggregator(config: AggregatorConfig, num_coords: int) -> Aggregator:
    """The aggregator of the algorithm config.algorithm names."""
    return get_algorithm(config.algorithm).aggregator(num_coords, config)
