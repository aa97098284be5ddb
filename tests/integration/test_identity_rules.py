"""Who may hold a name and a place, over the wire, without tokens (with tokens:
test_security.py). Each test replays an attack of a hostile client and asserts the
status code it now gets, and that the honest client it aimed at is unharmed."""

from __future__ import annotations

import functools
import time
from typing import Any

import grpc
import pytest

import server.app
from common.config import PROTOCOL_VERSION
from common.proto import signfed_pb2 as pb
from server.membership import Membership

Code = grpc.StatusCode
NAME_RULE = "1..64 characters of A-Z a-z 0-9 . _ -"


def join_code(stub: Any, request: pb.JoinRequest) -> tuple[grpc.StatusCode, str]:
    """(status code, details) of a Join."""
    try:
        stub.Join(request, timeout=10)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return Code.OK, ""


def request(name: str, **fields: Any) -> pb.JoinRequest:
    return pb.JoinRequest(protocol_version=PROTOCOL_VERSION, client_name=name, **fields)


def test_a_join_that_never_attaches_loses_its_place_to_an_honest_client(
    start_server: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl = 0.5
    monkeypatch.setattr(server.app, "Membership", functools.partial(Membership, attach_ttl_s=ttl))
    handle = start_server(num_clients=1)
    squatter, honest = raw_client(handle.address, "squatter"), raw_client(handle.address, "honest")
    squatter.join()  # and never attaches
    assert join_code(honest.stub, request("honest"))[0] == Code.RESOURCE_EXHAUSTED
    time.sleep(ttl + 0.1)
    assert honest.join().client_id == squatter.reply.client_id == 0
    honest.open()
    assert honest.receive().start.round == 0  # alone in a cohort of one: round 0 opens
    squatter.open()  # its session went with its place
    assert squatter.status_of_stream() == Code.FAILED_PRECONDITION


def test_a_join_under_a_connected_clients_name_is_aborted(
    start_server: Any, raw_client: Any
) -> None:
    handle = start_server(num_clients=2)
    alice = raw_client(handle.address, "alice")
    alice.join()
    alice.open()  # waiting for a second client: pending, with a live stream
    # open() only queues the Attach: wait until the server holds the stream, or on a
    # loaded machine the impostor's Join can come first and be a plain rejoin.
    coordinator = handle.running.coordinator
    deadline = time.monotonic() + 10
    while not handle.call(lambda: coordinator.holds_stream(alice.reply.client_id)):
        assert time.monotonic() < deadline, "alice's stream never attached"
        time.sleep(0.01)
    impostor = raw_client(handle.address, "alice")
    code, details = join_code(impostor.stub, request("alice", batch_size=4))
    assert code == Code.ABORTED
    assert "name 'alice' is in use by a connected client" in details
    bob = raw_client(handle.address, "bob")
    bob.join()
    bob.open()
    # alice's stream and session survived the attempt: both enter round 0.
    assert alice.receive().start.round == 0 and bob.receive().start.round == 0


@pytest.mark.parametrize("requested_id", [-2, -(2**31), 2])
def test_a_requested_id_outside_the_cohort_and_not_minus_one_is_invalid(
    start_server: Any, raw_client: Any, requested_id: int
) -> None:
    handle = start_server(num_clients=2)
    stub = raw_client(handle.address, "unused").stub
    code, details = join_code(stub, request("a", requested_id=requested_id))
    assert code == Code.INVALID_ARGUMENT and f"client id {requested_id}" in details
    assert join_code(stub, request("a", requested_id=-1)) == (Code.OK, "")


def test_an_unset_requested_id_is_any_free_id_not_zero(start_server: Any, raw_client: Any) -> None:
    handle = start_server(num_clients=2)
    stub = raw_client(handle.address, "unused").stub
    assert stub.Join(request("first", requested_id=0), timeout=10).client_id == 0
    unset = request("second")
    assert not unset.HasField("requested_id")
    assert stub.Join(unset, timeout=10).client_id == 1


@pytest.mark.parametrize(
    "name", ["caf\u00e9", "\u30af\u30e9\u30a4\u30a2\u30f3\u30c8", "a" * 65, "two words", "a:b"]
)
def test_a_name_outside_the_rule_is_invalid_argument(
    start_server: Any, raw_client: Any, name: str
) -> None:
    handle = start_server(num_clients=1)
    stub = raw_client(handle.address, "unused").stub
    code, details = join_code(stub, request(name))
    assert code == Code.INVALID_ARGUMENT and NAME_RULE in details
    assert stub.Join(request("a" * 64), timeout=10).client_id == 0  # no place was taken
