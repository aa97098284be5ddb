"""The round engine: the one round step of every backend, NumPy only."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from common.aggregators.llr import LLRVote
from common.algorithms.signs import sign_vote
from common.codec import unpack_signs
from common.config import AggregatorConfig, RunConfig
from common.step import sign_step
from server.engine import RoundEngine, round_record


def test_the_engine_imports_neither_grpc_nor_the_stubs() -> None:
    probe = (
        "import sys, server.engine\n"
        "bad = sorted(m for m in sys.modules if m == 'grpc' or m.startswith(('grpc.', "
        "'common.proto', 'google.protobuf')))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_llr_step_is_the_decoder_then_the_sign_step() -> None:
    n, rng = 1000, np.random.default_rng(0)
    run = RunConfig(rounds=5, aggregator=AggregatorConfig(warmup_rounds=1))
    engine, reference = RoundEngine(run, n), LLRVote(n, run.aggregator)
    flat = rng.standard_normal(n).astype(np.float32)
    for t in range(3):
        rows = np.stack([sign_vote(rng.standard_normal(n), 0, m, t) for m in range(5)])
        decided = engine.step(flat, t, [0, 1, 2, 3, 4], rows)
        expected = reference.aggregate(rows, [0, 1, 2, 3, 4], t)
        assert decided.payload == expected.tobytes()  # sign1 travels as the packed row
        want = sign_step(flat, unpack_signs(expected, n), run.learning_rate_at(t))
        np.testing.assert_array_equal(decided.flat, want)
        flat = decided.flat


@pytest.mark.parametrize("decision", ["float32", "float16", "bfloat16"])
def test_sgd_applies_the_weighted_mean_as_it_travelled(decision: str) -> None:
    n, rng = 300, np.random.default_rng(1)
    run = RunConfig(
        learning_rate=0.1, decision_encoding=decision, aggregator=AggregatorConfig(algorithm="sgd")
    )
    engine = RoundEngine(run, n)
    flat = rng.standard_normal(n).astype(np.float32)
    rows = rng.standard_normal((3, n)).astype(np.float32)
    weights = np.array([4.0, 4.0, 904.0])
    decided = engine.step(flat, 0, [0, 1, 2], rows, weights)
    mean = (weights / weights.sum()) @ rows.astype(np.float64)
    received = engine.decision_codec.decode(decided.payload, n)
    assert len(decided.payload) == engine.decision_codec.max_size(n)
    np.testing.assert_allclose(received, mean, rtol=2**-7, atol=1e-6)
    # What a client applies from the payload is what the server applied: bit for bit.
    np.testing.assert_array_equal(decided.flat, sign_step(flat, received, 0.1))


def test_cadence_and_record() -> None:
    engine = RoundEngine(RunConfig(rounds=25, eval_every=10, digest_every=4), 16)
    assert [t for t in range(25) if engine.evaluate_due(t)] == [9, 19, 24]
    assert [t for t in range(25) if engine.digest_due(t)] == [3, 7, 11, 15, 19, 23, 24]
    rows = np.zeros((2, 2), np.uint8)
    decided = engine.step(np.zeros(16, np.float32), 9, [0, 3], rows)
    record = round_record(
        decided, clients=2, bytes_up=10, bytes_down=20, seconds=1.23456, round_ms=2.0,
        erasures=[1],
    )  # fmt: skip
    assert record["round"] == 9 and record["erasures"] == [1]
    assert record["seconds"] == 1.2346 and record["bytes_up"] == 10
    assert set(record["client_weights"]) == {"0", "3"}  # evaluated rounds report weights
