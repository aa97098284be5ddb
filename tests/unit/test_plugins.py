"""Models and datasets are registered by name like the algorithms (common/registry.py),
and --plugin imports a person's file before the parser is built (signfed/plugins.py).
The examples of docs/extending.md train in tests/integration/test_plugins.py."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from common import registry
from common.algorithms import available, base
from common.config import ConfigError, RunConfig
from common.data import DataError, Dataset, load_dataset
from common.models import build_model
from common.params import get_flat
from signfed import options, plugins
from signfed.cli import build_parser, main, parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every registry and the loaded list as they were: a plugin loaded here is gone
    after the test (other tests count the built-in names)."""
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_DATASETS", dict(registry._DATASETS))
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    monkeypatch.setattr(plugins, "_loaded", [])
    monkeypatch.delenv("SIGNFED_PLUGIN", raising=False)
    yield


def _choices(command: str, flag: str) -> tuple[str, ...]:
    parser = options.subcommand(build_parser(), command)
    action = next(a for a in parser._actions if flag in a.option_strings)
    return tuple(action.choices or ())


def test_the_built_in_names_and_defaults_are_as_before() -> None:
    assert registry.dataset_names() == ("digits", "mnist", "fashion-mnist", "cifar10", "synthetic")
    assert registry.model_names() == ("mlp", "net", "resnet56")
    defaults = {name: RunConfig(dataset=name).model for name in registry.dataset_names()}
    assert defaults == {"digits": "mlp", "mnist": "net", "fashion-mnist": "net",
                        "cifar10": "resnet56", "synthetic": "mlp"}  # fmt: skip
    assert _choices("simulate", "--model") == ("", "mlp", "net", "resnet56")


def test_a_taken_or_malformed_name_is_refused_and_an_unknown_one_named() -> None:
    with pytest.raises(ValueError, match="model name 'mlp' is already registered"):
        registry.register_model("mlp")(lambda shape, classes: nn.Linear(1, 2))
    with pytest.raises(ValueError, match="dataset name 'My Data' is not"):
        registry.register_dataset("My Data", default_model="mlp")(lambda d, s: None)
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        registry.get_model("nope")
    with pytest.raises(ConfigError, match="--dataset must be one of .* need its --plugin"):
        RunConfig(dataset="nope")


def test_a_registered_model_and_dataset_are_choices_and_config_values(tmp_path: Path) -> None:
    registry.register_model("tiny")(lambda shape, classes: nn.Linear(math.prod(shape), classes))
    registry.register_dataset("tiny-data", default_model="tiny")(lambda d, s: None)
    for command in ("server", "local", "simulate"):  # choices asked for when parsers build
        assert "tiny-data" in _choices(command, "--dataset")
        assert "tiny" in _choices(command, "--model")
    assert RunConfig(dataset="tiny-data").model == "tiny"  # the dataset's default model
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"dataset": "tiny-data", "model": "tiny"}))
    args = parse(build_parser(), ["simulate", "--config", str(config)])
    assert (options.run_config(args).dataset, options.run_config(args).model) == (
        "tiny-data",
        "tiny",
    )


def test_a_plugin_model_is_seeded_like_the_built_in_ones() -> None:
    registry.register_model("wide")(lambda shape, classes: nn.Linear(math.prod(shape), classes))
    state = torch.random.get_rng_state()
    a, b = build_model("wide", (4, 4), 3, seed=5), build_model("wide", (4, 4), 3, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG untouched
    assert get_flat(a).tobytes() == get_flat(b).tobytes()
    assert get_flat(a).tobytes() != get_flat(build_model("wide", (4, 4), 3, seed=6)).tobytes()
    assert np.abs(get_flat(a)).max() <= 1 / 4  # PyTorch's bound 1/sqrt(fan_in), filled
    assert np.abs(get_flat(a)).max() > 0


def test_a_model_with_buffers_or_no_module_is_refused() -> None:
    registry.register_model("tracked")(lambda shape, classes: nn.BatchNorm1d(shape[0]))
    registry.register_model("nothing")(lambda shape, classes: None)
    with pytest.raises(TypeError, match="keeps buffers"):
        build_model("tracked", (8,), 2, seed=0)
    with pytest.raises(TypeError, match="returned NoneType"):
        build_model("nothing", (8,), 2, seed=0)


def _dataset(labels: torch.Tensor, x_dtype: torch.dtype = torch.float32) -> Dataset:
    x = torch.zeros((len(labels), 3), dtype=x_dtype)
    return Dataset(x, labels, x, labels, num_classes=2, input_shape=(3,), name="bad")


@pytest.mark.parametrize(
    ("made", "message"),
    [
        (lambda: _dataset(torch.tensor([0, 1, 2])), "labels must lie in 0..1"),
        (lambda: _dataset(torch.tensor([0, 1]), torch.float64), "x must be float32"),
        (lambda: _dataset(torch.tensor([0, 1], dtype=torch.int32)), "y int64"),
        (lambda: "not a dataset", "returned str, not a Dataset"),
    ],
)
def test_a_loader_that_returns_something_else_is_a_data_error(made: object, message: str) -> None:
    registry.register_dataset("bad", default_model="mlp")(lambda d, s: made())  # type: ignore[operator]
    with pytest.raises(DataError, match=message):
        load_dataset("bad", "data")


@pytest.mark.parametrize(
    ("argv", "env", "wanted"),
    [
        (["simulate", "--plugin", "a.py", "--plugin", "b"], "", ["a.py", "b"]),
        (["simulate", "--plugin=a.py:b.py"], "", ["a.py", "b.py"]),
        (["--log-level", "DEBUG", "local"], "e.py:f", ["e.py", "f"]),
        (["client", "--plugin", "a.py"], "e.py", ["a.py"]),  # the command line replaces it
        (["status", "--plugin", "a.py"], "e.py", []),  # takes none: its parser refuses it
        (["algorithms"], "", []),
    ],
)
def test_the_plugins_a_command_line_asks_for(
    argv: list[str], env: str, wanted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNFED_PLUGIN", env)
    assert plugins.requested(argv) == wanted
    if wanted and argv[0] != "--log-level":  # the real parser agrees
        args = build_parser().parse_args(argv)
        assert str(args.plugin).split(":") == wanted


def test_a_loaded_plugin_registers_once_and_travels_to_child_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = EXAMPLES / "logreg.py"
    monkeypatch.chdir(ROOT)
    plugins.load([str(example.relative_to(ROOT)), str(example)])  # one file, twice
    assert registry.model_names() == ("mlp", "net", "resnet56", "logreg")
    # `signfed local` passes this on: absolute, so a child's directory does not matter
    assert plugins.argv() == ["--plugin", str(example.resolve())]


BAD_PLUGINS = {
    "missing": (None, "--plugin {path}: no such file"),
    "import_error": ("import no_such_module_xyz\n", "line 1: ModuleNotFoundError"),
    "taken_model": (
        "from common.registry import register_model\n\n"
        "@register_model('mlp')\ndef build(shape, classes):\n    return None\n",
        "line 3: ValueError: model name 'mlp' is already registered",
    ),
    "taken_algorithm": (
        "from common.algorithms import register\n"
        "from common.algorithms.mv import SignSGDMV\n\n"
        "@register\nclass Again(SignSGDMV):\n    pass\n",
        "line 4: ValueError: algorithm name 'mv' is already registered",
    ),
    "syntax_error": ("def broken(:\n", "SyntaxError: "),
}


@pytest.mark.parametrize("case", BAD_PLUGINS)
def test_a_plugin_that_does_not_load_is_one_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, message = BAD_PLUGINS[case]
    path = tmp_path / f"{case}.py"
    if text is not None:
        path.write_text(text)
    before = (registry.model_names(), available())
    code = main(["simulate", "--plugin", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"signfed: error: --plugin {path}: ")
    assert message.format(path=path) in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (registry.model_names(), available()) == before  # nothing half-registered
    assert not (tmp_path / "run").exists()


def test_a_missing_module_plugin_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "--plugin", "no_such_package.plugin"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "signfed: error: --plugin no_such_package.plugin: "
        "ModuleNotFoundError: No module named 'no_such_package'\n"
    )


def test_a_command_without_plugins_refuses_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["token", "--plugin", "x.py", "--secret-file", "s", "--name", "a"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --plugin x.py" in capsys.readouterr().err


def test_the_plugin_option_is_on_every_command_that_builds_a_run() -> None:
    parser = build_parser()
    for command in plugins.COMMANDS:
        actions = options.subcommand(parser, command)._actions
        assert "--plugin" in {flag for a in actions for flag in a.option_strings}, command
