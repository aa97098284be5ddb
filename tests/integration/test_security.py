"""TLS, mutual TLS and tokens against an in-process server on 127.0.0.1 port 0.

Rejections are asserted by status code, and by what did not happen: a call turned away
by the token check never reaches membership, so the next good Join still gets id 0.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from client.config import ClientConfig
from client.session import ClientSession
from common.config import PROTOCOL_VERSION
from common.proto import signfed_pb2 as pb
from common.proto import signfed_pb2_grpc as pb_grpc
from common.tls import open_channel
from common.tokens import call_metadata, client_token
from signfed.status import status
from tests.certs import make_certs

SECRET = b"integration-test-secret-0123456789"
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certs(tmp_path_factory.mktemp("tls") / "certs")


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another CA with its own pairs: nobody in these tests trusts it."""
    return make_certs(tmp_path_factory.mktemp("tls") / "other")


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "token-secret"
    path.write_bytes(SECRET + b"\n")
    return path


def tls_server(certs: Path, mutual: bool = False) -> dict[str, str]:
    settings = {"tls_cert": str(certs / "server.pem"), "tls_key": str(certs / "server.key")}
    if mutual:
        settings["tls_client_ca"] = str(certs / "ca.pem")
    return settings


def tls_client(certs: Path, ca: Path | None = None, pair: bool = False) -> dict[str, str]:
    """Client TLS settings trusting `ca` (default: certs' CA), with certs' client pair."""
    settings = {"ca": str((ca or certs) / "ca.pem")}
    if pair:
        settings |= {"cert": str(certs / "client.pem"), "key": str(certs / "client.key")}
    return settings


def code_of(call: Callable[[], Any]) -> grpc.StatusCode:
    """The status code `call` ends with (OK when it returns)."""
    try:
        result = call()
        if not isinstance(result, pb.JoinReply | pb.StatusReply):
            list(result)  # a response stream: read it to its end
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def join_request(name: str) -> pb.JoinRequest:
    return pb.JoinRequest(protocol_version=PROTOCOL_VERSION, client_name=name, batch_size=4)


def test_every_call_but_status_needs_a_listed_token(start_server: Any) -> None:
    server = start_server(server={"tokens": ("good-token",)})
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ParameterServerStub(channel)
        bad = call_metadata("bad-token", "mallory")
        assert code_of(lambda: stub.Join(join_request("mallory"), timeout=10)) == UNAUTHENTICATED
        assert (
            code_of(lambda: stub.Join(join_request("mallory"), metadata=bad, timeout=10))
            == UNAUTHENTICATED
        )
        # Without the token check first, these would fail FAILED_PRECONDITION (no session).
        fetch = pb.FetchModelRequest(client_id=0, session=b"x")
        assert code_of(lambda: stub.FetchModel(fetch, metadata=bad, timeout=10)) == UNAUTHENTICATED
        attach = pb.ClientMessage(attach=pb.Attach(client_id=0, session=b"x"))
        assert code_of(lambda: stub.Train(iter([attach]), metadata=bad, timeout=10)) == (
            UNAUTHENTICATED
        )
        try:
            stub.Join(join_request("mallory"), metadata=bad, timeout=10)
        except grpc.RpcError as exc:
            assert "unknown token" in exc.details()  # type: ignore[attr-defined]
        # Healthchecks need no credential.
        assert stub.Status(pb.StatusRequest(), timeout=10).state == "waiting"
        good = call_metadata("good-token", "alice")
        reply = stub.Join(join_request("alice"), metadata=good, timeout=10)
        assert reply.client_id == 0  # the rejected Joins registered nobody
        chunks = list(
            stub.FetchModel(
                pb.FetchModelRequest(client_id=0, session=reply.session), metadata=good, timeout=10
            )
        )
        assert chunks[-1].model_digest == reply.model_digest


def test_a_secret_token_is_good_for_its_own_name_only(start_server: Any, secret_file: Path) -> None:
    server = start_server(server={"token_secret_file": str(secret_file)})
    alice = client_token(SECRET, "alice")
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ParameterServerStub(channel)

        def join(name: str, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
            return code_of(lambda: stub.Join(join_request(name), metadata=metadata, timeout=10))

        assert join("bob", call_metadata(alice, "bob")) == UNAUTHENTICATED
        # Authenticated as alice, but joining as bob: Join refuses.
        assert join("bob", call_metadata(alice, "alice")) == UNAUTHENTICATED
        assert join("alice", call_metadata(client_token(b"x" * 32, "alice"), "alice")) == (
            UNAUTHENTICATED
        )
        reply = stub.Join(join_request("alice"), metadata=call_metadata(alice, "alice"), timeout=10)
        assert (reply.client_id, reply.settings.dataset) == (0, "digits")


def test_tls_server_refuses_clients_that_do_not_trust_it(
    start_server: Any, certs: Path, other_certs: Path
) -> None:
    server = start_server(server=tls_server(certs))
    address = server.address

    def status_code(channel: grpc.Channel) -> grpc.StatusCode:
        with channel:
            stub = pb_grpc.ParameterServerStub(channel)
            return code_of(lambda: stub.Status(pb.StatusRequest(), timeout=10))

    assert status_code(grpc.insecure_channel(address)) == UNAVAILABLE  # plain text to TLS
    untrusting = open_channel(address, (), **tls_client(certs, ca=other_certs))
    assert status_code(untrusting) == UNAVAILABLE
    assert status_code(open_channel(address, (), **tls_client(certs))) == grpc.StatusCode.OK
    # The name checked is the certificate's: `server` is among its names, this one is not.
    renamed = open_channel(address, (), server_name="server", **tls_client(certs))
    assert status_code(renamed) == grpc.StatusCode.OK
    misnamed = open_channel(address, (), server_name="elsewhere.example", **tls_client(certs))
    assert status_code(misnamed) == UNAVAILABLE
    # `signfed status` (the compose healthcheck) speaks TLS too.
    assert status(address, 10, tls_ca=str(certs / "ca.pem")).rounds == 5


def test_mutual_tls_refuses_clients_without_a_trusted_certificate(
    start_server: Any, certs: Path, other_certs: Path
) -> None:
    server = start_server(server=tls_server(certs, mutual=True))

    def status_code(**tls: str) -> grpc.StatusCode:
        with open_channel(server.address, (), **tls) as channel:
            stub = pb_grpc.ParameterServerStub(channel)
            return code_of(lambda: stub.Status(pb.StatusRequest(), timeout=10))

    assert status_code(**tls_client(certs)) == UNAVAILABLE  # no client certificate
    stranger = tls_client(other_certs, ca=certs, pair=True)  # a pair from the other CA
    assert status_code(**stranger) == UNAVAILABLE
    assert status_code(**tls_client(certs, pair=True)) == grpc.StatusCode.OK
    reply = status(
        server.address,
        10,
        tls_ca=str(certs / "ca.pem"),
        tls_cert=str(certs / "client.pem"),
        tls_key=str(certs / "client.key"),
    )
    assert reply.state == "waiting"


def test_clients_train_to_the_end_over_mutual_tls_with_tokens(
    start_server: Any, certs: Path, secret_file: Path
) -> None:
    rounds = 5
    server = start_server(
        rounds=rounds,
        num_clients=2,
        server={**tls_server(certs, mutual=True), "token_secret_file": str(secret_file)},
    )

    def config(name: str, client_id: int, token: str) -> ClientConfig:
        return ClientConfig(
            server=server.address,
            name=name,
            client_id=client_id,
            batch_size=16,
            token=token,
            tls_ca=str(certs / "ca.pem"),
            tls_cert=str(certs / "client.pem"),
            tls_key=str(certs / "client.key"),
            connect_timeout_s=60,
        )

    # A client holding another name's token is turned away at once, not retried. (In a
    # thread: were it admitted, it would wait for a second client and never return.)
    impostor = ClientSession(config("client-1", 1, client_token(SECRET, "client-0")))
    pool = ThreadPoolExecutor(1)
    with pytest.raises(grpc.RpcError) as refused:
        pool.submit(impostor.run).result(timeout=30)
    pool.shutdown(wait=False)
    assert refused.value.code() == UNAUTHENTICATED  # type: ignore[attr-defined]

    sessions = [
        ClientSession(config(f"client-{i}", i, client_token(SECRET, f"client-{i}")))
        for i in range(2)
    ]
    with ThreadPoolExecutor(2) as pool:
        results = [f.result(timeout=180) for f in [pool.submit(s.run) for s in sessions]]

    coordinator = server.running.coordinator
    assert server.call(lambda: coordinator.done.is_set())
    assert [r.rounds_done for r in results] == [rounds, rounds]
    master_digest = server.call(lambda: coordinator.master.digest)
    assert [r.model_digest for r in results] == [master_digest, master_digest]
    assert server.call(lambda: coordinator.replicas_identical()) is True


ABORTED = grpc.StatusCode.ABORTED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


def test_a_name_token_entry_joins_its_own_name_only(start_server: Any) -> None:
    server = start_server(server={"tokens": ("alice:tok-a", "shared")})
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ParameterServerStub(channel)

        def join(name: str, token: str, sent_name: str | None = None) -> grpc.StatusCode:
            metadata = call_metadata(token, name if sent_name is None else sent_name)
            return code_of(lambda: stub.Join(join_request(name), metadata=metadata, timeout=10))

        assert join("mallory", "tok-a") == UNAUTHENTICATED  # the interceptor refuses
        assert join("mallory", "tok-a", sent_name="alice") == UNAUTHENTICATED  # Join does
        assert join("alice", "shared") == UNAUTHENTICATED  # a bound name needs its token
        assert join("alice", "alice:tok-a") == UNAUTHENTICATED  # the entry is no token
        reply = stub.Join(join_request("alice"), metadata=call_metadata("tok-a", "alice"))
        assert reply.client_id == 0  # the refused Joins took no place
        assert join("bob", "shared") == grpc.StatusCode.OK  # bare: any unbound name


def _attach(reply: pb.JoinReply) -> pb.ClientMessage:
    return pb.ClientMessage(attach=pb.Attach(client_id=reply.client_id, session=reply.session))


def _open_train(
    stub: pb_grpc.ParameterServerStub, reply: pb.JoinReply, metadata: Any
) -> tuple[Any, queue.Queue[pb.ClientMessage | None]]:
    """A Train stream that stays open (a half-close would end it) until None is put."""
    outbox: queue.Queue[pb.ClientMessage | None] = queue.Queue()
    outbox.put(_attach(reply))
    return stub.Train(iter(outbox.get, None), metadata=metadata, timeout=30), outbox


def test_only_the_names_own_token_replaces_a_connected_client(start_server: Any) -> None:
    server = start_server(server={"tokens": ("alice:tok-a", "shared")})
    alice_md, shared_md = call_metadata("tok-a", "alice"), call_metadata("shared", "alice")
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ParameterServerStub(channel)
        first = stub.Join(join_request("alice"), metadata=alice_md, timeout=10)
        old, old_outbox = _open_train(stub, first, alice_md)
        coordinator = server.running.coordinator
        deadline = time.monotonic() + 10
        while not server.call(lambda: 0 in coordinator.pending) and time.monotonic() < deadline:
            time.sleep(0.02)  # the Attach is on its way
        # A bare token may not take a connected name (nor any bound one).
        assert code_of(lambda: stub.Join(join_request("alice"), metadata=shared_md)) == (
            UNAUTHENTICATED
        )
        # alice's own token may: a restarted client whose old connection is half-open.
        second = stub.Join(join_request("alice"), metadata=alice_md, timeout=10)
        assert second.client_id == 0 and second.session != first.session
        new, new_outbox = _open_train(stub, second, alice_md)
        try:
            assert code_of(lambda: old) == ABORTED  # replaced by the newer Join
        finally:
            new.cancel()
            old_outbox.put(None)
            new_outbox.put(None)


def test_a_session_is_good_only_with_the_token_of_its_join(
    start_server: Any, secret_file: Path
) -> None:
    """A captured session of alice's, with bob's valid token, counts nothing as alice."""
    server = start_server(server={"token_secret_file": str(secret_file)})
    alice_md = call_metadata(client_token(SECRET, "alice"), "alice")
    bob_md = call_metadata(client_token(SECRET, "bob"), "bob")
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ParameterServerStub(channel)
        alice = stub.Join(join_request("alice"), metadata=alice_md, timeout=10)
        stub.Join(join_request("bob"), metadata=bob_md, timeout=10)
        fetch = pb.FetchModelRequest(client_id=alice.client_id, session=alice.session)
        assert code_of(lambda: stub.FetchModel(fetch, metadata=bob_md, timeout=10)) == (
            PERMISSION_DENIED
        )
        stolen = stub.Train(iter([_attach(alice)]), metadata=bob_md, timeout=10)
        assert code_of(lambda: stolen) == PERMISSION_DENIED
        assert server.call(lambda: dict(server.running.coordinator.pending)) == {}
        assert code_of(lambda: stub.FetchModel(fetch, metadata=alice_md, timeout=10)) == (
            grpc.StatusCode.OK
        )


def test_a_session_of_a_bound_join_is_refused_with_a_bare_token(start_server: Any) -> None:
    server = start_server(server={"tokens": ("alice:tok-a", "shared")})
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.ParameterServerStub(channel)
        alice_md = call_metadata("tok-a", "alice")
        alice = stub.Join(join_request("alice"), metadata=alice_md, timeout=10)
        fetch = pb.FetchModelRequest(client_id=alice.client_id, session=alice.session)
        shared_md = call_metadata("shared", "mallory")
        assert code_of(lambda: stub.FetchModel(fetch, metadata=shared_md, timeout=10)) == (
            PERMISSION_DENIED
        )
        assert code_of(lambda: stub.FetchModel(fetch, metadata=alice_md, timeout=10)) == (
            grpc.StatusCode.OK
        )
