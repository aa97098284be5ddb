"""The coordinator's phase machine (server/phase.py): its table, and that it is enforced."""

from __future__ import annotations

import pytest

from server.phase import TRANSITIONS, Phase, PhaseMachine


@pytest.mark.parametrize(
    "path",
    [
        # A run: round 0 opens, closes, a checkpoint, the next round, the last close.
        [Phase.OPEN, Phase.CLOSING, Phase.CHECKPOINTING, Phase.OPEN, Phase.CLOSING, Phase.OPEN,
         Phase.DONE],
        # SIGTERM mid-close: the close finishes SUSPENDED, then the run is done.
        [Phase.OPEN, Phase.CLOSING, Phase.SUSPENDED, Phase.DONE],
        [Phase.OPEN, Phase.CLOSING, Phase.CHECKPOINTING, Phase.SUSPENDED, Phase.DONE],
        [Phase.SUSPENDED, Phase.DONE],  # SIGTERM before num_clients attached
        [Phase.DONE],  # a failure before anyone attached
        [Phase.OPEN, Phase.CLOSING, Phase.DONE],  # the close failed
    ],
)  # fmt: skip
def test_the_moves_the_coordinator_makes_are_legal(path: list[Phase]) -> None:
    machine = PhaseMachine()
    assert machine.phase is Phase.WAITING
    for phase in path:
        machine.move(phase)
        assert machine.phase is phase


@pytest.mark.parametrize(
    "start, to",
    [
        ([Phase.OPEN, Phase.CLOSING, Phase.OPEN, Phase.DONE], Phase.OPEN),  # DONE -> OPEN
        ([Phase.OPEN, Phase.SUSPENDED], Phase.OPEN),  # no round reopens after SIGTERM
        ([Phase.OPEN], Phase.CHECKPOINTING),  # a checkpoint only at a boundary
        ([], Phase.CLOSING),  # WAITING -> CLOSING: no round to close
        ([Phase.OPEN], Phase.OPEN),  # no silent self-moves
    ],
)
def test_an_illegal_move_is_loud_and_names_both_phases(start: list[Phase], to: Phase) -> None:
    machine = PhaseMachine()
    for phase in start:
        machine.move(phase)
    before = machine.phase
    with pytest.raises(RuntimeError, match=f"{before.name} -> {to.name}"):
        machine.move(to)
    assert machine.phase is before  # refused: nothing changed


def test_the_table_covers_every_phase_and_done_is_final() -> None:
    assert set(TRANSITIONS) == set(Phase)
    assert TRANSITIONS[Phase.DONE] == frozenset()
    assert all(Phase.DONE in TRANSITIONS[p] for p in Phase if p is not Phase.DONE)
    assert TRANSITIONS[Phase.SUSPENDED] == {Phase.DONE}
