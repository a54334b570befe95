"""
Tests for L{dhcpsuite.server.packetsocket} (the frame written for a reply,
with a fake socket) and for how the server service picks and opens it
(C{[server] link_replies}). The real socket is exercised in
tests/integration/test_server_neighbour_table.py.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import attrs

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from twisted.logger import Logger, LogLevel
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.interfaces import ILinkSender
from dhcpsuite.server.packetsocket import PacketSocketSender
from dhcpsuite.server.service import LINK_SENDERS
from tests.unit.test_server_service import ServiceTestsBase, server_config

A = IPv4Address
OURS = b"\x02\x00\x00\x00\x00\x01"
CLIENT = b"\x02\x00\x00\x00\x00\x07"


class FakeSocket:
    def __init__(self, short: int = 0) -> None:
        self.frames: list[bytes] = []
        self.short = short
        self.closed = False

    def send(self, frame: bytes) -> int:
        self.frames.append(frame)
        return len(frame) - self.short

    def close(self) -> None:
        self.closed = True


class PacketSocketSenderTests(SynchronousTestCase):
    def test_verify(self) -> None:
        self.assertTrue(verifyObject(ILinkSender, PacketSocketSender(FakeSocket(), OURS)))

    def test_frame_from_port_67_to_the_client(self) -> None:
        sock = FakeSocket()
        PacketSocketSender(sock, OURS).send(b"dhcp" * 80, A("10.0.0.1"), A("10.0.0.10"), 68, CLIENT)
        [frame] = sock.frames
        parsed = Ether(frame)
        self.assertEqual((parsed.src, parsed.dst), ("02:00:00:00:00:01", "02:00:00:00:00:07"))
        self.assertEqual((parsed[IP].src, parsed[IP].dst), ("10.0.0.1", "10.0.0.10"))
        self.assertEqual((parsed[UDP].sport, parsed[UDP].dport), (67, 68))
        self.assertEqual(bytes(parsed[UDP].payload), b"dhcp" * 80)

    def test_short_write_is_an_error(self) -> None:
        sender = PacketSocketSender(FakeSocket(short=1), OURS)
        self.assertRaises(OSError, sender.send, b"x", A("10.0.0.1"), A("10.0.0.10"), 68, CLIENT)

    def test_close(self) -> None:
        sock = FakeSocket()
        PacketSocketSender(sock, OURS).close()
        self.assertTrue(sock.closed)


class ServiceLinkSenderTests(ServiceTestsBase):
    def opener(self, error: Exception | None = None):
        opened = []

        def open_link(ifname: str):
            if error is not None:
                raise error
            sender = PacketSocketSender(FakeSocket(), OURS)
            opened.append((ifname, sender))
            return sender

        return opened, open_link

    def test_table_names_every_choice(self) -> None:
        self.assertEqual(set(LINK_SENDERS), {"packet-socket", "udp-socket"})
        self.assertIsNone(LINK_SENDERS["udp-socket"])

    def test_packet_socket_opened_per_interface(self) -> None:
        opened, open_link = self.opener()
        service = self.make_service(link_senders={"packet-socket": open_link, "udp-socket": None})
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(sorted(name for name, _ in opened), ["eth0", "relay0"])
        links = {p.interface: p.link for p in self.adopted_protocols()}
        self.assertEqual(links, {name: sender for name, sender in opened})

    def test_udp_socket_choice_opens_none(self) -> None:
        opened, open_link = self.opener()
        config = attrs.evolve(server_config(), link_replies="udp-socket")
        service = self.make_service(config, link_senders={"packet-socket": open_link, "udp-socket": None})
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(opened, [])
        self.assertEqual({p.link for p in self.adopted_protocols()}, {None})

    def test_open_failure_warns_counts_and_still_serves(self) -> None:
        events: list[dict] = []
        _, open_link = self.opener(PermissionError(1, "Operation not permitted"))
        service = self.make_service(link_senders={"packet-socket": open_link, "udp-socket": None})
        service.log = Logger(namespace="test", observer=events.append)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(len(self.adopted_protocols()), 2)
        self.assertEqual({p.link for p in self.adopted_protocols()}, {None})
        self.assertEqual(service.counters["send-failure:packet-socket-open"], 2)
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual([e["interface"] for e in warnings], ["eth0", "relay0"])

    def test_without_table_no_packet_socket(self) -> None:
        service = self.make_service()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual({p.link for p in self.adopted_protocols()}, {None})

    def adopted_protocols(self) -> list:
        return [protocol for _, _, protocol, _ in self.reactor.adoptedPorts]


class MetricsTests(SynchronousTestCase):
    def test_send_failures_and_malformed_options_exported(self) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        from tests.unit.test_control import call, make_daemon

        daemon, resource = make_daemon()
        daemon.server.counters.update(
            {"send-failure:packet-socket": 2, "send-failure:neighbour-table": 1, "malformed-option:12": 5}
        )
        text = b"".join(call(resource, "GET", "metrics").written).decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        failures = {s.labels["path"]: s.value for s in families["dhcpsuite_server_send_failures"].samples
                    if s.name.endswith("_total")}
        self.assertEqual(failures, {"packet-socket": 2.0, "neighbour-table": 1.0})
        malformed = {s.labels["option"]: s.value for s in families["dhcpsuite_server_malformed_options"].samples
                     if s.name.endswith("_total")}
        self.assertEqual(malformed, {"12": 5.0})
