"""Server-side vote cost: `python -m benchmarks.aggregate [--repeats 7]`.

For the MNIST Net (N = 582,026) and M in (15, 100) voters, milliseconds per
aggregate() call (median of --repeats timed calls after one untimed call), then the
alternatives behind the design choices: bit-sliced majority vs unpack-and-sum,
table gather vs float32 log for the LLR weights, bitarray count_xor vs NumPy for the
pooled statistics, and the codec's packing throughput. One thread everywhere: the
server's event loop needs the other core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from bitarray import bitarray  # noqa: E402
from bitarray.util import count_xor  # noqa: E402

from common.aggregators import Aggregator  # noqa: E402
from common.aggregators.bits import majority_packed, tie_coin  # noqa: E402
from common.aggregators.weights import llr_weight, weight_table  # noqa: E402
from common.algorithms import create_aggregator  # noqa: E402
from common.codec import pack_bits, unpack_bits  # noqa: E402
from common.config import AggregatorConfig  # noqa: E402

NUM_COORDS = 582_026  # the MNIST Net
HISTORY = 200  # rounds already counted when the LLR vote is timed (past the warm-up)


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # first call pays for page faults and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def random_votes(rng: np.random.Generator, m: int, n: int = NUM_COORDS) -> np.ndarray:
    return np.packbits(rng.random((m, n)) < 0.5, axis=1, bitorder="little")


def primed_llr(
    m: int,
    rng: np.random.Generator,
    *,
    warmup_rounds: int = HISTORY,
    forgetting: float = 1.0,
    pooled: bool = False,
) -> Aggregator:
    """An LLR aggregator with HISTORY rounds of plausible counts for clients 0..m-1."""
    config = AggregatorConfig(warmup_rounds=warmup_rounds, forgetting=forgetting, pooled=pooled)
    agg = create_aggregator(config, NUM_COORDS)
    p = rng.uniform(0.05, 0.45, size=(m, 1))
    counts = rng.binomial(HISTORY, p, size=(m, 1 if pooled else NUM_COORDS))
    rounds = sum(forgetting**k for k in range(HISTORY))  # r after HISTORY decayed rounds
    agg.load_state_dict(
        {
            "client_ids": np.arange(m),
            "counts": counts[:, 0] * NUM_COORDS if pooled else counts * (rounds / HISTORY),
            "rounds": np.full(m, rounds),
            "seen": np.full(m, HISTORY, np.int64),
        }
    )
    return agg


def unpack_sum_majority(votes: np.ndarray, coin: np.ndarray) -> np.ndarray:
    """The simple alternative to the bit-sliced count: unpack, sum, compare."""
    m = votes.shape[0]
    count = np.unpackbits(votes, axis=1, count=NUM_COORDS, bitorder="little").sum(
        axis=0, dtype=np.uint16
    )
    decided = 2 * count.astype(np.int32) > m
    decided |= (2 * count.astype(np.int32) == m) & unpack_bits(coin, NUM_COORDS)
    return pack_bits(decided)


def timed_calls(agg: Aggregator, votes: np.ndarray, first_round: int, repeats: int) -> float:
    """ms per aggregate() call; rounds advance from `first_round` as a server's would."""
    rounds = iter(range(first_round, first_round + repeats + 1))
    ids = list(range(len(votes)))
    return median_ms(lambda: agg.aggregate(votes, ids, next(rounds)), repeats)


def aggregate_row(m: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(m)
    votes = random_votes(rng, m)
    coin = tie_coin(0, 0, NUM_COORDS)
    even = votes[: m - m % 2]  # an even cohort, so the tie coin is read
    mv = create_aggregator(AggregatorConfig(algorithm="mv"), NUM_COORDS)
    row = {
        "mv  (bit-sliced on uint64 words)": timed_calls(mv, votes, 0, repeats),
        "    alternative: unpack + sum + compare": median_ms(
            lambda: unpack_sum_majority(votes, coin), repeats
        ),
        "    bit-sliced kernel alone, even M (coin read)": median_ms(
            lambda: majority_packed(even, NUM_COORDS, coin), repeats
        ),
    }
    warm = primed_llr(m, rng, warmup_rounds=HISTORY + repeats + 1)
    row["llr warm-up round (majority + counting)"] = timed_calls(warm, votes, HISTORY, repeats)
    weighted = {
        "llr weighted, per coordinate (default)": primed_llr(m, rng),
        "llr weighted, per coordinate, forgetting 0.99": primed_llr(m, rng, forgetting=0.99),
        "llr weighted, pooled": primed_llr(m, rng, pooled=True),
    }
    for name, agg in weighted.items():
        row[name] = timed_calls(agg, votes, HISTORY, repeats)
    ternary = ternary_votes(rng, m)
    abstain = AggregatorConfig(algorithm="mv", zeros="abstain")
    row["mv, ternary votes (--zeros abstain)"] = timed_calls(
        create_aggregator(abstain, NUM_COORDS), ternary, 0, repeats
    )
    for name, skip in (("", False), (", --abstentions skip", True)):
        agg = primed_ternary(m, rng, skip=skip)
        row[f"llr weighted, ternary votes{name}"] = timed_calls(agg, ternary, HISTORY, repeats)
    return row


def ternary_votes(rng: np.random.Generator, m: int, zeros: float = 0.3) -> np.ndarray:
    """(M, 2B) ternary rows: random signs, a share `zeros` of abstentions."""
    values = np.where(rng.random((m, NUM_COORDS)) < 0.5, 1, -1)
    values[rng.random((m, NUM_COORDS)) < zeros] = 0
    signs = np.packbits(values > 0, axis=1, bitorder="little")
    return np.concatenate([signs, np.packbits(values != 0, axis=1, bitorder="little")], axis=1)


def primed_ternary(m: int, rng: np.random.Generator, *, skip: bool) -> Aggregator:
    """An abstaining LLR aggregator with HISTORY rounds of plausible counts."""
    config = AggregatorConfig(
        warmup_rounds=HISTORY, zeros="abstain", abstentions="skip" if skip else "disagree"
    )
    agg = create_aggregator(config, NUM_COORDS)
    voted = rng.binomial(HISTORY, 0.7, size=(m, NUM_COORDS)).astype(np.int32)
    counts = rng.binomial(voted if skip else HISTORY, 0.3, size=(m, NUM_COORDS)).astype(np.int32)
    state: dict[str, np.ndarray] = {
        "client_ids": np.arange(m),
        "counts": counts,
        "rounds": np.full(m, float(HISTORY)),
        "seen": np.full(m, HISTORY, np.int64),
    }
    agg.load_state_dict(state | ({"voted": voted} if skip else {}))
    return agg


def aggregate_table(repeats: int) -> list[str]:
    lines = [f"aggregate(): ms per call, N = {NUM_COORDS:,}, median of {repeats}", ""]
    lines.append(f"{'aggregator':52s} {'M=15':>9s} {'M=100':>9s}")
    small, large = aggregate_row(15, repeats), aggregate_row(100, repeats)
    for (name, a), b in zip(small.items(), large.values(), strict=True):
        lines.append(f"{name:52s} {a:9.2f} {b:9.2f}")
    return lines


def weight_alternatives(repeats: int) -> list[str]:
    """The LLR vote's heaviest step, weights for M=15 x N: what was tried."""
    rng = np.random.default_rng(1)
    counts = rng.integers(0, HISTORY + 1, size=(15, NUM_COORDS), dtype=np.int32)
    table = weight_table(HISTORY, 1e-5, 10.0, np.float32)
    as_float = counts.astype(np.float32)

    def float32_log() -> np.ndarray:
        agree = (np.float32(HISTORY) - as_float) / np.float32(HISTORY + 1e-5)
        w = np.log((agree + np.float32(1e-5)) / (np.float32(1 + 1e-5) - agree))
        return np.clip(w, -10, 10, out=w)

    cases = {
        "float64 formula per element (llr_weight)": lambda: llr_weight(counts, HISTORY, 1e-5, 10),
        "float32 formula per element": float32_log,
        "table gather np.take(table, int32 counts)": lambda: np.take(table, counts),
    }
    lines = ["", "LLR weights for M=15 x N (whole array, ms)"]
    lines += [f"  {name:50s} {median_ms(fn, repeats):9.2f}" for name, fn in cases.items()]
    return lines


def pooled_counting_row(m: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(2)
    votes = random_votes(rng, m)
    decision = random_votes(rng, 1)[0]
    decided = bitarray(buffer=decision, endian="little")
    aligned = votes.shape[1] // 8 * 8  # the uint64-aligned bytes (all but the last 2 here)
    words, decision_words = votes[:, :aligned].view(np.uint64), decision[:aligned].view(np.uint64)
    cases: dict[str, Callable[[], object]] = {
        "bitarray.util.count_xor (buffer import, no copy)": lambda: [
            count_xor(bitarray(buffer=vote, endian="little"), decided) for vote in votes
        ],
        "numpy unpackbits(votes ^ decision).sum": lambda: np.unpackbits(
            votes ^ decision, axis=1
        ).sum(axis=1),
        "numpy bitwise_count(uint64 xor).sum (NumPy >= 2)": lambda: np.bitwise_count(
            words ^ decision_words
        ).sum(axis=1),
    }
    return {name: median_ms(fn, repeats) for name, fn in cases.items()}


def pooled_counting(repeats: int) -> list[str]:
    """Disagreements of M packed votes with the packed decision (pooled statistics)."""
    lines = ["", "pooled statistics: count disagreements of M votes vs the decision (ms)"]
    lines.append(f"  {'method':50s} {'M=15':>9s} {'M=100':>9s}")
    small, large = pooled_counting_row(15, repeats), pooled_counting_row(100, repeats)
    for (name, a), b in zip(small.items(), large.values(), strict=True):
        lines.append(f"  {name:50s} {a:9.3f} {b:9.3f}")
    return lines


def packing(repeats: int) -> list[str]:
    rng = np.random.default_rng(3)
    bits = rng.random(NUM_COORDS) < 0.5
    packed = pack_bits(bits)
    lines = ["", f"common.codec on N = {NUM_COORDS:,} signs"]
    for name, fn in (
        ("pack_bits (bool -> packed)", lambda: pack_bits(bits)),
        ("unpack_bits (packed -> bool)", lambda: unpack_bits(packed, NUM_COORDS)),
    ):
        ms = median_ms(fn, repeats * 5)
        rate = NUM_COORDS / (ms / 1e3) / 1e9
        lines.append(f"  {name:50s} {ms:9.3f} ms  {rate:5.2f} G signs/s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per case")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    header = [
        f"# {platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, one thread; "
        f"load average before the run {load} (other jobs share these CPUs: medians, not minima)"
    ]
    for line in header + aggregate_table(args.repeats) + weight_alternatives(args.repeats):
        print(line, flush=True)
    for line in pooled_counting(args.repeats) + packing(args.repeats):
        print(line, flush=True)


if __name__ == "__main__":
    main()
