import pytest

from common.config import PROTOCOL_VERSION
from server.errors import AlreadyExists, FailedPrecondition, ResourceExhausted
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
