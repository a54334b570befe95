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
from dhcpsuite.ingest.protocol import PullFactory
from tests.unit.test_ingest_sp import Collector, stream


class ProtocolTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.got = Collector()
        self.factory = PullFactory(self.got, self.clock, max_message_size=4096)

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
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.lose(protocol)

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
