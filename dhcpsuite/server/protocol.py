# -*- test-case-name: tests.unit.test_server_protocol -*-
"""
The server's UDP shell: bytes in, decisions from L{ServerCore}, bytes out.

It drops junk with a counter by reason and a log line (a flood of it with
one line per reason, then one summary line per L{MALFORMED_LOG_INTERVAL}:
L{dhcpsuite.logthrottle}), waits for the lease store's commit before sending
anything that confirms a binding, and never lets an exception reach the
reactor.
"""

from __future__ import annotations

import collections
from ipaddress import IPv4Address
from typing import Any, Callable, Hashable, Mapping

from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.dhcp4.constants import CLIENT_PORT, MINIMUM_MAX_MESSAGE_SIZE, MessageType, Option
from dhcpsuite.dhcp4.frames import BROADCAST_MAC
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.packet import Message, address_from_bytes, decode_message
from dhcpsuite.hexbytes import mac_text
from dhcpsuite.interfaces import ILinkSender, IPacketSink
from dhcpsuite.logthrottle import LogThrottle, describe_counts
from dhcpsuite.server.decide import Outcome, Reply, ServerCore, client_key
from dhcpsuite.server.destination import BROADCAST, Destination
from dhcpsuite.server.outcomes import DropReason, OutcomeEvent, counter_key, drop_key

_MAX_SIZE = int(Option.MAX_MESSAGE_SIZE)
_PRL = int(Option.PARAMETER_REQUEST_LIST)
_SERVER_ID = int(Option.SERVER_ID)
# Options the server cannot read as absent when they are malformed: 54 and 50
# decide which RFC 2131 section 4.3.2 state a REQUEST is in (reading a bad
# 54 as absent would turn another server's SELECTING into our INIT-REBOOT),
# 61 is the client's identity, and 82 is the relay's data we must echo
# verbatim. A request with any of them malformed is dropped, counted as
# drop:bad-option; any other malformed option is ignored and counted as
# malformed-option:<code>.
REQUIRED_WELL_FORMED = frozenset(
    int(o) for o in (Option.SERVER_ID, Option.REQUESTED_ADDRESS, Option.CLIENT_ID, Option.RELAY_AGENT_INFO)
)
_TYPE_NAMES = {int(t): t.name.lower() for t in MessageType}
# The counters of each message type received and of each outcome without a
# reason, made once.
_RECEIVED_KEYS = {code: "received:" + name for code, name in _TYPE_NAMES.items()}
_EVENT_KEYS = {event: counter_key(event) for event in OutcomeEvent}
_DISCOVER = int(MessageType.DISCOVER)
# Default of AckBacklog.limit (server key max_pending_acks).
MAX_PENDING_ACKS = 512
# Default of ServerProtocol.max_queue_wait (server key max_queue_wait), seconds.
MAX_QUEUE_WAIT = 0.5


class AckBacklog:
    """
    Replies waiting for their binding's commit, counted across every
    interface of one server (they share one lease store).

    While C{pending} is at C{limit} or above, new DISCOVERs are dropped
    (counted as C{drop:commit-backlog}) before anything is decided: the
    database is behind, and a client that is not answered at once retries,
    where one answered a second late has already given up. Clients already
    offered an address (REQUEST) still get their ACK. Kea does the same
    with a bounded packet queue (C{packet-queue-size}), dropping the oldest.

    @ivar limit: pending replies at which DISCOVERs are dropped; 0: never.
    """

    def __init__(self, limit: int = MAX_PENDING_ACKS) -> None:
        self.limit = limit
        self.pending = 0

    def full(self) -> bool:
        return 0 < self.limit <= self.pending

# Seconds between the summary lines of a flood of malformed packets.
MALFORMED_LOG_INTERVAL = 10.0
# Seconds between the summary lines of failed sends (a full neighbour
# table or a stuck queue fails every reply until it is fixed).
SEND_FAILURE_LOG_INTERVAL = 60.0


@implementer(IPacketSink)
class ServerProtocol(DatagramProtocol):
    """
    One per interface socket.

    Replies to clients on the link (an L2 unicast to a client without an
    address, or a broadcast to port 68) go as whole frames through C{link},
    which needs nothing from the kernel's neighbour table. Without a link
    sender, or when it fails, they go through the UDP socket: an L2 unicast
    after adding an ARP entry with C{neighbour}, else as a broadcast.
    Replies to an address (ciaddr, a relay) always take the UDP socket and
    the kernel's routing. Every failure is counted as
    C{send-failure:<path>} and logged as a warning, thinned.

    @param neighbour: adds an ARP entry C{(ifname, address, mac)} so an L2
        unicast reply can go out; raises L{OSError} when it cannot.
    @param clock: the C{IReactorTime} that paces the malformed-packet log.
    @param link: the interface's L{ILinkSender}; this protocol closes it.
    """

    log = Logger()

    def __init__(
        self,
        core: ServerCore,
        interface: str | None,
        counters: collections.Counter,
        log_exchanges: bool = True,
        neighbour: Callable | None = None,
        clock: IReactorTime | None = None,
        link: ILinkSender | None = None,
        backlog: AckBacklog | None = None,
        max_queue_wait: float = MAX_QUEUE_WAIT,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.core = core
        self.interface = interface
        self.counters = counters
        self.log_exchanges = log_exchanges
        self.neighbour = neighbour
        self.link = link
        self.backlog = backlog if backlog is not None else AckBacklog()
        self.max_queue_wait = max_queue_wait
        self._malformed_log = LogThrottle(clock, MALFORMED_LOG_INTERVAL, self._log_malformed_summary)
        self._send_failure_log = LogThrottle(clock, SEND_FAILURE_LOG_INTERVAL, self._log_send_failure_summary)
        # While a read burst is answered: its ACKs, waiting for one commit together.
        self._awaiting: list[tuple] | None = None

    def startProtocol(self) -> None:
        # Straight to the socket when there is one: udp.Port.write validates
        # the address text again on every call, a measurable cost per reply.
        sock = getattr(self.transport, "socket", None)
        self._write = sock.sendto if sock is not None else self.transport.write

    def stopProtocol(self) -> None:
        # Report what the last interval suppressed, and leave no timer behind.
        self._malformed_log.stop()
        self._send_failure_log.stop()
        if self.link is not None:
            self.link.close()
            self.link = None

    def logPrefix(self) -> str:
        return f"dhcp4-server {self.interface}"

    def datagramReceived(self, data: bytes, addr: tuple) -> None:
        self.stampedDatagramReceived(data, addr, 0.0)

    def stampedDatagramReceived(self, data: bytes, addr: tuple, waited: float) -> None:
        """
        One datagram: see L{stampedDatagramsReceived}.
        """
        self.stampedDatagramsReceived([(data, addr, waited)])

    def stampedDatagramsReceived(self, datagrams: list[tuple[bytes, tuple, float]]) -> None:
        """
        The datagrams of one read burst (from
        L{dhcpsuite.server.sockets.StampedPort}), each C{(data, addr,
        waited)}, C{waited} being the seconds it spent in the kernel's
        receive queue. Their ACKs wait for one commit together: one
        C{committed()} for the burst, asked for after its last binding.

        Never raises: a failure on one datagram is logged and the next is
        answered.
        """
        self._awaiting = awaiting = []
        try:
            for data, addr, waited in datagrams:
                try:
                    self._received(data, addr, waited)
                except Exception:
                    self.counters[drop_key(DropReason.INTERNAL_ERROR)] += 1
                    self.log.failure("Server failed on a packet from {source}", source=addr)
        finally:
            self._awaiting = None
            if awaiting:
                self._wait_for_commit(awaiting)

    def _received(self, data: bytes, addr: tuple, waited: float) -> None:
        """
        One datagram that waited C{waited} seconds in the kernel's receive
        queue.

        A server behind its offered load sheds new work first: a DISCOVER
        is dropped when it waited longer than C{max_queue_wait} (counted as
        C{drop:queue-wait}) or while the replies waiting for commits are at
        the backlog's limit (C{drop:commit-backlog}). The client retries
        (RFC 2131 4.1: after about 4 s), and what the server answers meanwhile,
        REQUESTs of clients it already made an offer to, is answered while
        the client still waits, instead of every answer arriving late.
        """
        counters = self.counters
        counters["received"] += 1
        try:
            message = decode_message(data)
        except DecodeError as e:
            counters[drop_key(e.reason)] += 1
            if self._malformed_log.allow(e.reason):
                self.log.warn(
                    "Dropped malformed packet from {source} on {interface}: {error}",
                    source=addr, interface=self.interface, error=str(e), reason=e.reason,
                )
            return
        if message.malformed and not self._accept_malformed(message, addr):
            return
        if message.message_type == _DISCOVER:
            if 0 < self.max_queue_wait < waited:
                counters[drop_key(DropReason.QUEUE_WAIT)] += 1
                return
            if self.backlog.full():
                counters[drop_key(DropReason.COMMIT_BACKLOG)] += 1
                return
        self._answer(message, addr)

    def _answer(self, message: Message, addr: tuple, retry: bool = True) -> None:
        counters = self.counters
        try:
            outcome = self.core.handle(message, self.interface)
        except DecodeError as e:
            counters[drop_key(e.reason)] += 1
            if self._malformed_log.allow(e.reason):
                self.log.warn("Dropped packet from {source}: {error}", source=addr, error=str(e), reason=e.reason)
            return
        except Exception:
            counters[drop_key(DropReason.INTERNAL_ERROR)] += 1
            self.log.failure("Server failed on a packet from {source}", source=addr)
            return
        if retry:
            counters[_RECEIVED_KEYS.get(message.message_type or 0, "received:other")] += 1
        reason = outcome.reason
        counters[counter_key(outcome.event, reason) if reason else _EVENT_KEYS[outcome.event]] += 1
        if self.log_exchanges:
            self._log(message, outcome)
        if outcome.reply is not None:
            self._deliver(message, outcome.reply, addr, retry)

    def _accept_malformed(self, message: Message, addr: tuple) -> bool:
        """
        Count the malformed options of C{message}; C{False} when one of them
        is an option the server cannot do without.
        """
        codes = sorted(message.malformed)
        fatal = REQUIRED_WELL_FORMED.intersection(codes)
        reason = DropReason.BAD_OPTION if fatal else "malformed-option"
        if fatal:
            self.counters[drop_key(DropReason.BAD_OPTION)] += 1
        else:
            for code in codes:
                self.counters[f"malformed-option:{code}"] += 1
        if self._malformed_log.allow(reason):
            self.log.warn(
                "{what} from {source} on {interface}: malformed option(s) {codes}",
                what="Dropped packet" if fatal else "Ignored options in a packet",
                source=addr, interface=self.interface, codes=", ".join(map(str, codes)), reason=reason,
            )
        return not fatal

    def _log_malformed_summary(self, counts: Mapping[Hashable, int], seconds: float) -> None:
        self.log.warn(
            "Dropped {count} more malformed packets on {interface} in the last {seconds:g} s (reason counts: {reasons})",
            count=sum(counts.values()), interface=self.interface, seconds=round(seconds, 1),
            reasons=describe_counts(counts), reason_counts=dict(counts),
        )

    def _log(self, message: Message, outcome: Outcome) -> None:
        self.log.info(
            "{request} from {mac} via {interface}: {event} {address}{why}",
            request=_TYPE_NAMES.get(message.message_type or 0, "?").upper(),
            mac=mac_text(message.hardware_address),
            interface=self.interface,
            event=outcome.event.upper(),
            address=outcome.address or "",
            why=f" ({outcome.reason})" if outcome.reason else "",
            giaddr=str(message.giaddr),
            xid=message.xid,
        )

    def _deliver(self, request: Message, reply: Reply, addr: tuple = ("", 0), retry: bool = False) -> None:
        # Without option 57 a client takes 576 bytes (RFC 2131 section 2, RFC
        # 2132 section 9.10); what does not fit goes by the client's option 55.
        raw_size = request.options.get(_MAX_SIZE)
        # Read directly (decode checked its length): this runs for every reply.
        max_size = MINIMUM_MAX_MESSAGE_SIZE if raw_size is None else max(
            int.from_bytes(raw_size, "big"), MINIMUM_MAX_MESSAGE_SIZE)
        try:
            data = reply.message.to_bytes(max_size, request.options.get(_PRL, b""))
        except ValueError as e:
            self.counters[drop_key(DropReason.REPLY_TOO_LARGE)] += 1
            self.log.error("Could not encode reply: {error}", error=str(e))
            return
        except Exception:
            self.counters[drop_key(DropReason.INTERNAL_ERROR)] += 1
            self.log.failure("Could not encode a reply")
            return
        raw_source = reply.message.options.get(_SERVER_ID)
        source = None if raw_source is None or len(raw_source) != 4 else address_from_bytes(raw_source)
        if not reply.after_commit:
            self.send_reply(data, reply.destination, source)
            return
        backlog = self.backlog
        backlog.pending += 1
        waiting = (backlog, request, reply, data, source, addr, retry)
        if self._awaiting is not None:
            self._awaiting.append(waiting)
        else:
            self._wait_for_commit([waiting])

    def _wait_for_commit(self, waiting: list[tuple]) -> None:
        # Asked for after the last of their bindings: it fires once all are durable.
        self.core.store.committed().addCallbacks(
            self._committed, self._commit_failed, callbackArgs=(waiting,), errbackArgs=(waiting,)
        )

    def _committed(self, _: None, waiting: list[tuple]) -> None:
        """
        Committed: send each reply, unless the database gave its address
        to another server's client (the store's index then shows that
        client). The core then decides again on the corrected index (a NAK
        for a REQUEST, another address under rapid commit), once.
        """
        for backlog, request, reply, data, source, addr, retry in waiting:
            backlog.pending -= 1
            try:
                self._send_committed(request, reply, data, source, addr, retry)
            except Exception:
                self.counters[drop_key(DropReason.INTERNAL_ERROR)] += 1
                self.log.failure("Server failed on a committed reply to {source}", source=addr)

    def _send_committed(
        self, request: Message, reply: Reply, data: bytes, source: Any, addr: tuple, retry: bool
    ) -> None:
        lease = self.core.store.get(reply.message.yiaddr)
        if lease is not None and lease.client_key == client_key(request):
            self.send_reply(data, reply.destination, source)
            return
        self.counters[drop_key(DropReason.COMMIT_CONFLICT_LOST)] += 1
        if retry:
            self._answer(request, addr, retry=False)

    def _commit_failed(self, failure, waiting: list[tuple]) -> None:
        for backlog, _, reply, *_ in waiting:
            backlog.pending -= 1
            self._lost(failure, reply)

    def _lost(self, failure, reply: Reply) -> None:
        self.counters[drop_key(DropReason.COMMIT_FAILED)] += 1
        self.log.error(
            "Lease for {address} not committed, no ACK sent: {error}",
            address=reply.message.yiaddr, error=failure.getErrorMessage(),
        )

    def send_reply(self, data: bytes, destination: Destination, source: IPv4Address | None = None) -> None:
        """
        @param source: our address for the frame's IP header (the reply's
            server identifier); without it the UDP socket is used.
        """
        if self.transport is None:
            return
        if self.link is not None and source is not None and _on_link(destination):
            try:
                self.link.send(data, source, destination.address, destination.port,
                               destination.hardware or BROADCAST_MAC)
            except (OSError, ValueError) as e:
                self._send_failed("packet-socket", destination.address, e)
            else:
                self.counters["sent"] += 1
                return
        address = destination.address
        if destination.hardware is not None:
            try:
                if self.neighbour is None:
                    raise OSError("no neighbour table access")
                self.neighbour(self.interface, address, destination.hardware)
            except OSError as e:
                self._send_failed("neighbour-table", address, e)
                address = BROADCAST
        try:
            self._write(data, (str(address), destination.port))
            self.counters["sent"] += 1
        except OSError as e:
            self._send_failed("udp-socket", address, e)

    def _send_failed(self, path: str, address: IPv4Address, error: Exception) -> None:
        self.counters["send-failure:" + path] += 1
        if self._send_failure_log.allow(path):
            self.log.warn(
                "Could not send a reply to {address} on {interface} through the {path}: {error}{then}",
                address=address, interface=self.interface, path=path.replace("-", " "), error=str(error),
                then=_FALLBACK_TEXT[path],
            )

    def _log_send_failure_summary(self, counts: Mapping[Hashable, int], seconds: float) -> None:
        self.log.warn(
            "{count} more replies on {interface} could not be sent as intended in the last {seconds:g} s"
            " (counts by path: {paths})",
            count=sum(counts.values()), interface=self.interface, seconds=round(seconds, 1),
            paths=describe_counts(counts), path_counts=dict(counts),
        )


_FALLBACK_TEXT = {
    "packet-socket": "; sending it through the UDP socket",
    "neighbour-table": "; broadcasting it instead",
    "udp-socket": "; the reply is lost",
}


def _on_link(destination: Destination) -> bool:
    """
    A reply for a client on this link that has no address to route to: an
    L2 unicast, or a broadcast to the client port (relays get port 67).
    """
    return destination.hardware is not None or (destination.is_broadcast and destination.port == CLIENT_PORT)
