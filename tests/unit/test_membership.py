import pytest

from common.config import PROTOCOL_VERSION
from server.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
)
from server.membership import Membership


def _join(
    m: Membership,
    name: str = "",
    requested_id: int = -1,
    version: str = PROTOCOL_VERSION,
):  # type: ignore[no-untyped-def]
    return m.join(version=version, name=name, batch_size=4, requested_id=requested_id)


def test_rejoin_by_name_keeps_the_id_and_replaces_the_session() -> None:
    m = Membership(capacity=3)
    first = _join(m, "a")
    old_session = first.session
    again = _join(m, "a")
    assert again.client_id == first.client_id == 0
    with pytest.raises(FailedPrecondition, match="call Join first"):
        m.verify(0, old_session)
    assert m.verify(0, again.session).name == "a"


def test_ids_and_capacity() -> None:
    m = Membership(capacity=2)
    assert _join(m, "a", requested_id=1).client_id == 1
    assert _join(m, "b").client_id == 0
    with pytest.raises(ResourceExhausted, match="cohort full"):
        _join(m, "c")


def test_requested_id_taken_by_another_name() -> None:
    m = Membership(capacity=3)
    _join(m, "a", requested_id=0)
    with pytest.raises(AlreadyExists, match="belongs to 'a'"):
        _join(m, "b", requested_id=0)


def test_version() -> None:
    # Tokens are not membership's business: server/auth.py checks them before Join runs.
    m = Membership(capacity=3)
    with pytest.raises(FailedPrecondition, match="signfed.v0"):
        _join(m, "a", version="signfed.v0")
    assert _join(m, "a").client_id == 0


def test_batch_size_zero_takes_the_plan_for_the_id_and_an_explicit_size_wins() -> None:
    plan = (4, 4, 904)
    m = Membership(capacity=3, batch_plan=lambda i: plan[i])
    join = m.join  # the helper above always sends 4
    a = join(version=PROTOCOL_VERSION, name="a", batch_size=0, requested_id=2)
    b = join(version=PROTOCOL_VERSION, name="b", batch_size=0, requested_id=-1)
    c = join(version=PROTOCOL_VERSION, name="c", batch_size=32, requested_id=-1)
    assert [(a.client_id, a.batch_size), (b.client_id, b.batch_size)] == [(2, 904), (0, 4)]
    assert (c.client_id, c.batch_size) == (1, 32)
    again = join(version=PROTOCOL_VERSION, name="c", batch_size=0, requested_id=-1)
    assert again.batch_size == 4  # a rejoin without a size goes back to the plan
    with pytest.raises(FailedPrecondition, match=">= 0"):
        join(version=PROTOCOL_VERSION, name="a", batch_size=-1, requested_id=-1)


def test_without_a_plan_clients_that_do_not_choose_get_64() -> None:
    m = Membership(capacity=1)
    member = m.join(version=PROTOCOL_VERSION, name="a", batch_size=0, requested_id=-1)
    assert member.batch_size == 64


class Clock:
    """A settable clock, so the attach TTL is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_join_that_never_attaches_gives_up_its_place_when_it_is_wanted() -> None:
    clock = Clock()
    m = Membership(capacity=2, attach_ttl_s=30.0, clock=clock)
    honest = _join(m, "honest")
    m.mark_attached(honest)
    squatter = _join(m, "squatter")
    clock.now += 29.0
    with pytest.raises(ResourceExhausted, match="cohort full"):
        _join(m, "late")  # within the TTL the squatter still holds its place
    clock.now += 1.0
    late = _join(m, "late")
    assert late.client_id == squatter.client_id == 1
    with pytest.raises(FailedPrecondition, match="attached no stream within 30s"):
        m.verify(1, squatter.session)
    # Attached members keep their ids however long they are away; names get them back.
    m.mark_attached(late)
    clock.now += 1000.0
    with pytest.raises(ResourceExhausted):
        _join(m, "another")
    assert _join(m, "honest").client_id == 0


def test_an_expired_squatter_on_a_requested_id_gives_it_up() -> None:
    clock = Clock()
    m = Membership(capacity=3, attach_ttl_s=30.0, clock=clock)
    _join(m, "squatter", requested_id=2)
    with pytest.raises(AlreadyExists, match="belongs to 'squatter'"):
        _join(m, "owner", requested_id=2)
    clock.now += 30.0
    assert _join(m, "owner", requested_id=2).client_id == 2


def test_a_rejoin_refreshes_the_ttl_and_places_are_not_freed_while_not_wanted() -> None:
    clock = Clock()
    m = Membership(capacity=2, attach_ttl_s=30.0, clock=clock)
    _join(m, "slow")
    clock.now += 100.0  # expired, yet nobody wanted its place: still a member
    assert _join(m, "slow").client_id == 0  # a rejoin: the TTL starts again
    _join(m, "b")
    clock.now += 29.0
    with pytest.raises(ResourceExhausted):
        _join(m, "c")


def test_a_join_under_a_connected_name_is_aborted_unless_it_proves_the_name() -> None:
    connected: set[int] = set()
    m = Membership(capacity=2, is_connected=connected.__contains__)
    alice = _join(m, "alice")
    session = alice.session
    connected.add(alice.client_id)
    with pytest.raises(Aborted, match="name 'alice' is in use by a connected client"):
        _join(m, "alice")
    assert m.verify(0, session) is alice  # the refused Join replaced nothing
    proven = m.join(
        version=PROTOCOL_VERSION, name="alice", batch_size=4, requested_id=-1, proven="alice"
    )
    assert proven.client_id == 0 and proven.session != session  # the newest Join wins
    connected.clear()  # alice's stream ended: her name is free again
    assert _join(m, "alice").client_id == 0


def test_a_session_works_only_with_the_credential_its_join_proved() -> None:
    m = Membership(capacity=3)
    alice = m.join(version=PROTOCOL_VERSION, name="alice", batch_size=4, proven="alice")
    anon = _join(m, "anon")
    assert m.verify(0, alice.session, "alice") is alice
    assert m.verify(1, anon.session) is anon
    with pytest.raises(PermissionDenied, match="came from a Join as 'alice'"):
        m.verify(0, alice.session, "bob")
    with pytest.raises(PermissionDenied, match="authenticated without a name-bound token"):
        m.verify(0, alice.session)
    with pytest.raises(PermissionDenied, match="authenticated as 'bob'"):
        m.verify(1, anon.session, "bob")
    with pytest.raises(FailedPrecondition):  # a wrong session says nothing about names
        m.verify(0, b"x" * 16, "bob")


@pytest.mark.parametrize("requested_id", [-2, -(2**31), 3, 2**31 - 1])
def test_requested_ids_other_than_minus_one_outside_the_cohort_are_invalid(
    requested_id: int,
) -> None:
    m = Membership(capacity=3)
    with pytest.raises(InvalidArgument, match=f"client id {requested_id} is outside"):
        _join(m, "a", requested_id=requested_id)


def test_an_unset_requested_id_means_any_free_id() -> None:
    m = Membership(capacity=3)
    _join(m, "a", requested_id=0)
    unset = m.join(version=PROTOCOL_VERSION, name="b", batch_size=4)
    assert unset.client_id == 1  # not a clash with id 0
    explicit = m.join(version=PROTOCOL_VERSION, name="c", batch_size=4, requested_id=None)
    assert explicit.client_id == 2


@pytest.mark.parametrize(
    "name,allowed",
    [
        ("a" * 64, True),
        ("host-1.lab_a", True),
        ("", True),  # no name: the server names it
        ("a" * 65, False),
        ("caf\u00e9", False),
        ("two words", False),
        ("alice:x", False),
        ("tab\t", False),
    ],
)
def test_names_are_1_to_64_safe_ascii_characters(name: str, allowed: bool) -> None:
    m = Membership(capacity=1)
    if allowed:
        assert _join(m, name).name == (name or "client-0")
    else:
        with pytest.raises(InvalidArgument, match=r"1\.\.64 characters of A-Z a-z 0-9 \. _ -"):
            _join(m, name)
        assert _join(m, "ok").client_id == 0  # the refused Join took no place
