"""The README's table of algorithms, rendered from the registry (common/algorithms):
`signfed algorithms` prints it, and a test keeps the README's copy equal to it."""

from __future__ import annotations

from common.algorithms import available, get_algorithm
from common.codecs import get_codec


def algorithm_table() -> str:
    """A Markdown table: one row per registered algorithm."""
    rows = [
        "| --algorithm | what it is | update encodings (bits per coordinate; default "
        "first) | decision encodings |",
        "|---|---|---|---|",
    ]
    for name in available():
        a = get_algorithm(name)
        rows.append(
            f"| `{name}` | {a.summary} | {_encodings(a.update_encodings)} "
            f"| {_encodings(a.decision_encodings)} |"
        )
    return "\n".join(rows) + "\n"


def _encodings(names: tuple[str, ...]) -> str:
    return ", ".join(f"{n} ({_bits(n)})" for n in names)


def _bits(name: str) -> str:
    # ternary's size follows the gradient: 0.01-0.52 bit measured (benchmarks/zero_sets.py)
    return "<1, varies" if name == "ternary" else str(get_codec(name).bits)
