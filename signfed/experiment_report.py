"""The experiment's outputs from its finished runs: CSVs now; table and figures follow."""

from __future__ import annotations

from signfed.experiment import BatchModesConfig, RunSpec, collect, plan_runs


def write_report(config: BatchModesConfig, specs: list[RunSpec] | None) -> None:
    accuracy, weights, finished = collect(config, specs or plan_runs(config))
    print(f"{finished} finished runs -> {accuracy}, {weights}")
