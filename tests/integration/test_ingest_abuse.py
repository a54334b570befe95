"""
Abuse of the ingest endpoint over real loopback TCP: each bad peer is dealt
with (message rejected or connection closed) while the service keeps
serving other connections.
"""

from __future__ import annotations

import os

import pytest
import pytest_twisted
from twisted.internet import defer, endpoints, protocol, reactor

from dhcpsuite.ingest import sp
from dhcpsuite.leases.registry import FAMILY_V4
from tests.support.ingest import v4_message, wait_for, write
from tests.support.environment import require_programs
from tests.unit.test_ingest_layout import build

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Peer(protocol.Protocol):
    """
    A raw TCP peer: sends what it is told, records what comes back and when
    the server closes.
    """

    def __init__(self) -> None:
        self.received = b""
        self.closed = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason=None) -> None:
        self.closed.callback(self.received)

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    @defer.inlineCallbacks
    def close(self):
        if not self.closed.called:
            self.transport.loseConnection()
        yield self.closed


@defer.inlineCallbacks
def connect(ingest) -> Peer:
    peer = yield endpoints.connectProtocol(
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", ingest.port, timeout=5), Peer())
    return peer


def bounded(d: defer.Deferred, seconds: float) -> defer.Deferred:
    return d.addTimeout(seconds, reactor)


@defer.inlineCallbacks
def assert_still_serving(ingest, ifname: str = "good0", address: str = "10.0.0.99"):
    """
    A fresh, well-behaved pusher still gets its lease recorded.
    """
    peer = yield connect(ingest)
    peer.send(sp.PUSH_HEADER + sp.frame(v4_message(ifname, address)))
    yield wait_for(lambda: ingest.registry.lease(ifname, FAMILY_V4) is not None
                   and str(ingest.registry.lease(ifname, FAMILY_V4).address) == address, 5, "a good message")
    yield peer.close()


@defer.inlineCallbacks
def expect_closed(ingest, payload: bytes, counter: str, seconds: float = 3.0):
    peer = yield connect(ingest)
    peer.send(payload)
    received = yield bounded(peer.closed, seconds)
    # We said our header and nothing else, then closed.
    assert received == sp.PULL_HEADER
    assert ingest.counters[counter] == 1, dict(ingest.counters)


@pytest_twisted.inlineCallbacks
def test_bad_messages_rejected_connection_kept(ingest_factory):
    """
    Wrong size, unknown version, bad address, unmanaged interface: each
    message is rejected and counted, the same connection carries on.
    """
    ingest = yield ingest_factory(interfaces=("good0", "erouter0"))
    bad_version = bytearray(v4_message("erouter0", "10.0.0.1"))
    bad_version[32:36] = (7).to_bytes(4, "little")
    peer = yield connect(ingest)
    peer.send(sp.PUSH_HEADER + b"".join(sp.frame(m) for m in (
        v4_message("erouter0", "10.0.0.1")[:-1],          # 1719 bytes
        bytes(1000), b"",                                  # unknown sizes, an empty message
        bytes(bad_version),
        build("x86_64", 0, "erouter0", {"address": "10.0.0.256"}),
        v4_message("unmanaged9", "10.0.0.3"),
        v4_message("erouter0", "10.0.0.4"),                # and then a good one
    )))
    yield wait_for(lambda: ingest.registry.lease("erouter0", FAMILY_V4), 5, "the good message")
    counters = ingest.counters
    assert counters["rejected.unknown-size"] == 3
    assert counters["rejected.unknown-version"] == 1
    assert counters["rejected.bad-address"] == 1
    assert counters["rejected.unmanaged-interface"] == 1
    assert counters["connections_open"] == 1
    assert str(ingest.registry.lease("erouter0", FAMILY_V4).address) == "10.0.0.4"
    yield assert_still_serving(ingest)
    yield peer.close()
    assert peer.received == sp.PULL_HEADER


@pytest_twisted.inlineCallbacks
def test_wrong_headers_closed(ingest_factory):
    ingest = yield ingest_factory(interfaces=("good0",))
    yield expect_closed(ingest, sp.header(0x0020) + sp.frame(b"x"), "closed.wrong-protocol")  # PUB
    yield expect_closed(ingest, sp.PUSH_HEADER[:6] + b"\x00\x01", "closed.bad-reserved")
    yield expect_closed(ingest, os.urandom(64).replace(b"\0", b"\1"), "closed.bad-magic")
    yield expect_closed(ingest, sp.PUSH_HEADER + (2 ** 63).to_bytes(8, "big") + b"x" * 100, "closed.oversize")
    yield assert_still_serving(ingest)


@pytest_twisted.inlineCallbacks
def test_real_pub_peer_refused(ingest_factory, tmp_path):
    """
    nanocat --pub speaks SP with the wrong protocol: closed at the header.
    """
    require_programs("nanocat")
    ingest = yield ingest_factory(interfaces=("good0",))
    ingest.spawn(["timeout", "10", "nanocat", "--pub", "--connect", ingest.url, "-D", "hello", "-i", "0.1"])
    yield wait_for(lambda: ingest.counters["closed.wrong-protocol"] >= 1, 5, "the PUB peer to be refused")
    assert ingest.counters["messages"] == 0
    yield assert_still_serving(ingest)


@pytest_twisted.inlineCallbacks
def test_half_header_stall_times_out(ingest_factory):
    """
    Half a header, then nothing: closed after the 1 s handshake timeout,
    while another pusher is served meanwhile.
    """
    ingest = yield ingest_factory(interfaces=("good0",))
    staller = yield connect(ingest)
    staller.send(sp.PUSH_HEADER[:4])
    started = reactor.seconds()
    yield assert_still_serving(ingest)
    assert not staller.closed.called
    yield bounded(staller.closed, 3)
    assert 0.9 <= reactor.seconds() - started <= 2.5
    assert ingest.counters["closed.handshake-timeout"] == 1


@pytest_twisted.inlineCallbacks
def test_oversize_limit_from_config(ingest_factory):
    ingest = yield ingest_factory(interfaces=("good0",), max_message_size=2000)
    peer = yield connect(ingest)
    peer.send(sp.PUSH_HEADER + sp.frame(v4_message("good0", "10.0.0.5")) + sp.frame(bytes(2001)))
    yield bounded(peer.closed, 3)
    assert ingest.counters["closed.oversize"] == 1
    assert str(ingest.registry.lease("good0", FAMILY_V4).address) == "10.0.0.5"
    yield assert_still_serving(ingest, address="10.0.0.6")


@pytest_twisted.inlineCallbacks
def test_200_concurrent_pushers(ingest_factory):
    """
    200 connections open at once, each pushing its own interface's lease,
    plus garbage on some: every good lease lands (with max_connections
    raised above the default 64 for this).
    """
    ingest = yield ingest_factory(accept_unmanaged=True, max_connections=256)

    def handshake(peer):
        peer.send(sp.PUSH_HEADER)
        return peer

    # Every connection says its header at once; only then do the messages
    # follow, each in two pieces, so all 200 are open and mid-stream together.
    peers = yield defer.gatherResults([connect(ingest).addCallback(handshake) for _ in range(200)])
    try:
        yield wait_for(lambda: ingest.counters["connections_open"] == 200, 5, "200 open connections")
    except AssertionError:
        yield defer.gatherResults([peer.close() for peer in peers])
        raise
    for index, peer in enumerate(peers):
        message = sp.frame(v4_message(f"p{index}", f"10.{index // 250}.{index % 250}.1"))
        peer.send(message[:100])
        peer.send(message[100:])
    yield wait_for(lambda: len(ingest.registry.snapshot()) == 200, 10, "200 leases")
    assert ingest.counters["accepted.v4"] == 200
    assert str(ingest.registry.lease("p199", FAMILY_V4).address) == "10.0.199.1"
    yield defer.gatherResults([peer.close() for peer in peers])
    yield wait_for(lambda: ingest.counters["connections_open"] == 0, 5, "all connections closed")


@pytest_twisted.inlineCallbacks
def test_200_concurrent_nngcat_pushers(ingest_factory, tmp_path):
    """
    200 real nngcat processes at once, 5 messages each (with max_connections
    raised above the default 64 for this).
    """
    require_programs("nngcat")
    ingest = yield ingest_factory(accept_unmanaged=True, max_connections=256)
    for index in range(200):
        path = write(tmp_path, f"m{index}.bin", v4_message(f"n{index}", f"10.1.{index}.1"))
        ingest.spawn(["timeout", "30", "nngcat", "--push0", "--dial", ingest.url, "--file", path,
                      "--count", "5", "--interval", "0"])
    yield wait_for(lambda: ingest.counters["accepted.v4"] == 1000, 30, "1000 messages from 200 nngcat")
    assert len(ingest.registry.snapshot()) == 200
