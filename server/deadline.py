"""How long a round waits for its last votes: a pure policy.

Without a deadline one member that stays connected and never votes (or sends half a
vote) stalls every round, and keepalive cannot see it: its connection is healthy. So
the default is adaptive, measured on the round itself: once a quorum has voted, after
t_q seconds, the round may last DEADLINE_FACTOR * t_q in all, and never less than
DEADLINE_FLOOR_S. A slow model or a loaded machine slows the quorum too, so the
deadline grows with it; an honest straggler within 10x of the typical client still
counts. A member erased MAX_MISSED_DEADLINES rounds in a row is let go (its client
rejoins when it is ready), so a staller costs a few floors, not the run.

The floor is generous on purpose: a deadline that fires on an honest but busy client
turns it into an erasure, and the run no longer matches the simulation bit for bit.
"""

from __future__ import annotations

DEADLINE_FLOOR_S = 10.0  # a round never closes on its quorum sooner than this
DEADLINE_FACTOR = 10.0  # x the time the quorum took
MAX_MISSED_DEADLINES = 3  # a member erased this many rounds in a row is let go


class RoundDeadline:
    """When the open round closes without its missing votes.

    fixed_s: None = adaptive (the default); 0 = never (wait for every vote); > 0 = that
    many seconds after the round opened (the close still needs a quorum).
    """

    def __init__(self, fixed_s: float | None) -> None:
        self.fixed_s = fixed_s

    def from_open(self) -> float | None:
        """Seconds from the round's opening to its deadline, when fixed; else None."""
        return self.fixed_s or None

    def from_quorum(self, quorum_after_s: float) -> float | None:
        """Adaptive: seconds from the moment the quorum was reached to the deadline."""
        if self.fixed_s is not None:
            return None
        total = max(DEADLINE_FLOOR_S, DEADLINE_FACTOR * quorum_after_s)
        return total - quorum_after_s

    def describe(self) -> str:
        """For logs and the server's start-up line."""
        if self.fixed_s is None:
            return (
                f"adaptive round deadline ({DEADLINE_FACTOR:g}x the quorum's time, "
                f">= {DEADLINE_FLOOR_S:g}s)"
            )
        return f"round deadline {self.fixed_s:g}s" if self.fixed_s else "no round deadline"
