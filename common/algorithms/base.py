"""An algorithm, declared once: what a client sends, how the server aggregates, how
every replica applies the decision. The registry of algorithms by name.

An algorithm is one file in this package (it registers itself with @register; the
package imports every module in it), and from the registry come the CLI's
--algorithm choices, the experiment grids, report and figure labels and the README's
table. It declares:

- the encodings its updates and decisions may travel in (common/codecs.py), the first
  of each being its default;
- `local_update`: what a client computes from the model x^t and its data in round t,
  as a float vector (a minibatch gradient; FedAvg's model delta after local steps),
  and `encode_update`: that vector as a row of the update codec (its signs, or the
  floats themselves). An attacking client (common/attacks.py) corrupts the vector in
  between, so every attack serves every algorithm;
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

    @property
    def num_examples(self) -> int:
        """The examples the client holds."""
        ...

    def gradient(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        """(N,) float32 minibatch gradient at `flat`, the minibatch fixed by the round."""
        ...

    def local_delta(self, flat: np.ndarray, round_index: int) -> np.ndarray:
        """(N,) float32 x_m - x after the run's local SGD steps from `flat`."""
        ...


class Algorithm(abc.ABC):
    name: ClassVar[str]  # what --algorithm takes
    label: ClassVar[str]  # figures and reports: "IT-signSGD (llr)"
    summary: ClassVar[str]  # one line for --help and the README's table
    update_encodings: ClassVar[tuple[str, ...]]  # the first is the default
    decision_encodings: ClassVar[tuple[str, ...]]
    baseline: ClassVar[bool] = False  # a float reference, drawn dashed in figures
    colour: ClassVar[str] = "tab:gray"  # its colour in figures (matplotlib's names)
    encoding_hint: ClassVar[str] = ""  # said after a refused --*-encoding
    float_rows: ClassVar[bool] = False  # rows are floats: --rule applies
    local_training: ClassVar[bool] = False  # clients take local steps: --server-optimizer

    @abc.abstractmethod
    def local_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, run: RunConfig
    ) -> np.ndarray:
        """(N,) float32: what a client computes for `round_index` before encoding."""

    def encode_update(
        self, update: np.ndarray, client_id: int, round_index: int, run: RunConfig
    ) -> np.ndarray:
        """The row that travels for a (possibly corrupted) update: the floats as they are;
        the sign algorithms send their signs."""
        return np.asarray(update, dtype=np.float32)

    def client_update(
        self, trainer: Trainer, flat: np.ndarray, round_index: int, run: RunConfig
    ) -> np.ndarray:
        """The row an honest client sends for `round_index`, in its update codec's form."""
        update = self.local_update(trainer, flat, round_index, run)
        return self.encode_update(update, trainer.client_id, round_index, run)

    def row_weight(self, batch_size: int, num_examples: int) -> float:
        """The weight of a client's row in the aggregate: the examples behind it (its
        minibatch for a gradient; FedAvg weighs a delta by the client's data)."""
        return float(batch_size)

    @abc.abstractmethod
    def aggregator(
        self, num_coords: int, config: AggregatorConfig, layout: Layout = ()
    ) -> Aggregator:
        """A fresh server-side aggregator for a model of `num_coords` parameters whose
        blocks are `layout` (signSGD-FD treats the final layer apart)."""

    def apply(self, flat: np.ndarray, values: np.ndarray, learning_rate: float) -> np.ndarray:
        """x - lr * U: the decision's values (N,) float32 applied to x, as a new array.
        Exact float32 arithmetic, so every replica gets the same bits."""
        return sign_step(flat, values, learning_rate)

    def encodings(self, run: RunConfig, layout: Layout = ()) -> tuple[Codec, Codec]:
        """(update codec, decision codec) of a run: its choices, else the defaults;
        ConfigError for an encoding this algorithm cannot send. `layout` (the model's
        parameter blocks, common/ternary.py) helps codecs whose size depends on the data
        encode more compactly; decoding never needs it."""
        self.check(run)
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

    def check(self, run: RunConfig) -> None:
        """ConfigError for a setting this algorithm would silently ignore."""
        agg = run.aggregator
        if agg.rule != "mean" and not self.float_rows:
            raise ConfigError(
                f"--rule {agg.rule} combines float rows (sgd, fedavg); "
                f"--algorithm {self.name} sends {self.update_encodings[0]}"
            )
        if agg.server_optimizer != "sgd" and not self.local_training:
            raise ConfigError(
                f"--server-optimizer {agg.server_optimizer} is FedAvg's (--algorithm fedavg)"
            )

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
    """Registered algorithm names, sorted."""
    return tuple(sorted(_REGISTRY))


def get_algorithm(name: str) -> Algorithm:
    algorithm = _REGISTRY.get(name)
    if algorithm is None:
        raise ConfigError(f"unknown algorithm {name!r}; available: {', '.join(available())}")
    return algorithm


def create_aggregator(config: AggregatorConfig, num_coords: int, layout: Layout = ()) -> Aggregator:
    """The aggregator of the algorithm config.algorithm names."""
    return get_algorithm(config.algorithm).aggregator(num_coords, config, layout)
