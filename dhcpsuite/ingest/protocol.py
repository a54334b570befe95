# -*- test-case-name: tests.unit.test_ingest_protocol -*-
"""
The PULL endpoint's Twisted protocol and factory: a thin shell around
L{dhcpsuite.ingest.sp.PullFramer}.

Per connection: send our header at once, close if the peer's header is not
a PUSH header or has not arrived within the handshake timeout, then hand
every framed message to the router. Nothing is ever written after the
header; a protocol error closes only that connection.

What one local process can make the endpoint hold is bounded (L{Limits}):
the number of connections, the time a begun message may take to complete,
the time a connection may sit idle between messages, and the bytes
buffered for incomplete messages across all connections. Every refusal is
counted.

At the connection limit, a new connection takes the place of the one that
has been quiet longest, if that one has sent nothing for at least the
handshake timeout (a plugin connects, sends and closes within
milliseconds, so a quiet connection is an idle or stalled one); otherwise
the new connection is closed at once. So a local process holding every
slot open delays a real push by about a second, not by the idle timeout.
"""

from __future__ import annotations

from collections import Counter

import attrs
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from dhcpsuite.ingest.sp import DEFAULT_MAX_MESSAGE_SIZE, PULL_HEADER, TRANSPORT_TCP, FramingError, PullFramer

DEFAULT_HANDSHAKE_TIMEOUT = 1.0  # nanomsg's stream-header timer
# A plugin connects, sends one message and closes within milliseconds; a
# long-lived PUSH socket (nanocat, pynng) that is closed for idling simply
# reconnects, as every nanomsg/nng sender does.
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_IDLE_TIMEOUT = 30.0
DEFAULT_MESSAGE_TIMEOUT = 5.0
DEFAULT_MAX_BUFFERED = 1024 * 1024

# Counter names.
CLOSED_HANDSHAKE_TIMEOUT = "handshake-timeout"
CLOSED_MESSAGE_TIMEOUT = "message-timeout"
CLOSED_IDLE_TIMEOUT = "idle-timeout"
CLOSED_BUFFER_BUDGET = "buffer-budget"
CLOSED_EVICTED = "evicted"
REFUSED_CONNECTION_LIMIT = "refused.connection-limit"


@attrs.frozen
class Limits:
    """
    What the endpoint allows (see the module docstring).

    @ivar max_connections: connections open at once; one more is closed as
        soon as it is accepted.
    @ivar handshake_timeout: seconds from accept to the peer's SP header.
    @ivar message_timeout: seconds from the first byte of a message (its
        length prefix) to its last.
    @ivar idle_timeout: seconds a handshaken connection may sit between
        messages.
    @ivar max_buffered: bytes of incomplete messages held across all
        connections; the connection whose read goes beyond it is closed.
    """

    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    message_timeout: float = DEFAULT_MESSAGE_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_buffered: int = DEFAULT_MAX_BUFFERED


class PullProtocol(Protocol):
    """
    One PUSH peer's connection.

    One timer per connection enforces whichever deadline applies (handshake,
    begun message, idle); a read only notes the time, and the timer, when
    it fires early, sleeps again until the current deadline. The hot path
    (whole messages per read) so costs one clock read, not a timer reset.
    """

    log = Logger()

    def __init__(self, factory: "PullFactory") -> None:
        self.factory = factory
        self._framer = PullFramer(factory.on_message, factory.limits.max_message_size, transport=factory.transport)
        self._timer = None
        self._closed = False
        self._buffered = 0
        self._accepted_at = 0.0
        self._last_read = 0.0
        self._message_started: float | None = None
        self._messages_before = 0

    def connectionMade(self) -> None:
        self.factory.connection_made(self)
        self.transport.write(PULL_HEADER)
        self._accepted_at = self._last_read = self.factory.clock.seconds()
        self._timer = self.factory.clock.callLater(self.factory.limits.handshake_timeout, self._check_deadline)

    def dataReceived(self, data: bytes) -> None:
        if self._closed:
            return
        framer = self._framer
        try:
            framer.feed(data)
        except FramingError as e:
            self.fail(e.reason, e.detail)
            return
        now = self.factory.clock.seconds()
        self._last_read = now
        buffered = framer.buffered
        if buffered != self._buffered:
            if not self.factory.buffer_changed(buffered - self._buffered):
                self._buffered = buffered
                self.fail(CLOSED_BUFFER_BUDGET,
                           f"{self.factory.buffered} bytes buffered across connections, more than "
                           f"{self.factory.limits.max_buffered}")
                return
            self._buffered = buffered
        if framer.in_message:
            # A message began in this read: none was under way, or one (or
            # more) completed before the one now pending.
            if self._message_started is None or framer.messages != self._messages_before:
                self._message_started = now
                self._messages_before = framer.messages
                self._arm(now)
        else:
            self._message_started = None

    @property
    def last_read(self) -> float:
        """
        When the peer last sent something (or connected).
        """
        return self._last_read

    def _deadline(self) -> tuple[float, str]:
        limits = self.factory.limits
        if not self._framer.handshaken:
            return self._accepted_at + limits.handshake_timeout, CLOSED_HANDSHAKE_TIMEOUT
        if self._message_started is not None:
            return self._message_started + limits.message_timeout, CLOSED_MESSAGE_TIMEOUT
        return self._last_read + limits.idle_timeout, CLOSED_IDLE_TIMEOUT

    def _arm(self, now: float) -> None:
        """
        Make the timer fire no later than the current deadline.
        """
        deadline, _ = self._deadline()
        if self._timer is None:
            self._timer = self.factory.clock.callLater(max(0.0, deadline - now), self._check_deadline)
        elif self._timer.getTime() > deadline:
            self._timer.reset(max(0.0, deadline - now))

    def _check_deadline(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = self.factory.clock.seconds()
        deadline, reason = self._deadline()
        if now >= deadline:
            limits = self.factory.limits
            seconds = {CLOSED_HANDSHAKE_TIMEOUT: limits.handshake_timeout,
                       CLOSED_MESSAGE_TIMEOUT: limits.message_timeout}.get(reason, limits.idle_timeout)
            self.fail(reason, f"{reason.replace('-', ' ')} after {seconds} s")
            return
        self._timer = self.factory.clock.callLater(deadline - now, self._check_deadline)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def fail(self, reason: str, detail: str) -> None:
        """
        Close the connection now, counted as C{closed.<reason>}.
        """
        self._closed = True
        self._cancel_timer()
        self._release_buffer()
        stage = "stream" if self._framer.handshaken else "handshake"
        self.factory.counters[f"closed.{reason}"] += 1
        self.log.warn(
            "Closing lease-ingest connection from {peer} ({stage}: {reason}: {detail})",
            peer=_peer(self.transport), stage=stage, reason=reason, detail=detail,
        )
        self.transport.abortConnection()

    def _release_buffer(self) -> None:
        if self._buffered:
            self.factory.buffer_changed(-self._buffered)
            self._buffered = 0
        # The protocol may live on until the transport lets go of it.
        self._framer.discard()

    def connectionLost(self, reason=None) -> None:
        self._closed = True
        self._cancel_timer()
        self._release_buffer()
        self.factory.connection_lost(self)

    def abort(self) -> None:
        self._closed = True
        self._cancel_timer()
        self.transport.abortConnection()


def _peer(transport) -> str:
    try:
        address = transport.getPeer()
        host = getattr(address, "host", None)
        if host is None:  # a UNIX socket: the peer has no address
            return "local"
        return f"{host}:{address.port}"
    except Exception:
        return "?"


class PullFactory(Factory):
    """
    Builds L{PullProtocol}s and keeps track of them (so the service can close
    them all when it stops), of the bytes they buffer and of the connection
    counters.

    @param on_message: C{(buffer, offset, size)} for each message; it must
        not raise (the router counts and logs its own failures).
    @param clock: an L{IReactorTime} for the timers.
    @param transport: the SP transport's framing (C{sp.TRANSPORT_*}).
    """

    log = Logger()

    def __init__(self, on_message, clock, counters: Counter | None = None, limits: Limits | None = None,
                 transport: str = TRANSPORT_TCP) -> None:
        self.on_message = on_message
        self.clock = clock
        self.counters = Counter() if counters is None else counters
        self.limits = Limits() if limits is None else limits
        self.transport = transport
        self.protocols: set[PullProtocol] = set()
        self.buffered = 0

    def buildProtocol(self, addr) -> PullProtocol | None:
        if len(self.protocols) >= self.limits.max_connections and not self._evict_quietest():
            # None makes Twisted close the accepted socket at once: the
            # descriptor is not held.
            count = self.counters[REFUSED_CONNECTION_LIMIT] + 1
            self.counters[REFUSED_CONNECTION_LIMIT] = count
            if count == 1 or count % 1000 == 0:
                self.log.warn("Lease-ingest connection refused: {limit} connections are open ({count} refused so far)",
                              limit=self.limits.max_connections, count=count)
            return None
        return PullProtocol(self)

    def _evict_quietest(self) -> bool:
        """
        Close the connection quiet longest, if quiet for at least the
        handshake timeout, to make room.

        @return: whether one was closed.
        """
        quietest = min(self.protocols, key=PullProtocol.last_read.fget, default=None)
        if quietest is None or self.clock.seconds() - quietest.last_read < self.limits.handshake_timeout:
            return False
        quietest.fail(CLOSED_EVICTED, f"{self.limits.max_connections} connections are open and a new one came")
        # It is gone as far as the limit goes; its connectionLost comes later.
        self.protocols.discard(quietest)
        return True

    def connection_made(self, protocol: PullProtocol) -> None:
        self.protocols.add(protocol)
        self.counters["connections"] += 1
        self.counters["connections_open"] = len(self.protocols)

    def connection_lost(self, protocol: PullProtocol) -> None:
        self.protocols.discard(protocol)
        self.counters["connections_open"] = len(self.protocols)

    def buffer_changed(self, delta: int) -> bool:
        """
        Account for a connection's buffer growing or shrinking by C{delta}.

        @return: whether the total stays within the budget.
        """
        self.buffered += delta
        return delta <= 0 or self.buffered <= self.limits.max_buffered

    def abort_all(self) -> None:
        for protocol in list(self.protocols):
            protocol.abort()
