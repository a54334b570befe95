# -*- test-case-name: tests.unit.test_ingest_protocol -*-
"""
The PULL protocol on a StringTransport with a Clock: header at once, peer
header check, 1 s handshake timeout, framing errors close only that
connection, nothing written after the header.
"""

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.ingest import sp
from dhcpsuite.ingest.protocol import Limits, PullFactory
from tests.unit.test_ingest_sp import Collector, stream


class ProtocolTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.got = Collector()
        self.factory = PullFactory(self.got, self.clock, limits=Limits(max_message_size=4096))

    def connect(self):
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def lose(self, protocol):
        protocol.connectionLost(None)

    def test_header_sent_at_once_and_nothing_after(self):
        protocol, transport = self.connect()
        self.assertEqual(transport.value(), sp.PULL_HEADER)
        protocol.dataReceived(stream(b"a", b"b"))
        self.clock.advance(10)
        self.assertEqual(transport.value(), sp.PULL_HEADER)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(self.got.messages, [b"a", b"b"])
        self.lose(protocol)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_handshake_timeout(self):
        protocol, transport = self.connect()
        self.clock.advance(0.999)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.002)
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.factory.counters["closed.handshake-timeout"], 1)
        self.lose(protocol)

    def test_half_header_then_stall(self):
        protocol, transport = self.connect()
        protocol.dataReceived(sp.PUSH_HEADER[:3])
        self.clock.advance(1.0)
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.factory.counters["closed.handshake-timeout"], 1)
        self.lose(protocol)

    def test_bad_headers_close(self):
        for head, reason in (
            (sp.header(0x20), "wrong-protocol"),  # a PUB peer
            (sp.PUSH_HEADER[:6] + b"\0\1", "bad-reserved"),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01", "bad-magic"),  # TLS hello
        ):
            protocol, transport = self.connect()
            protocol.dataReceived(head + sp.frame(b"x"))
            self.assertTrue(transport.disconnected)
            self.assertEqual(transport.value(), sp.PULL_HEADER)
            self.assertEqual(self.factory.counters[f"closed.{reason}"], 1)
            self.assertEqual(self.clock.getDelayedCalls(), [])
            protocol.dataReceived(sp.frame(b"ignored"))
            self.lose(protocol)
        self.assertEqual(self.got.messages, [])

    def test_oversize_closes(self):
        protocol, transport = self.connect()
        protocol.dataReceived(stream(b"first") + (2 ** 63).to_bytes(8, "big"))
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.got.messages, [b"first"])
        self.assertEqual(self.factory.counters["closed.oversize"], 1)
        self.lose(protocol)

    def test_connections_counted_and_aborted(self):
        (p1, t1), (p2, t2) = self.connect(), self.connect()
        self.assertEqual((self.factory.counters["connections"], self.factory.counters["connections_open"]), (2, 2))
        self.factory.abort_all()
        self.assertTrue(t1.disconnected and t2.disconnected)
        self.lose(p1)
        self.lose(p2)
        self.assertEqual(self.factory.counters["connections_open"], 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_one_bad_connection_does_not_affect_another(self):
        (good, tg), (bad, tb) = self.connect(), self.connect()
        good.dataReceived(sp.PUSH_HEADER)
        bad.dataReceived(b"garbage!" * 4)
        good.dataReceived(sp.frame(b"still here"))
        self.assertTrue(tb.disconnected)
        self.assertFalse(tg.disconnecting)
        self.assertEqual(self.got.messages, [b"still here"])
        self.lose(good)
        self.lose(bad)


class LimitTests(SynchronousTestCase):
    """
    What one local process can make the endpoint hold: connections, time
    per begun message, idle time, buffered bytes. nanomsg itself bounds
    none of these (only the handshake, and the message size at 1 MiB).
    """

    def setUp(self):
        self.clock = Clock()
        self.got = Collector()
        self.limits = Limits(max_message_size=1 << 20, max_connections=3, message_timeout=5.0, idle_timeout=30.0,
                             max_buffered=1000)
        self.factory = PullFactory(self.got, self.clock, limits=self.limits)
        self.open = []

    def tearDown(self):
        for protocol, _ in self.open:
            protocol.connectionLost(None)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.factory.buffered, 0)

    def connect(self):
        protocol = self.factory.buildProtocol(None)
        if protocol is None:
            return None, None
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.open.append((protocol, transport))
        return protocol, transport

    def test_connection_limit(self):
        """
        One connection over the limit, while every open one is active, is
        refused at once (Twisted closes the accepted socket when
        buildProtocol gives None) and counted; when one closes, the next is
        accepted.
        """
        for _ in range(3):
            self.assertIsNotNone(self.connect()[0])
        self.assertEqual(self.connect(), (None, None))
        self.assertEqual(self.connect(), (None, None))
        self.assertEqual(self.factory.counters["refused.connection-limit"], 2)
        protocol, _ = self.open.pop(0)
        protocol.connectionLost(None)
        self.assertIsNotNone(self.connect()[0])
        self.assertEqual(self.factory.counters["connections_open"], 3)

    def test_quiet_connection_makes_room(self):
        """
        At the limit, a new connection takes the place of the one quiet
        longest once that one has been quiet for the handshake timeout: 1011
        idle connections cannot keep a real push out for the idle timeout.
        """
        (a, ta), (b, tb), (c, tc) = self.connect(), self.connect(), self.connect()
        for protocol in (a, b, c):
            protocol.dataReceived(sp.PUSH_HEADER)
        self.clock.advance(0.5)
        b.dataReceived(sp.frame(b"busy"))
        c.dataReceived(sp.frame(b"busy"))
        self.assertEqual(self.connect(), (None, None))  # a quiet for 0.5 s only
        self.clock.advance(0.5)
        d, td = self.connect()
        self.assertIsNotNone(d)
        self.assertTrue(ta.disconnected)
        self.assertFalse(tb.disconnecting or tc.disconnecting)
        self.assertEqual(self.factory.counters["closed.evicted"], 1)
        self.assertEqual(self.factory.counters["refused.connection-limit"], 1)
        self.assertEqual(len(self.factory.protocols), 3)
        d.dataReceived(sp.PUSH_HEADER + sp.frame(b"real push"))
        self.assertEqual(self.got.messages, [b"busy", b"busy", b"real push"])

    def test_begun_message_must_complete_in_time(self):
        """
        A message dribbled one byte a second is closed 5 s after its first
        byte: reads do not extend the deadline.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(sp.PUSH_HEADER)
        data = sp.frame(b"m" * 100)
        for index in range(5):
            protocol.dataReceived(data[index:index + 1])
            self.clock.advance(0.999)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.01)
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.factory.counters["closed.message-timeout"], 1)

    def test_message_deadline_restarts_with_each_message(self):
        protocol, transport = self.connect()
        protocol.dataReceived(sp.PUSH_HEADER)
        for _ in range(4):
            data = sp.frame(b"m" * 100)
            protocol.dataReceived(data[:50])
            self.clock.advance(4)
            protocol.dataReceived(data[50:])
        self.assertFalse(transport.disconnecting)
        self.assertEqual(len(self.got.messages), 4)

    def test_stream_split_mid_message_lives_on(self):
        """
        A long stream whose every read ends inside a message (any busy
        sender on TCP) is not a stalled message: each message's deadline
        starts with it.
        """
        protocol, transport = self.connect()
        data = sp.PUSH_HEADER + b"".join(sp.frame(b"m" * 100) for _ in range(30))
        step = 108  # one message's length; every read ends 8 bytes into the next
        for start in range(0, len(data), step):
            protocol.dataReceived(data[start:start + step])
            self.clock.advance(1)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(len(self.got.messages), 30)

    def test_idle_timeout(self):
        """
        Between messages a connection may idle 30 s; each message restarts
        that time.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(sp.PUSH_HEADER)
        for _ in range(3):
            self.clock.advance(29)
            protocol.dataReceived(sp.frame(b"keep"))
        self.assertFalse(transport.disconnecting)
        self.clock.advance(29.9)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(0.2)
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.factory.counters["closed.idle-timeout"], 1)
        self.assertEqual(self.got.messages, [b"keep"] * 3)

    def test_handshake_not_extended_by_dribbling(self):
        protocol, transport = self.connect()
        for index in range(7):
            self.clock.advance(0.15)
            protocol.dataReceived(sp.PUSH_HEADER[index:index + 1])
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.factory.counters["closed.handshake-timeout"], 1)

    def test_buffer_budget_across_connections(self):
        """
        1000 bytes may wait across all connections: the connection whose read
        goes beyond closes, and its bytes are given back; the others go on.
        """
        (first, t1), (second, t2) = self.connect(), self.connect()
        message = sp.frame(b"a" * 700)
        first.dataReceived(sp.PUSH_HEADER + message[:600])
        second.dataReceived(sp.PUSH_HEADER + message[:500])
        self.assertTrue(t2.disconnected)
        self.assertFalse(t1.disconnecting)
        self.assertEqual(self.factory.counters["closed.buffer-budget"], 1)
        self.assertEqual(self.factory.buffered, 592)
        first.dataReceived(message[600:])
        self.assertEqual(self.got.messages, [b"a" * 700])
        self.assertEqual(self.factory.buffered, 0)
        # Whole messages in one read are never buffered, whatever their size.
        third, t3 = self.connect()
        third.dataReceived(sp.PUSH_HEADER + sp.frame(b"b" * 5000))
        self.assertFalse(t3.disconnecting)
        self.assertEqual(self.got.messages[-1], b"b" * 5000)

    def test_buffer_given_back_when_connection_lost(self):
        protocol, transport = self.connect()
        protocol.dataReceived(sp.PUSH_HEADER + sp.frame(b"x" * 900)[:400])
        self.assertEqual(self.factory.buffered, 392)  # the length prefix is consumed
        self.open.remove((protocol, transport))
        protocol.connectionLost(None)
        self.assertEqual(self.factory.buffered, 0)


class IpcProtocolTests(SynchronousTestCase):
    def test_ipc_framing(self):
        got = Collector()
        factory = PullFactory(got, Clock(), transport=sp.TRANSPORT_IPC)
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(sp.PUSH_HEADER + sp.frame(b"one", sp.TRANSPORT_IPC) + sp.frame(b"two", sp.TRANSPORT_IPC))
        self.assertEqual(got.messages, [b"one", b"two"])
        protocol.dataReceived(sp.frame(b"tcp-framed"))
        self.assertTrue(transport.disconnected)
        self.assertEqual(factory.counters["closed.bad-message-type"], 1)
        protocol.connectionLost(None)
