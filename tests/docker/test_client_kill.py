"""Fault injection mid-run: two client containers die, come back and rejoin.

- One is killed from outside (`container.kill()`, SIGKILL). Docker deliberately does not
  apply a restart policy to a container the user killed, so the test starts it again,
  as an operator or orchestrator would.
- The other crashes from inside (its signfed process gets SIGKILL); the compose restart
  policy (`on-failure`) brings it back on its own.

Both rejoin under the name kept in their identity file, hence with the same client id,
and the run ends with every replica equal to the server's model.
"""

from __future__ import annotations

from typing import Any

import pytest

CLIENTS = 4
ROUNDS = 5000  # ~5 ms a round: ample time for a container restart to land mid-run
KILL_AFTER_ROUND = 100
# Run inside a container: SIGKILL every signfed process but this one (the crash).
CRASH = (
    "import os, signal\n"
    "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
    "    cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
    "    if int(pid) not in (1, os.getpid()) and b'signfed' in cmd:\n"
    "        os.kill(int(pid), signal.SIGKILL)\n"
)


def _joins(container: Any) -> list[str]:
    """The '(name, batch B)' part of each 'joined as client I (name, batch B) at round R'."""
    lines = container.logs().decode().splitlines()
    return [line.split("joined as ")[1] for line in lines if "joined as client" in line]


@pytest.mark.slow
def test_killed_client_container_restarts_and_rejoins(stack: Any) -> None:
    s = stack(
        SIGNFED_CLIENTS=str(CLIENTS),
        SIGNFED_ROUNDS=str(ROUNDS),
        SIGNFED_BATCH_SIZES="16",
        SIGNFED_LR="0.01",
        SIGNFED_EVAL_EVERY="500",
    )
    s.up()
    s.wait_for_round(KILL_AFTER_ROUND, timeout_s=120)
    killed, crashed = s.containers("client")[:2]
    killed.kill()  # SIGKILL from outside: no Goodbye, the stream just breaks
    exit_code, output = crashed.exec_run(["python", "-c", CRASH])
    assert exit_code == 0, output
    killed.wait(timeout=30)
    killed.start()

    assert s.wait_server(timeout_s=600) == 0, s.logs("server")
    crashed.reload()
    assert crashed.attrs["RestartCount"] >= 1  # the restart policy brought it back
    for victim in (killed, crashed):
        joins = _joins(victim)
        assert len(joins) == 2, joins
        first, second = (j.rsplit(" at round ", 1) for j in joins)
        assert first[0] == second[0]  # same name, same client id, same batch
        assert int(second[1]) > KILL_AFTER_ROUND

    # The cohort shrank when the streams broke and was whole again before the end.
    counts = [r["clients"] for r in s.metrics()]
    assert min(counts[KILL_AFTER_ROUND:]) < CLIENTS
    assert counts[-1] == CLIENTS

    summary = s.summary()
    assert summary["rounds"] == ROUNDS and summary["error"] is None
    assert summary["replicas_identical"] is True
    assert summary["replica_digests"] == {str(i): summary["model_digest"] for i in range(CLIENTS)}
    for c in s.containers("client"):
        assert c.wait(timeout=60)["StatusCode"] == 0, c.logs().decode()
