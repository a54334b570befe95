"""
With netlink, the server serves an interface only while it is ready (up,
carrier, addressed in its subnet), learning its server identifier from the
interface's address.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Interface

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.config import parse_config_text
from dhcpsuite.dhcp4.constants import MessageType
from dhcpsuite.interfaces import IReadinessListener
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.service import ServerService
from tests.unit.test_server_decide import request

CONFIG = """
[server]
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "lan0"
pool = ["10.0.0.10-10.0.0.20"]
"""


class FakeReadiness:
    def __init__(self, ready: dict[str, bool]) -> None:
        self.ready = ready
        self.watched: dict[str, object] = {}
        self.listeners: list = []

    def watch(self, ifname, subnet=None, debounce=None):
        self.watched[ifname] = subnet
        return self.ready.get(ifname, False)

    def unwatch(self, ifname):
        self.watched.pop(ifname, None)

    def add_listener(self, listener):
        self.listeners.append(listener)

    def remove_listener(self, listener):
        self.listeners.remove(listener)


def start_gated_service(test, text: str) -> ServerService:
    """
    A started server over C{text} gated by C{test.readiness}, its interface
    addresses from C{test.addresses}, its sockets from C{test.open_socket}.
    """
    service = ServerService(
        parse_config_text(text).section("server"),
        "/nonexistent",
        reactor=test.reactor,
        store=MemoryLeaseStore(),
        open_socket=test.open_socket,
        readiness=test.readiness,
        addresses_of=lambda ifname: test.addresses.get(ifname, []),
    )
    service.startService()
    test.addCleanup(service.stopService)
    return service


class ReadinessGatingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.readiness = FakeReadiness({"lan0": False})
        self.addresses = {"lan0": [IPv4Interface("10.0.0.1/24"), IPv4Interface("192.0.2.9/24")]}
        self.sockets: list[socket.socket] = []
        self.service = start_gated_service(self, CONFIG)

    def open_socket(self, ifname: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        return sock

    def test_waits_until_ready(self) -> None:
        verifyObject(IReadinessListener, self.service)
        self.assertEqual({k: str(v) for k, v in self.readiness.watched.items()}, {"lan0": "10.0.0.0/24"})
        self.assertEqual(self.reactor.adoptedPorts, [])
        outcome = self.service.core.handle(request(MessageType.DISCOVER, 1), "lan0")
        self.assertEqual((outcome.event, outcome.reason), ("drop", "interface-not-ready"))

    def test_serves_when_ready_and_stops_when_not(self) -> None:
        self.readiness.listeners[0].readiness_changed("lan0", True)
        self.assertEqual(len(self.reactor.adoptedPorts), 1)
        offer = self.service.core.handle(request(MessageType.DISCOVER, 1), "lan0")
        self.assertEqual(offer.event, "offer")
        self.assertEqual(offer.reply.message.option(54), IPv4Address("10.0.0.1"))
        self.readiness.listeners[0].readiness_changed("lan0", False)
        self.assertEqual(self.service.ports, [])
        outcome = self.service.core.handle(request(MessageType.DISCOVER, 2), "lan0")
        self.assertEqual(outcome.reason, "interface-not-ready")
        # Back again: served again, with the (possibly new) address.
        self.addresses["lan0"] = [IPv4Interface("10.0.0.254/24")]
        self.readiness.listeners[0].readiness_changed("lan0", True)
        self.assertEqual(len(self.service.ports), 1)
        again = self.service.core.handle(request(MessageType.DISCOVER, 3), "lan0")
        self.assertEqual(again.reply.message.option(54), IPv4Address("10.0.0.254"))

    def test_ready_at_start(self) -> None:
        self.readiness = FakeReadiness({"lan0": True})
        service = start_gated_service(self, CONFIG)
        self.assertEqual(len(service.ports), 1)

    def test_renumbered_while_ready_moves_the_server_identifier(self) -> None:
        listener = self.readiness.listeners[0]
        listener.readiness_changed("lan0", True)
        # A second address in the subnet: the identifier stays.
        self.addresses["lan0"] = [IPv4Interface("10.0.0.2/24"), IPv4Interface("10.0.0.1/24")]
        listener.readiness_changed("lan0", True)
        offer = self.service.core.handle(request(MessageType.DISCOVER, 1), "lan0")
        self.assertEqual(offer.reply.message.option(54), IPv4Address("10.0.0.1"))
        # The old one removed: the identifier moves, the socket stays open.
        self.addresses["lan0"] = [IPv4Interface("10.0.0.2/24")]
        listener.readiness_changed("lan0", True)
        self.assertEqual(len(self.reactor.adoptedPorts), 1)
        offer = self.service.core.handle(request(MessageType.DISCOVER, 2), "lan0")
        self.assertEqual(offer.reply.message.option(54), IPv4Address("10.0.0.2"))
