"""How a run ended, as the server decides it: a plain enum, so the coordinator and the
CLI never name the protobuf enum; server/messages.py maps it onto the Stop message."""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    FINISHED = "finished"  # every round ran: the client's work is done
    INTERRUPTED = "interrupted"  # stopped (SIGTERM/SIGINT) after a checkpoint: --resume goes on
    FAILED = "failed"  # the run broke: retrying the same run would break it again
