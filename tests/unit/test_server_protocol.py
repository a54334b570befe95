"""
Tests for L{dhcpsuite.server.protocol.ServerProtocol}: junk is dropped and
counted, the core's exceptions are contained, ACKs wait for the store's
commit, and L2 unicast falls back to broadcast.
"""

from __future__ import annotations

import collections
from ipaddress import IPv4Address

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport
from twisted.logger import Logger, LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dhcpsuite.config import parse_config_text
from dhcpsuite.dhcp4.constants import FLAG_BROADCAST, MessageType, Option
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.packet import Message, decode_message
from dhcpsuite.interfaces import ILeaseStore, ILinkSender, IPacketSink
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.leases.sqlite import LeaseStoreError
from dhcpsuite.server.decide import Outcome, Reply, ServerCore
from dhcpsuite.server.destination import BROADCAST, Destination
from dhcpsuite.server.protocol import AckBacklog, MALFORMED_LOG_INTERVAL, SEND_FAILURE_LOG_INTERVAL, ServerProtocol

A = IPv4Address
MAC = b"\x02\x00\x00\x00\x00\x07"
SERVER = A("10.0.0.1")
NOW = 1_000_000.0

CONFIG = """
[server]
lease_store = "memory"
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "eth0"
server_address = "10.0.0.1"
pool = "10.0.0.10-10.0.0.20"
router = "10.0.0.1"
"""


@implementer(ILeaseStore)
class ControlledCommitStore(MemoryLeaseStore):
    """
    A memory store whose committed() Deferreds the test fires.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Deferred] = []

    def committed(self) -> Deferred:
        d: Deferred = Deferred()
        self.pending.append(d)
        return d


class FakeCore:
    def __init__(self, outcome=None, error: Exception | None = None) -> None:
        self.outcome = outcome
        self.error = error
        self.store = ControlledCommitStore()
        self.handled: list = []

    def handle(self, message, interface):
        self.handled.append((message, interface))
        if self.error is not None:
            raise self.error
        return self.outcome


def request(kind: MessageType, **options) -> Message:
    m = Message(op=1, xid=0x42, chaddr=MAC + b"\x00" * 10)
    m.options[int(Option.MESSAGE_TYPE)] = bytes((kind,))
    for code, raw in options.items():
        m.options[int(code.split("_")[1])] = raw
    return m


def reply_message(kind: MessageType = MessageType.ACK, yiaddr: IPv4Address = A("10.0.0.10")) -> Message:
    m = Message(op=2, xid=0x42, chaddr=MAC + b"\x00" * 10, yiaddr=yiaddr)
    m.options[53] = bytes((kind,))
    m.options[54] = SERVER.packed
    return m


class ProtocolTestsBase(SynchronousTestCase):
    def setUp(self) -> None:
        self.events: list[dict] = []
        self.neighbour_calls: list[tuple] = []
        self.counters: collections.Counter = collections.Counter()
        self.transport = FakeDatagramTransport()
        self.clock = Clock()

    def neighbour(self, ifname, address, mac) -> None:
        self.neighbour_calls.append((ifname, address, mac))

    def make_protocol(self, core, neighbour="default", log_exchanges: bool = True) -> ServerProtocol:
        protocol = ServerProtocol(
            core, "eth0", self.counters, log_exchanges, self.neighbour if neighbour == "default" else neighbour,
            clock=self.clock,
        )
        protocol.log = Logger(namespace="test", observer=self.events.append)
        protocol.makeConnection(self.transport)
        return protocol

    def real_core(self, store=None) -> ServerCore:
        config = parse_config_text(CONFIG).section("server")
        return ServerCore(config, store if store is not None else MemoryLeaseStore(), clock=lambda: NOW)

    def written(self) -> list[tuple[Message, tuple]]:
        return [(decode_message(data), addr) for data, addr in self.transport.written]


class DropTests(ProtocolTestsBase):
    def test_verify_packet_sink(self) -> None:
        self.assertTrue(verifyObject(IPacketSink, self.make_protocol(FakeCore())))

    def test_malformed_dropped_counted_logged(self) -> None:
        core = FakeCore()
        protocol = self.make_protocol(core)
        protocol.datagramReceived(b"\x01\x01\x06\x00junk", ("10.0.0.99", 68))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(core.handled, [])
        self.assertEqual(self.counters["received"], 1)
        self.assertEqual(self.counters["drop:truncated"], 1)
        self.assertEqual(len(self.events), 1)
        self.assertEqual(self.events[0]["log_level"], LogLevel.warn)
        self.assertIn("truncated", self.events[0]["error"])

    def test_each_reason_counted_separately(self) -> None:
        protocol = self.make_protocol(FakeCore())
        good = request(MessageType.DISCOVER).to_bytes()
        protocol.datagramReceived(good[:236] + b"\x00\x00\x00\x00" + good[240:], ("0.0.0.0", 68))
        protocol.datagramReceived(good[:240] + b"\x35\x05\x01", ("0.0.0.0", 68))
        self.assertEqual(self.counters["drop:no-magic-cookie"], 1)
        self.assertEqual(self.counters["drop:option-overrun"], 1)
        self.assertEqual(self.transport.written, [])
        self.assertEqual(len(self.events), 2)

    def test_malformed_flood_logged_once_then_summarised(self) -> None:
        protocol = self.make_protocol(FakeCore())
        good = request(MessageType.DISCOVER).to_bytes()
        truncated, no_cookie = b"\x01\x01\x06\x00junk", good[:236] + b"\x00\x00\x00\x00" + good[240:]
        for _ in range(1000):
            protocol.datagramReceived(truncated, ("10.0.0.99", 68))
        protocol.datagramReceived(no_cookie, ("10.0.0.98", 68))
        protocol.datagramReceived(no_cookie, ("10.0.0.98", 68))
        # Every drop counted; one full line per reason.
        self.assertEqual(self.counters["received"], 1002)
        self.assertEqual(self.counters["drop:truncated"], 1000)
        self.assertEqual(self.counters["drop:no-magic-cookie"], 2)
        self.assertEqual([e["reason"] for e in self.events], ["truncated", "no-magic-cookie"])
        self.clock.advance(MALFORMED_LOG_INTERVAL - 0.5)
        self.assertEqual(len(self.events), 2)
        self.clock.advance(0.5)
        [summary] = self.events[2:]
        self.assertEqual(summary["log_level"], LogLevel.warn)
        self.assertEqual(
            formatEvent(summary),
            "Dropped 1000 more malformed packets on eth0 in the last 10 s"
            " (reason counts: truncated=999, no-magic-cookie=1)",
        )
        self.assertEqual(summary["reason_counts"], {"truncated": 999, "no-magic-cookie": 1})
        # The flood goes on: a summary per interval, no full lines.
        for _ in range(5):
            protocol.datagramReceived(truncated, ("10.0.0.99", 68))
            self.clock.advance(MALFORMED_LOG_INTERVAL / 2)
        self.assertEqual([e.get("count") for e in self.events[3:]], [2, 2])
        # Quiet for a whole interval (after the last one's summary): the
        # next one is logged in full again.
        self.clock.pump([MALFORMED_LOG_INTERVAL] * 2)
        self.assertEqual([e.get("count") for e in self.events[3:]], [2, 2, 1])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        protocol.datagramReceived(truncated, ("10.0.0.99", 68))
        self.assertEqual(formatEvent(self.events[-1]), "Dropped malformed packet from ('10.0.0.99', 68) on eth0: "
                         + self.events[-1]["error"])
        self.assertEqual(self.counters["drop:truncated"], 1006)

    def test_core_decode_errors_share_the_throttle(self) -> None:
        protocol = self.make_protocol(FakeCore(error=DecodeError("bad-option", "option 82")))
        for _ in range(50):
            protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.counters["drop:bad-option"], 50)
        self.assertEqual(len(self.events), 1)
        self.clock.advance(MALFORMED_LOG_INTERVAL)
        self.assertEqual(self.events[1]["count"], 49)

    def test_stop_reports_the_rest_and_leaves_no_timer(self) -> None:
        protocol = self.make_protocol(FakeCore())
        for _ in range(3):
            protocol.datagramReceived(b"junk", ("10.0.0.99", 68))
        self.clock.advance(2.5)
        protocol.doStop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(formatEvent(self.events[-1]),
                         "Dropped 2 more malformed packets on eth0 in the last 2.5 s (reason counts: truncated=2)")

    def test_malformed_optional_option_ignored_and_counted(self) -> None:
        """
        Kea answers a DISCOVER with an empty option 12 or 60 (issue 12.6);
        so do we, counting each ignored option.
        """
        protocol = self.make_protocol(self.real_core())
        for code in (12, 60):
            protocol.datagramReceived(request(MessageType.DISCOVER, **{f"o_{code}": b""}).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual([m.message_type for m, _ in self.written()], [MessageType.OFFER] * 2)
        self.assertEqual(self.counters["malformed-option:12"], 1)
        self.assertEqual(self.counters["malformed-option:60"], 1)
        self.assertEqual(self.counters["drop:bad-option"], 0)
        warnings = [e for e in self.events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["codes"], "12")

    def test_malformed_required_option_drops(self) -> None:
        """
        A bad 54 read as absent would make another server's SELECTING
        REQUEST look like our INIT-REBOOT; a bad 61 changes who the client
        is; a bad 82 cannot be echoed faithfully. Such requests are dropped.
        """
        core = FakeCore()
        protocol = self.make_protocol(core)
        for code, raw in ((54, b"\x0a\x00"), (50, b""), (61, b"\x01"), (82, b"\x01")):
            protocol.datagramReceived(request(MessageType.REQUEST, **{f"o_{code}": raw}).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(core.handled, [])
        self.assertEqual(self.counters["drop:bad-option"], 4)
        self.assertEqual(self.transport.written, [])

    def test_core_exception_contained(self) -> None:
        protocol = self.make_protocol(FakeCore(error=RuntimeError("boom")))
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.counters["drop:internal-error"], 1)
        self.assertEqual(self.transport.written, [])
        [event] = self.events
        self.assertEqual(event["log_level"], LogLevel.critical)
        self.assertTrue(event["log_failure"].check(RuntimeError))

    def test_core_decode_error_counted_by_reason(self) -> None:
        protocol = self.make_protocol(FakeCore(error=DecodeError("bad-option", "option 82")))
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.counters["drop:bad-option"], 1)
        self.assertEqual(self.transport.written, [])

    def test_core_drop_counted(self) -> None:
        protocol = self.make_protocol(self.real_core())
        protocol.datagramReceived(request(MessageType.OFFER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.counters["drop:unexpected-offer"], 1)
        self.assertEqual(self.counters["received:offer"], 1)
        self.assertEqual(self.transport.written, [])

    def test_reply_too_large(self) -> None:
        reply = reply_message()
        reply.options[61] = b"\x01" * 700
        core = FakeCore(Outcome("ack", reply=Reply(reply, Destination(BROADCAST, 68), False)))
        protocol = self.make_protocol(core)
        protocol.datagramReceived(request(MessageType.DISCOVER, o_57=b"\x02\x40").to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.counters["drop:reply-too-large"], 1)
        self.assertEqual(self.transport.written, [])


class ExchangeTests(ProtocolTestsBase):
    def test_discover_offer_l2_unicast(self) -> None:
        protocol = self.make_protocol(self.real_core())
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        [(offer, addr)] = self.written()
        self.assertEqual(offer.message_type, MessageType.OFFER)
        self.assertEqual(offer.yiaddr, A("10.0.0.10"))
        self.assertEqual(offer.xid, 0x42)
        self.assertEqual(addr, ("10.0.0.10", 68))
        self.assertEqual(self.neighbour_calls, [("eth0", A("10.0.0.10"), MAC)])
        self.assertEqual(self.counters["received:discover"], 1)
        self.assertEqual(self.counters["offer"], 1)
        self.assertEqual(self.counters["sent"], 1)

    def test_neighbour_fails_broadcast(self) -> None:
        def refuse(ifname, address, mac):
            raise OSError(1, "Operation not permitted")

        protocol = self.make_protocol(self.real_core(), neighbour=refuse)
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        [(offer, addr)] = self.written()
        self.assertEqual(offer.yiaddr, A("10.0.0.10"))
        self.assertEqual(addr, ("255.255.255.255", 68))
        self.assertEqual(self.counters["send-failure:neighbour-table"], 1)
        [warning] = [e for e in self.events if e["log_level"] == LogLevel.warn]
        self.assertEqual(warning["path"], "neighbour table")

    def test_no_neighbour_access_broadcast(self) -> None:
        protocol = self.make_protocol(self.real_core(), neighbour=None)
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual([addr for _, addr in self.written()], [("255.255.255.255", 68)])

    def test_broadcast_flag_no_neighbour(self) -> None:
        protocol = self.make_protocol(self.real_core())
        m = request(MessageType.DISCOVER)
        m.flags = FLAG_BROADCAST
        protocol.datagramReceived(m.to_bytes(), ("0.0.0.0", 68))
        self.assertEqual([addr for _, addr in self.written()], [("255.255.255.255", 68)])
        self.assertEqual(self.neighbour_calls, [])

    def test_relayed_reply_to_relay(self) -> None:
        protocol = self.make_protocol(self.real_core())
        m = request(MessageType.DISCOVER)
        m.giaddr = A("10.0.0.2")
        m.hops = 1
        protocol.datagramReceived(m.to_bytes(), ("10.0.0.2", 67))
        self.assertEqual([addr for _, addr in self.written()], [("10.0.0.2", 67)])

    def test_ack_only_after_commit(self) -> None:
        store = ControlledCommitStore()
        protocol = self.make_protocol(self.real_core(store))
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        [(offer, _)] = self.written()
        self.transport.written.clear()
        self.assertEqual(store.pending, [])
        req = request(MessageType.REQUEST, o_54=SERVER.packed, o_50=offer.yiaddr.packed)
        protocol.datagramReceived(req.to_bytes(), ("0.0.0.0", 68))
        # The binding is in the index, but nothing goes out before the commit.
        self.assertEqual(store.get(offer.yiaddr).client_key, b"\x01" + MAC)
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.counters["ack"], 1)
        [d] = store.pending
        d.callback(None)
        [(ack, addr)] = self.written()
        self.assertEqual(ack.message_type, MessageType.ACK)
        self.assertEqual(ack.yiaddr, offer.yiaddr)
        self.assertEqual(addr, (str(offer.yiaddr), 68))
        self.assertEqual(self.counters["sent"], 2)

    def test_failed_commit_sends_nothing(self) -> None:
        store = ControlledCommitStore()
        protocol = self.make_protocol(self.real_core(store), log_exchanges=False)
        req = request(MessageType.REQUEST, o_54=SERVER.packed, o_50=A("10.0.0.12").packed)
        protocol.datagramReceived(req.to_bytes(), ("0.0.0.0", 68))
        [d] = store.pending
        d.errback(LeaseStoreError("disk full"))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.counters["drop:commit-failed"], 1)
        self.assertEqual(self.counters["sent"], 0)
        [event] = self.events
        self.assertEqual(event["log_level"], LogLevel.error)
        self.assertEqual(event["error"], "disk full")
        self.assertIsNone(self.successResultOf(d))

    def test_commit_conflict_lost_becomes_nak(self) -> None:
        """
        The shared database gave the address to another server's client:
        the store's index shows that client when committed() fires. No ACK
        leaves; the core decides again on the corrected index and NAKs the
        REQUEST (RFC 2131 4.3.2: the requested address is not available).
        Kea's HA pair answers the same way when its partner holds the lease.
        """
        store = ControlledCommitStore()
        protocol = self.make_protocol(self.real_core(store), log_exchanges=False)
        address = A("10.0.0.12")
        req = request(MessageType.REQUEST, o_54=SERVER.packed, o_50=address.packed)
        protocol.datagramReceived(req.to_bytes(), ("0.0.0.0", 68))
        [d] = store.pending
        winner = store.get(address)
        store.put(Lease(address, LeaseState.BOUND, b"\x01other", b"\x02" * 6, winner.expires, "", NOW))
        d.callback(None)
        [(nak, addr)] = self.written()
        self.assertEqual(nak.message_type, MessageType.NAK)
        self.assertEqual(self.counters["drop:commit-conflict-lost"], 1)
        self.assertEqual(self.counters["ack"], 1)
        self.assertEqual(self.counters["received:request"], 1)
        self.assertEqual(store.get(address).client_key, b"\x01other")

    def test_discover_dropped_while_commit_backlog_full(self) -> None:
        """
        With C{max_pending_acks} replies waiting for their commit, a new
        DISCOVER is dropped and counted before anything is decided; a
        REQUEST still gets its ACK once committed, and DISCOVERs are
        answered again as soon as the backlog falls below the limit (a
        failed commit leaves it too). Kea bounds the same wait with its
        packet queue (C{packet-queue-size}, 64 by default) and drops what
        does not fit, instead of answering after the client gave up.
        """
        store = ControlledCommitStore()
        backlog = AckBacklog(2)
        protocol = ServerProtocol(self.real_core(store), "eth0", self.counters, False, self.neighbour,
                                  clock=self.clock, backlog=backlog)
        protocol.makeConnection(self.transport)
        for address in ("10.0.0.12", "10.0.0.13"):
            req = request(MessageType.REQUEST, o_54=SERVER.packed, o_50=A(address).packed)
            protocol.datagramReceived(req.to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(backlog.pending, 2)
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.counters["drop:commit-backlog"], 1)
        self.assertEqual(self.counters["offer"], 0)
        self.assertEqual(self.transport.written, [])
        req = request(MessageType.REQUEST, o_54=SERVER.packed, o_50=A("10.0.0.14").packed)
        protocol.datagramReceived(req.to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(backlog.pending, 3)
        first, second, third = store.pending
        first.errback(LeaseStoreError("disk full"))
        second.callback(None)
        self.assertEqual(backlog.pending, 1)
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.counters["offer"], 1)
        third.callback(None)
        self.assertEqual(backlog.pending, 0)
        self.assertEqual([m.message_type for m, _ in self.written()], [MessageType.ACK, MessageType.OFFER, MessageType.ACK])
        self.assertEqual(self.counters["drop:commit-backlog"], 1)

    def test_a_read_burst_waits_for_one_commit(self) -> None:
        """
        The datagrams of one read burst are decided one by one; their ACKs
        wait for one commit, asked for after the last binding of the burst,
        and all leave when it fires; the OFFER in the same burst goes at
        once. The backlog counts each ACK. (Kea, one thread, writes each
        lease to memfile as it is decided and answers at once: it does not
        wait for a disk at all.)
        """
        store = ControlledCommitStore()
        backlog = AckBacklog(10)
        protocol = ServerProtocol(self.real_core(store), "eth0", self.counters, False, self.neighbour,
                                  clock=self.clock, backlog=backlog)
        protocol.makeConnection(self.transport)
        burst = [
            (request(MessageType.REQUEST, o_54=SERVER.packed, o_50=A(address).packed).to_bytes(), ("0.0.0.0", 68), 0.0)
            for address in ("10.0.0.12", "10.0.0.13")
        ]
        other = request(MessageType.DISCOVER)
        other.chaddr = b"\x02\x00\x00\x00\x00\x08" + bytes(10)
        burst.insert(1, (other.to_bytes(), ("0.0.0.0", 68), 0.0))
        protocol.stampedDatagramsReceived(burst)
        self.assertEqual(self.counters["ack"], 2)
        self.assertEqual(backlog.pending, 2)
        self.assertEqual([m.message_type for m, _ in self.written()], [MessageType.OFFER])
        [d] = store.pending
        d.callback(None)
        self.assertEqual(backlog.pending, 0)
        acks = [m for m, _ in self.written() if m.message_type == MessageType.ACK]
        self.assertEqual([m.yiaddr for m in acks], [A("10.0.0.12"), A("10.0.0.13")])

    def test_a_failed_commit_fails_the_whole_burst(self) -> None:
        store = ControlledCommitStore()
        protocol = self.make_protocol(self.real_core(store), log_exchanges=False)
        protocol.stampedDatagramsReceived([
            (request(MessageType.REQUEST, o_54=SERVER.packed, o_50=A(address).packed).to_bytes(), ("0.0.0.0", 68), 0.0)
            for address in ("10.0.0.12", "10.0.0.13")
        ])
        [d] = store.pending
        d.errback(LeaseStoreError("disk full"))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.counters["drop:commit-failed"], 2)
        self.assertEqual(protocol.backlog.pending, 0)

    def test_one_datagram_failing_does_not_cost_the_burst(self) -> None:
        """
        An exception on one datagram of a burst is logged and counted; the
        others are still answered.
        """
        protocol = self.make_protocol(self.real_core(), log_exchanges=False)
        received = protocol._received
        calls: list = []

        def flaky(data, addr, waited):
            calls.append(addr)
            if len(calls) == 1:
                raise RuntimeError("boom")
            received(data, addr, waited)

        protocol._received = flaky
        discover = request(MessageType.DISCOVER).to_bytes()
        protocol.stampedDatagramsReceived([(discover, ("0.0.0.1", 68), 0.0), (discover, ("0.0.0.0", 68), 0.0)])
        self.assertEqual(self.counters["drop:internal-error"], 1)
        self.assertEqual(self.counters["offer"], 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 0)
        self.assertTrue(any(e.get("log_failure") for e in self.events))

    def test_discover_dropped_after_waiting_in_the_queue(self) -> None:
        """
        A DISCOVER that waited longer than C{max_queue_wait} in the socket
        is dropped and counted before anything is decided; a REQUEST that
        waited as long is still answered (its client has an offer and
        waits for the ACK). Without the limit nothing is dropped. Kea in
        multi-threaded mode bounds the same wait with its packet queue
        (C{packet-queue-size}), dropping the oldest packets.
        """
        store = ControlledCommitStore()
        protocol = ServerProtocol(self.real_core(store), "eth0", self.counters, False, self.neighbour,
                                  clock=self.clock, max_queue_wait=0.5)
        protocol.makeConnection(self.transport)
        discover = request(MessageType.DISCOVER).to_bytes()
        protocol.stampedDatagramReceived(discover, ("0.0.0.0", 68), 0.6)
        self.assertEqual((self.counters["drop:queue-wait"], self.counters["offer"]), (1, 0))
        protocol.stampedDatagramReceived(discover, ("0.0.0.0", 68), 0.4)
        [(offer, _)] = self.written()
        req = request(MessageType.REQUEST, o_54=SERVER.packed, o_50=offer.yiaddr.packed)
        protocol.stampedDatagramReceived(req.to_bytes(), ("0.0.0.0", 68), 5.0)
        self.assertEqual(self.counters["ack"], 1)
        protocol.max_queue_wait = 0
        protocol.stampedDatagramReceived(discover, ("0.0.0.0", 68), 60.0)
        self.assertEqual((self.counters["drop:queue-wait"], self.counters["offer"]), (1, 2))

    def test_commit_backlog_limit_zero_never_drops(self) -> None:
        backlog = AckBacklog(0)
        backlog.pending = 10**6
        self.assertFalse(backlog.full())

    def test_nak_not_waiting_for_commit(self) -> None:
        store = ControlledCommitStore()
        protocol = self.make_protocol(self.real_core(store))
        req = request(MessageType.REQUEST, o_50=A("10.9.9.9").packed)
        protocol.datagramReceived(req.to_bytes(), ("0.0.0.0", 68))
        [(nak, addr)] = self.written()
        self.assertEqual(nak.message_type, MessageType.NAK)
        self.assertEqual(addr, ("255.255.255.255", 68))
        self.assertEqual(store.pending, [])
        self.assertEqual(self.counters["nak:wrong-network"], 1)

    def test_reply_honours_max_message_size(self) -> None:
        reply = reply_message(MessageType.OFFER)
        for code in range(160, 200):
            reply.options[code] = bytes((code,)) * 20
        core = FakeCore(Outcome("offer", reply=Reply(reply, Destination(BROADCAST, 68), False)))
        protocol = self.make_protocol(core)
        protocol.datagramReceived(request(MessageType.DISCOVER, o_57=b"\x02\x40").to_bytes(), ("0.0.0.0", 68))
        [(data, _)] = self.transport.written
        self.assertLessEqual(len(data), 548)
        # A larger limit lets the whole reply go.
        protocol.datagramReceived(request(MessageType.DISCOVER, o_57=b"\x05\xdc").to_bytes(), ("0.0.0.0", 68))
        self.assertGreater(len(self.transport.written[1][0]), 548)
        self.assertEqual(decode_message(self.transport.written[1][0]).options, reply.options)

    def test_reply_without_max_message_size_fits_576(self) -> None:
        """
        Issue 12.5: with no option 57 a reply reached 966 bytes. RFC 2131
        section 2 and RFC 2132 section 9.10 give 576 bytes unless the client
        says more. ISC dhcpd 4.4 fits such a reply by overloading file and
        then sname (option 52) before it drops anything; we do the same,
        and keep first what the client's option 55 lists first.
        """
        reply = reply_message(MessageType.OFFER)
        for code in range(160, 200):
            reply.options[code] = bytes((code,)) * 20
        core = FakeCore(Outcome("offer", reply=Reply(reply, Destination(BROADCAST, 68), False)))
        protocol = self.make_protocol(core)
        prl = bytes(range(199, 159, -1))
        protocol.datagramReceived(request(MessageType.DISCOVER, o_55=prl).to_bytes(), ("0.0.0.0", 68))
        [(data, _)] = self.transport.written
        self.assertLessEqual(len(data) + 28, 576)
        sent = decode_message(data)
        kept = sorted(c for c in range(160, 200) if c in sent.options)
        # The options listed first in 55 (the highest codes) are the ones kept.
        self.assertEqual(kept, list(range(200 - len(kept), 200)))
        # 13 in the options field (304 bytes less 53 and 54), 5 in file, 2 in sname.
        self.assertEqual(len(kept), 20)
        self.assertEqual(data[240:243], b"\x34\x01\x03")

    def test_long_client_id_needs_option_57(self) -> None:
        """
        A 600-byte client identifier must be echoed (RFC 6842): without an
        option 57 the reply cannot fit 576 bytes and is dropped, counted;
        with option 57 = 1500 it is answered.
        """
        protocol = self.make_protocol(self.real_core())
        client_id = b"\x00" + bytes(599)
        protocol.datagramReceived(request(MessageType.DISCOVER, o_61=client_id).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.counters["drop:reply-too-large"], 1)
        self.assertEqual(self.transport.written, [])
        protocol.datagramReceived(request(MessageType.DISCOVER, o_61=client_id, o_57=b"\x05\xdc").to_bytes(),
                                  ("0.0.0.0", 68))
        [(offer, _)] = self.written()
        self.assertEqual(offer.options[61], client_id)

    def test_max_message_size_below_576_answered(self) -> None:
        """
        Issue 12.6: option 57 below 576 dropped the request; Kea answers it.
        It is read as 576.
        """
        protocol = self.make_protocol(self.real_core())
        protocol.datagramReceived(request(MessageType.DISCOVER, o_57=b"\x01\x00").to_bytes(), ("0.0.0.0", 68))
        [(offer, _)] = self.written()
        self.assertEqual(offer.message_type, MessageType.OFFER)
        self.assertEqual(self.counters["malformed-option:57"], 0)

    def test_request_without_end_answered(self) -> None:
        """
        Issue 12.6: a zero-padded DISCOVER with no END option was dropped;
        Kea and dhcpd answer it (RFC 2131 section 4.1 needs END only when
        file/sname carry options).
        """
        protocol = self.make_protocol(self.real_core())
        data = request(MessageType.DISCOVER).to_bytes()
        end = data.rindex(b"\xff")
        protocol.datagramReceived(data[:end] + b"\x00" * (len(data) - end), ("0.0.0.0", 68))
        [(offer, _)] = self.written()
        self.assertEqual(offer.message_type, MessageType.OFFER)

    def test_exchange_logged_once(self) -> None:
        protocol = self.make_protocol(self.real_core())
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        [event] = self.events
        self.assertEqual(event["log_level"], LogLevel.info)
        self.assertEqual((event["request"], event["event"], event["mac"]), ("DISCOVER", "OFFER", "02:00:00:00:00:07"))

    def test_exchange_not_logged_when_disabled(self) -> None:
        protocol = self.make_protocol(self.real_core(), log_exchanges=False)
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.events, [])
        self.assertEqual(len(self.transport.written), 1)


class SendReplyTests(ProtocolTestsBase):
    def test_no_transport(self) -> None:
        protocol = ServerProtocol(FakeCore(), "eth0", self.counters)
        protocol.send_reply(b"data", Destination(BROADCAST, 68))
        self.assertEqual(self.counters["sent"], 0)

    def test_send_error_counted(self) -> None:
        def fail(data, addr):
            raise OSError(101, "Network is unreachable")

        self.transport.write = fail
        protocol = self.make_protocol(FakeCore())
        protocol.send_reply(b"data", Destination(A("10.0.0.5"), 68))
        self.assertEqual(self.counters["send-failure:udp-socket"], 1)
        self.assertEqual(self.counters["sent"], 0)

    def test_plain_unicast_skips_neighbour(self) -> None:
        protocol = self.make_protocol(FakeCore())
        protocol.send_reply(b"data", Destination(A("10.0.0.5"), 68))
        self.assertEqual(self.transport.written, [(b"data", ("10.0.0.5", 68))])
        self.assertEqual(self.neighbour_calls, [])

    def test_writes_straight_to_socket_when_there_is_one(self) -> None:
        sent = []

        class SocketTransport(FakeDatagramTransport):
            class socket:
                @staticmethod
                def sendto(data, addr):
                    sent.append((data, addr))

        self.transport = SocketTransport()
        protocol = self.make_protocol(FakeCore())
        protocol.send_reply(b"data", Destination(A("10.0.0.5"), 68))
        self.assertEqual(sent, [(b"data", ("10.0.0.5", 68))])
        self.assertEqual(self.transport.written, [])

    def test_log_prefix(self) -> None:
        self.assertEqual(self.make_protocol(FakeCore()).logPrefix(), "dhcp4-server eth0")


@implementer(ILinkSender)
class RecordingLink:
    """
    An L{ILinkSender} that records frames' parameters, or fails with
    C{error}.
    """

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple] = []
        self.error = error
        self.closed = 0

    def send(self, payload, source, destination, port, mac) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((decode_message(payload), source, destination, port, mac))

    def close(self) -> None:
        self.closed += 1


class LinkSenderTests(ProtocolTestsBase):
    """
    Issue 12.9: with the host's neighbour table full, adding the ARP entry
    failed with ENOBUFS and the broadcast fallback was dropped by the
    kernel, so clients got no reply at all. Kea (raw mode) and ISC dhcpd
    build the frame on a packet socket and answered normally; so do we, for
    every reply to a client on the link.
    """

    def make_linked(self, link: RecordingLink, neighbour="default") -> ServerProtocol:
        protocol = ServerProtocol(
            self.real_core(), "eth0", self.counters, False,
            self.neighbour if neighbour == "default" else neighbour, clock=self.clock, link=link,
        )
        protocol.log = Logger(namespace="test", observer=self.events.append)
        protocol.makeConnection(self.transport)
        return protocol

    def test_verify_link_sender(self) -> None:
        self.assertTrue(verifyObject(ILinkSender, RecordingLink()))

    def test_l2_unicast_through_link_without_neighbour_entry(self) -> None:
        link = RecordingLink()
        self.make_linked(link).datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        [(offer, source, destination, port, mac)] = link.sent
        self.assertEqual(offer.message_type, MessageType.OFFER)
        self.assertEqual((source, destination, port, mac), (SERVER, A("10.0.0.10"), 68, MAC))
        self.assertEqual(self.neighbour_calls, [])
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.counters["sent"], 1)

    def test_broadcast_to_client_through_link(self) -> None:
        link = RecordingLink()
        m = request(MessageType.DISCOVER)
        m.flags = FLAG_BROADCAST
        self.make_linked(link).datagramReceived(m.to_bytes(), ("0.0.0.0", 68))
        [(_, source, destination, port, mac)] = link.sent
        self.assertEqual((source, destination, port, mac), (SERVER, BROADCAST, 68, b"\xff" * 6))
        self.assertEqual(self.transport.written, [])

    def test_relay_and_ciaddr_replies_take_the_kernel_route(self) -> None:
        link = RecordingLink()
        protocol = self.make_linked(link)
        relayed = request(MessageType.DISCOVER)
        relayed.giaddr = A("10.0.0.2")
        protocol.datagramReceived(relayed.to_bytes(), ("10.0.0.2", 67))
        inform = request(MessageType.INFORM)
        inform.ciaddr = A("10.0.0.50")
        protocol.datagramReceived(inform.to_bytes(), ("10.0.0.50", 68))
        self.assertEqual([addr for _, addr in self.written()], [("10.0.0.2", 67), ("10.0.0.50", 68)])
        self.assertEqual(link.sent, [])

    def test_link_failure_falls_back_counted_and_throttled(self) -> None:
        link = RecordingLink(OSError(105, "No buffer space available"))
        protocol = self.make_linked(link)
        for _ in range(5):
            protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        # Each reply still went out, through the ARP entry and the UDP socket.
        self.assertEqual([addr for _, addr in self.written()], [("10.0.0.10", 68)] * 5)
        self.assertEqual(len(self.neighbour_calls), 5)
        self.assertEqual(self.counters["send-failure:packet-socket"], 5)
        self.assertEqual(self.counters["sent"], 5)
        [warning] = self.events
        self.assertEqual(warning["log_level"], LogLevel.warn)
        self.assertIn("No buffer space available", formatEvent(warning))
        self.clock.advance(SEND_FAILURE_LOG_INTERVAL)
        self.assertEqual(self.events[1]["path_counts"], {"packet-socket": 4})

    def test_everything_failing_is_counted_per_path(self) -> None:
        def refuse(ifname, address, mac):
            raise OSError(105, "No buffer space available")

        def fail(data, addr):
            raise OSError(105, "No buffer space available")

        link = RecordingLink(OSError(100, "Network is down"))
        protocol = self.make_linked(link, neighbour=refuse)
        protocol._write = fail
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(
            {k: v for k, v in self.counters.items() if k.startswith("send-failure:")},
            {"send-failure:packet-socket": 1, "send-failure:neighbour-table": 1, "send-failure:udp-socket": 1},
        )
        self.assertEqual(self.counters["sent"], 0)
        self.assertEqual([e["path"] for e in self.events], ["packet socket", "neighbour table", "udp socket"])

    def test_no_source_address_uses_udp(self) -> None:
        link = RecordingLink()
        protocol = self.make_linked(link)
        protocol.send_reply(b"data", Destination(A("10.0.0.10"), 68, MAC))
        self.assertEqual(link.sent, [])
        self.assertEqual(self.transport.written, [(b"data", ("10.0.0.10", 68))])

    def test_link_closed_with_the_protocol(self) -> None:
        link = RecordingLink()
        protocol = self.make_linked(link)
        protocol.doStop()
        self.assertEqual(link.closed, 1)
        self.assertIsNone(protocol.link)


class ProtocolExceptionTests(ProtocolTestsBase):
    """
    Any exception from encoding a reply (struct.error for an out-of-range
    header field such as xid 2**32, not only ValueError) is counted as
    drop:internal-error and logged; nothing reaches the reactor, as the
    module promises.
    """

    def test_encoder_exception_contained(self) -> None:
        reply = reply_message()
        reply.xid = 2**32
        core = FakeCore(Outcome("ack", reply=Reply(reply, Destination(BROADCAST, 68), False)))
        protocol = self.make_protocol(core)
        protocol.datagramReceived(request(MessageType.DISCOVER).to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(self.transport.written, [])
        self.assertEqual(self.counters["drop:internal-error"], 1)
