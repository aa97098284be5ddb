import pytest

from common.config import PROTOCOL_VERSION
from server.errors import AlreadyExists, FailedPrecondition, ResourceExhausted, Unauthenticated
from server.membership import Membership


def _join(
    m: Membership,
    name: str = "",
    requested_id: int = -1,
    token: str = "",
    version: str = PROTOCOL_VERSION,
):  # type: ignore[no-untyped-def]
    return m.join(version=version, name=name, batch_size=4, token=token, requested_id=requested_id)


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


def test_version_and_token() -> None:
    m = Membership(capacity=3, tokens=("s3cret",))
    with pytest.raises(FailedPrecondition, match="signfed.v0"):
        _join(m, "a", token="s3cret", version="signfed.v0")
    with pytest.raises(Unauthenticated):
        _join(m, "a", token="wrong")
    assert _join(m, "a", token="s3cret").client_id == 0
