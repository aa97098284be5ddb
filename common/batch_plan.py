"""Per-client batch plans: the paper's batch modes, and the server's plan from its flags.

The server hands each joining client its planned batch size (RunConfig.batch_sizes);
this is where that plan comes from: a preset --batch-mode or an explicit --batch-sizes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from common.config import ConfigError, require

# The paper's batch modes for M = 15 clients, total batch 960 (DESIGN.md).
BATCH_MODES: dict[int, tuple[int, ...]] = {
    1: (64,) * 15,
    2: (4,) * 9 + (154,) * 6,
    3: (4,) * 12 + (304,) * 3,
    4: (4,) * 14 + (904,),
}


def batch_sizes_for(mode: int, num_clients: int) -> tuple[int, ...]:
    """The paper's preset per-client batch sizes; only defined for 15 clients."""
    require(mode in BATCH_MODES, f"--batch-mode must be one of {sorted(BATCH_MODES)}, got {mode}")
    sizes = BATCH_MODES[mode]
    require(
        num_clients == len(sizes),
        f"--batch-mode {mode} is defined for {len(sizes)} clients; use --clients {len(sizes)} "
        "or give --batch-sizes",
    )
    return sizes


def plan_batch_sizes(mode: int, text: str, num_clients: int) -> tuple[int, ...]:
    """The server's per-client plan from --batch-mode or --batch-sizes; () for neither."""
    if mode and text:
        raise ConfigError("give --batch-mode or --batch-sizes, not both")
    if mode:
        return batch_sizes_for(mode, num_clients)
    return parse_batch_sizes(text, num_clients) if text else ()


def parse_batch_sizes(text: str, num_clients: int) -> tuple[int, ...]:
    """'4,4,904' -> (4, 4, 904); a single value applies to every client."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--batch-sizes must be comma-separated integers, got {text!r}") from None
    if len(sizes) == 1:
        sizes = sizes * num_clients
    require(
        len(sizes) == num_clients,
        f"--batch-sizes lists {len(sizes)} sizes for --clients {num_clients}",
    )
    require(all(s >= 1 for s in sizes), f"--batch-sizes must all be >= 1, got {text!r}")
    return sizes


def batch_sizes_text(sizes: Sequence[int], listed: int = 20) -> str:
    """Batch sizes for a banner: the list for a few clients, counts for many
    ("10000 x 32", "8000 x 4 + 2000 x 128"), so 10,000 clients take one short line."""
    if len(sizes) <= listed:
        return str(list(sizes))
    counts = Counter(sizes)
    return " + ".join(f"{counts[b]} x {b}" for b in sorted(counts))
