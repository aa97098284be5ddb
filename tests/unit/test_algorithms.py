"""Algorithms are plugins: the registry alone feeds the CLI, the experiment grid, the
report's order, the figures' labels and the README's table; a new algorithm is one
registered class, and every command offers it at once."""

from __future__ import annotations

import argparse
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

import common.algorithms
from common.aggregators import Aggregator
from common.algorithms import Algorithm, available, base, get_algorithm, register
from common.config import AggregatorConfig, ConfigError, RunConfig
from signfed import figures, report
from signfed.algorithm_table import algorithm_table
from signfed.cli import build_parser
from signfed.experiment_config import BatchModesConfig

ROOT = Path(__file__).resolve().parents[2]
RUN_COMMANDS = ("server", "local", "simulate")


def _algorithm_choices(command: str) -> tuple[str, ...]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if "--algorithm" in a.option_strings)
    assert action.choices is not None
    return tuple(action.choices)


def test_the_registry_holds_the_five_and_every_module_registers() -> None:
    assert available() == ("fd", "fedavg", "llr", "mv", "sgd")
    modules = {m.name for m in pkgutil.iter_modules(common.algorithms.__path__)}
    assert set(available()) <= modules  # one file each, named after the algorithm


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_cli_choices_are_the_registry(command: str) -> None:
    # and split learning, whose minibatch exchange is no round algorithm (common/split_*)
    assert _algorithm_choices(command) == (*available(), "split")


def test_experiment_report_and_figures_use_the_registry() -> None:
    assert BatchModesConfig().algorithms == ("llr", "mv", "sgd")  # the paper's figure
    with pytest.raises(ConfigError, match="--algorithms must be among"):
        BatchModesConfig(algorithms=("median",))
    assert report.ALGORITHM_ORDER == available()
    for name in available():
        assert figures.algorithm_label(name) == get_algorithm(name).label
    assert figures.is_baseline("sgd") and not figures.is_baseline("llr")
    assert figures.algorithm_label("retired") == "retired"  # an old CSV still plots


def test_readme_table_is_the_registry() -> None:
    readme = (ROOT / "README.md").read_text()
    assert algorithm_table() in readme
    for name in available():
        assert f"| `{name}` | {get_algorithm(name).summary} |" in algorithm_table()


def test_encodings_are_checked_against_the_algorithm() -> None:
    sgd = get_algorithm("sgd")
    update, decision = sgd.encodings(RunConfig(update_encoding="float16"))
    assert (update.name, decision.name) == ("float16", "float32")
    llr = get_algorithm("llr")
    assert [c.name for c in llr.encodings(RunConfig())] == ["sign1", "sign1"]
    with pytest.raises(
        ConfigError, match="--update-encoding float16 does not suit --algorithm llr"
    ):
        llr.encodings(RunConfig(update_encoding="float16"))
    abstain = RunConfig(aggregator=AggregatorConfig(zeros="abstain"))
    assert [c.name for c in llr.encodings(abstain)] == ["ternary", "ternary"]
    with pytest.raises(ConfigError, match="--update-encoding sign1 does not suit"):
        llr.encodings(RunConfig(update_encoding="sign1", aggregator=abstain.aggregator))
    with pytest.raises(ConfigError, match="--zeros abstain is for the sign algorithms"):
        sgd.encodings(RunConfig(aggregator=AggregatorConfig(algorithm="sgd", zeros="abstain")))
    with pytest.raises(ConfigError, match="unknown algorithm 'median'; available: fd, fedavg"):
        get_algorithm("median")
    # settings an algorithm would ignore are refused, naming who takes them
    with pytest.raises(ConfigError, match="--rule median combines float rows"):
        llr.encodings(RunConfig(aggregator=AggregatorConfig(rule="median")))
    with pytest.raises(ConfigError, match="--server-optimizer adam is FedAvg's"):
        adam = AggregatorConfig(algorithm="sgd", server_optimizer="adam")
        sgd.encodings(RunConfig(aggregator=adam))
    fedavg = get_algorithm("fedavg")
    median = RunConfig(aggregator=AggregatorConfig(algorithm="fedavg", rule="median"))
    assert [c.name for c in fedavg.encodings(median)] == ["float32", "float32"]


class _Last(Aggregator):
    """A toy: the decision is the last row."""

    name = "last"

    def aggregate(self, votes, client_ids, round_index, weights=None):  # type: ignore[no-untyped-def]
        votes, _ = self.check_inputs(votes, client_ids, round_index)
        return votes[-1]


def test_a_new_algorithm_is_one_registered_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # undone after the test

    @register
    class Last(Algorithm):
        name = "last"
        label = "the last client (last)"
        summary = "the last client's signs"
        update_encodings = ("sign1",)
        decision_encodings = ("sign1",)

        def local_update(self, trainer, flat, round_index, run):  # type: ignore[no-untyped-def]
            return np.asarray(flat)

        def encode_update(self, update, client_id, round_index, run):  # type: ignore[no-untyped-def]
            return np.packbits(update > 0, bitorder="little")

        def aggregator(self, num_coords, config, layout=()):  # type: ignore[no-untyped-def]
            return _Last(num_coords, config)

    assert available() == ("fd", "fedavg", "last", "llr", "mv", "sgd")
    for command in RUN_COMMANDS:
        assert "last" in _algorithm_choices(command)
    assert "| `last` | the last client's signs |" in algorithm_table()
    assert figures.algorithm_label("last") == "the last client (last)"
    with pytest.raises(ValueError, match="already registered"):
        register(Last)


def test_an_algorithm_naming_an_unknown_encoding_fails_at_registration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    with pytest.raises(ValueError, match=re.escape("unknown encoding 'quaternary'")):

        @register
        class Quaternary(Algorithm):
            name = "quaternary"
            label = summary = "quaternary"
            update_encodings = ("quaternary",)
            decision_encodings = ("sign1",)

            def local_update(self, trainer, flat, round_index, run):  # type: ignore[no-untyped-def]
                raise AssertionError

            def aggregator(self, num_coords, config, layout=()):  # type: ignore[no-untyped-def]
                raise AssertionError

    assert "quaternary" not in available()
