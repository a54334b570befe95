# -*- test-case-name: tests.unit.test_ingest_protocol -*-
"""
The PULL endpoint's Twisted protocol and factory: a thin shell around
L{dhcpsuite.ingest.sp.PullFramer}.

Per connection: send our header at once, close if the peer's header is not
a PUSH header or has not arrived within the handshake timeout, then hand
every framed message to the router. Nothing is ever written after the
header; a protocol error closes only that connection.
"""

from __future__ import annotations

from collections import Counter

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from dhcpsuite.ingest.sp import DEFAULT_MAX_MESSAGE_SIZE, PULL_HEADER, FramingError, PullFramer

DEFAULT_HANDSHAKE_TIMEOUT = 1.0  # nanomsg's stream-header timer


class PullProtocol(Protocol):
    """
    One PUSH peer's connection.
    """

    log = Logger()

    def __init__(self, factory: "PullFactory") -> None:
        self.factory = factory
        self._framer = PullFramer(factory.on_message, factory.max_message_size)
        self._timer = None
        self._closed = False

    def connectionMade(self) -> None:
        self.factory.connection_made(self)
        self.transport.write(PULL_HEADER)
        self._timer = self.factory.clock.callLater(self.factory.handshake_timeout, self._handshake_timed_out)

    def dataReceived(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            self._framer.feed(data)
        except FramingError as e:
            self._fail(e.reason, e.detail)
            return
        if self._timer is not None and self._framer.handshaken:
            self._cancel_timer()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        self._fail("handshake-timeout", f"no SP header within {self.factory.handshake_timeout} s")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, reason: str, detail: str) -> None:
        self._closed = True
        self._cancel_timer()
        stage = "stream" if self._framer.handshaken else "handshake"
        self.factory.counters[f"closed.{reason}"] += 1
        self.log.warn(
            "Closing lease-ingest connection from {peer} ({stage}: {reason}: {detail})",
            peer=_peer(self.transport), stage=stage, reason=reason, detail=detail,
        )
        self.transport.abortConnection()

    def connectionLost(self, reason=None) -> None:
        self._closed = True
        self._cancel_timer()
        self.factory.connection_lost(self)

    def abort(self) -> None:
        self._closed = True
        self._cancel_timer()
        self.transport.abortConnection()


def _peer(transport) -> str:
    try:
        address = transport.getPeer()
        return f"{address.host}:{address.port}"
    except Exception:
        return "?"


class PullFactory(Factory):
    """
    Builds L{PullProtocol}s and keeps track of them (so the service can close
    them all when it stops) and of the connection counters.

    @param on_message: C{(buffer, offset, size)} for each message; it must
        not raise (the router counts and logs its own failures).
    @param clock: an L{IReactorTime} for the handshake timer.
    """

    def __init__(self, on_message, clock, counters: Counter | None = None,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT) -> None:
        self.on_message = on_message
        self.clock = clock
        self.counters = Counter() if counters is None else counters
        self.max_message_size = max_message_size
        self.handshake_timeout = handshake_timeout
        self.protocols: set[PullProtocol] = set()

    def buildProtocol(self, addr) -> PullProtocol:
        return PullProtocol(self)

    def connection_made(self, protocol: PullProtocol) -> None:
        self.protocols.add(protocol)
        self.counters["connections"] += 1
        self.counters["connections_open"] = len(self.protocols)

    def connection_lost(self, protocol: PullProtocol) -> None:
        self.protocols.discard(protocol)
        self.counters["connections_open"] = len(self.protocols)

    def abort_all(self) -> None:
        for protocol in list(self.protocols):
            protocol.abort()
