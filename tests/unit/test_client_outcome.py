"""How a client's run ends: Stop outcomes, which failures a rejoin cures, exit codes."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest

from client.config import ClientConfig
from client.identity import client_name
from client.outcome import (
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_REFUSED,
    EXIT_TEMPFAIL,
    Interrupted,
    RunFailed,
    ServerGone,
    StreamEnded,
    check_stop,
    gave_up,
    rejoin_reason,
)
from common.config import ConfigError
from common.proto import signfed_pb2 as pb

Code = grpc.StatusCode


class Failed(grpc.RpcError):
    """What a failed call raises: an RpcError with a code and details."""

    def __init__(self, code: grpc.StatusCode, details: str = "why") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_exit_codes_are_distinct_and_tempfail_is_sysexits_75() -> None:
    codes = [EXIT_FINISHED, EXIT_FAILED, EXIT_REFUSED, EXIT_TEMPFAIL]
    assert codes == [0, 1, 2, 75]


def test_only_a_finished_stop_ends_the_run() -> None:
    check_stop(pb.Stop(reason="finished 5 rounds", outcome=pb.FINISHED))
    with pytest.raises(RunFailed, match="round 3 failed"):
        check_stop(pb.Stop(reason="round 3 failed: boom", outcome=pb.FAILED))
    for outcome in (pb.INTERRUPTED, pb.OUTCOME_UNSPECIFIED):  # an old server: interrupted
        with pytest.raises(Interrupted, match="resume with"):
            check_stop(pb.Stop(reason="interrupted; resume with --resume x", outcome=outcome))


@pytest.mark.parametrize("joined", [False, True])
def test_a_lost_server_or_replaced_stream_is_rejoined_in_any_phase(joined: bool) -> None:
    for exc in (Failed(Code.UNAVAILABLE), Failed(Code.CANCELLED), StreamEnded("closed")):
        rejoin = rejoin_reason(exc, joined=joined)
        assert rejoin is not None and rejoin.level == logging.INFO
        assert "lost the server" in rejoin.why  # test_keepalive reads this in the log
    for exc in (Failed(Code.ABORTED, "name in use"), Interrupted("stopped the run")):
        rejoin = rejoin_reason(exc, joined=joined)
        assert rejoin is not None and rejoin.level == logging.WARNING


def test_failed_precondition_is_a_replaced_session_only_after_a_join() -> None:
    replaced = Failed(Code.FAILED_PRECONDITION, "client 1 has not joined")
    rejoin = rejoin_reason(replaced, joined=True)
    assert rejoin is not None and rejoin.level == logging.WARNING
    assert "client 1 has not joined" in rejoin.why
    # On Join itself (a protocol version the server does not speak) it is final.
    assert rejoin_reason(Failed(Code.FAILED_PRECONDITION, "protocol"), joined=False) is None


@pytest.mark.parametrize(
    "exc",
    [
        Failed(Code.UNAUTHENTICATED),
        Failed(Code.INVALID_ARGUMENT),
        Failed(Code.ALREADY_EXISTS),
        Failed(Code.RESOURCE_EXHAUSTED),
        ServerGone("gave up"),
        RunFailed("boom"),
        ValueError("a bug"),
    ],
)
def test_refusals_and_final_endings_are_not_retried(exc: BaseException) -> None:
    assert rejoin_reason(exc, joined=True) is None


def test_the_give_up_line_says_why_or_what_to_check() -> None:
    config = ClientConfig(server="10.0.0.1:7", connect_timeout_s=3)
    assert gave_up(config, "") == (
        "no parameter server answered at 10.0.0.1:7 within 3s (check --server and that it runs)"
    )
    assert gave_up(config, "the server stopped the run: x") == (
        "gave up on the parameter server at 10.0.0.1:7 after 3s: the server stopped the run: x"
    )


def test_an_empty_identity_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "identity"
    path.write_text("")
    with pytest.raises(ConfigError, match="is empty"):  # `signfed client` exits 2, one line
        client_name("", str(path))
