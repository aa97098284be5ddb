"""The robustness grid's outputs, from its finished runs (any subset of the grid):

accuracy.csv  one row per evaluation of every finished run: partition, attackers,
              attack, defence, seed, round, accuracy, loss
final.csv     one row per finished run: ..., rounds, final_accuracy, tail_accuracy (the
              mean over its evaluations in the last third of its rounds, as
              signfed.report counts tails), best_accuracy
weights.csv   llr and fd runs: every client's mean signed weight at each evaluation
              ("client_weights_signed"), and whether the client attacks (1) or not (0)
summary.md    a table per partition: defences x (attackers, attack), tail accuracy,
              mean over seeds ± half the range; "–" where no run has finished
heatmap.png, curves.png, weights.png  signfed/robustness_figures.py
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.attacks import attacker_ids
from signfed.grid import evaluations, is_finished
from signfed.report import Row, in_tail
from signfed.robustness import NO_ATTACK, RunSpec, plan_runs
from signfed.robustness_config import RobustnessConfig

KEY_FIELDS = ("partition", "attackers", "attack", "defence", "seed")
ACCURACY_FIELDS = (*KEY_FIELDS, "round", "accuracy", "loss")
FINAL_FIELDS = (*KEY_FIELDS, "rounds", "final_accuracy", "tail_accuracy", "best_accuracy")
WEIGHT_FIELDS = (*KEY_FIELDS, "round", "client", "attacker", "signed_weight")
SIGNED_WEIGHTS = "client_weights_signed"  # metrics.jsonl's {client id: mean signed w}

Column = tuple[int, str]  # (attackers, attack): a column of the table and the heatmap
Cell = tuple[str, int, str, str]  # (partition, attackers, attack, defence)


@dataclass(frozen=True)
class Gathered:
    accuracy: list[Row]
    finals: list[Row]
    weights: list[Row]


def gather(specs: Iterable[RunSpec]) -> Gathered:
    """The rows of the finished runs among `specs`."""
    found = Gathered([], [], [])
    for spec in specs:
        if not is_finished(spec.simulation):
            continue
        key: Row = {
            "partition": spec.partition,
            "attackers": spec.attackers,
            "attack": spec.attack,
            "defence": spec.defence,
            "seed": spec.seed,
        }
        attacking = set(attacker_ids(spec.seed, spec.run.num_clients, spec.attackers))
        rows = []
        for done, record in evaluations(spec.directory):
            measured = {"accuracy": record["accuracy"], "loss": record["loss"]}
            rows.append(key | {"round": done} | measured)
            for client, value in sorted(record.get(SIGNED_WEIGHTS, {}).items(), key=_by_id):
                attacker = int(int(client) in attacking)
                found.weights.append(
                    key
                    | {"round": done, "client": int(client), "attacker": attacker}
                    | {"signed_weight": value}
                )
        if rows:
            found.accuracy.extend(rows)
            found.finals.append(final_row(key, rows))
    return found


def _by_id(item: tuple[str, float]) -> int:
    return int(item[0])


def final_row(key: Row, rows: Sequence[Row]) -> Row:
    """One run's row of final.csv from its evaluations (in round order)."""
    last = rows[-1]["round"]
    tail = [r["accuracy"] for r in rows if in_tail(r["round"], last)]
    return key | {
        "rounds": last,
        "final_accuracy": rows[-1]["accuracy"],
        "tail_accuracy": round(statistics.fmean(tail), 6),
        "best_accuracy": max(r["accuracy"] for r in rows),
    }


def columns(config: RobustnessConfig, cells: Iterable[Cell] | None = None) -> list[Column]:
    """The grid's (attackers, attack) in plan order, no attack first; given the finished
    `cells`, only the columns with a run (a report over a union of slices, such as F=3
    with two attacks and F=6 with one, shows no column of dashes)."""
    grid = [(f, a) for f in config.attackers for a in (config.attacks if f else (NO_ATTACK,))]
    if cells is None:
        return grid
    ran = {(f, a) for _, f, a, _ in cells}
    return [c for c in grid if c in ran]


def column_label(column: Column) -> str:
    attackers, attack = column
    return "no attack" if not attackers else f"F={attackers} {attack}"


def tail_by_cell(finals: Iterable[Row]) -> dict[Cell, list[float]]:
    """Each cell's tail accuracies, one per finished seed."""
    cells: dict[Cell, list[float]] = defaultdict(list)
    for row in finals:
        cells[(row["partition"], row["attackers"], row["attack"], row["defence"])].append(
            row["tail_accuracy"]
        )
    return cells


def cell_text(tails: Sequence[float], seeds: int) -> str:
    """'97.10 ± 0.20' (% and half the range over seeds), '–' for none; '(k/S)' when only
    k of the S planned seeds have finished."""
    if not tails:
        return "–"
    text = f"{100 * statistics.fmean(tails):.2f}"
    if len(tails) > 1:
        text += f" ± {100 * (max(tails) - min(tails)) / 2:.2f}"
    return text if len(tails) >= seeds else f"{text} ({len(tails)}/{seeds})"


def summary_markdown(config: RobustnessConfig, finals: Iterable[Row]) -> str:
    cells = tail_by_cell(finals)
    grid = columns(config, cells)
    text = [
        f"# Robustness: {config.dataset}, {config.clients} clients\n",
        "Tail accuracy (%): each run's mean test accuracy over its evaluations in the last "
        f"third of its rounds (float defences: {config.float_rounds} rounds, sign defences: "
        f"{config.sign_rounds}), mean over seeds ± half the range over seeds; – : no "
        "finished run"
        + (f"; (k/{config.seeds}): only k seeds finished" if config.seeds > 1 else "")
        + f". F: the number of attacking clients; negate sends -{config.negate_scale:g} x "
        "its update, the other attacks their defaults (common/attacks.py).\n",
    ]
    for partition in config.partitions:
        text += [
            f"## {partition}\n",
            "| defence | " + " | ".join(column_label(c) for c in grid) + " |",
            "|---|" + "---:|" * len(grid),
        ]
        for defence in config.defences:
            row = [cell_text(cells.get((partition, *c, defence), []), config.seeds) for c in grid]
            text.append(f"| {defence} | " + " | ".join(row) + " |")
        text.append("")
    return "\n".join(text)


def write_csv(path: Path, fields: Sequence[str], rows: Iterable[Row]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


def write_report(config: RobustnessConfig, specs: list[RunSpec] | None) -> None:
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    found = gather(specs or plan_runs(config))
    for name, fields, rows in (
        ("accuracy.csv", ACCURACY_FIELDS, found.accuracy),
        ("final.csv", FINAL_FIELDS, found.finals),
        ("weights.csv", WEIGHT_FIELDS, found.weights),
    ):
        write_csv(out / name, fields, rows)
    print(f"{len(found.finals)} finished runs -> {out}/accuracy.csv, final.csv", flush=True)
    if not found.finals:
        return
    (out / "summary.md").write_text(summary_markdown(config, found.finals), encoding="utf-8")
    print(f"table -> {out / 'summary.md'}", flush=True)
    try:
        from signfed import robustness_figures as figures

        drawn = [
            figures.plot_heatmap(config, tail_by_cell(found.finals), out / "heatmap.png"),
            figures.plot_curves(config, found.accuracy, out / "curves.png"),
            figures.plot_weights(config, found.weights, out / "weights.png"),
        ]
    except ImportError as exc:  # the CSVs and the table stand without figures
        print(f"no figures: {exc}", flush=True)
        return
    for name, figure in zip(("heatmap.png", "curves.png", "weights.png"), drawn, strict=True):
        if figure is None:
            (out / name).unlink(missing_ok=True)  # an earlier report's would mislead
        print(f"figure -> {out / name}" if figure else f"no {name}: no runs to draw", flush=True)
