"""Evaluation overlaps later rounds, yet metrics.jsonl stays in round order."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from common.proto import signfed_pb2 as pb


def test_slow_evaluations_do_not_reorder_metrics(
    start_server: Any, raw_client: Any, tmp_path: Path
) -> None:
    rounds = 9
    server = start_server(num_clients=1, rounds=rounds, eval_every=3)
    master = server.running.coordinator.master
    evaluate = master.evaluate

    def slow_evaluate(flat: Any) -> tuple[float, float]:
        time.sleep(0.3)  # several rounds close while this runs
        return evaluate(flat)  # type: ignore[no-any-return]

    master.evaluate = slow_evaluate
    client = raw_client(server.address, "solo")
    client.join()
    client.open()
    assert client.receive().start.round == 0
    for t in range(rounds):
        client.vote(t, seed=t)
        assert client.receive().decision.round == t
    assert client.receive().WhichOneof("kind") == "stop"
    client.send(pb.ClientMessage(goodbye=pb.Goodbye(model_digest=b"")))
    server.call(lambda: None)  # let the loop run
    done = server.running.coordinator.done
    deadline = time.monotonic() + 20
    while not done.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["round"] for r in records] == list(range(rounds))
    assert [r["round"] for r in records if "accuracy" in r] == [2, 5, 8]
