# -*- test-case-name: tests.unit.test_ingest_service -*-
"""
make_ingest_service on a MemoryReactor: where it listens, what it wires, and
that stopping closes every connection.
"""

from twisted.application.service import IService
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.ingest import sp
from dhcpsuite.ingest.config import IngestConfig
from dhcpsuite.ingest.service import make_ingest_service
from dhcpsuite.interfaces import IComponentHealth
from dhcpsuite.leases.registry import FAMILY_V4, LeaseRegistry
from dhcpsuite.netlink.testing import RecordingConfigurator
from tests.unit.test_ingest_layout import build


class ServiceTests(SynchronousTestCase):
    def make(self, **cfg):
        self.reactor = MemoryReactorClock()
        self.registry = LeaseRegistry()
        self.configurator = RecordingConfigurator()
        service = make_ingest_service(IngestConfig(**cfg), self.registry, self.configurator, reactor=self.reactor)
        self.assertTrue(IService.providedBy(service))
        return service

    def connect(self, service):
        protocol = service.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def test_default_endpoint(self):
        service = self.make()
        service.privilegedStartService()
        service.startService()
        [(port, factory, _, interface)] = self.reactor.tcpServers
        self.assertEqual((port, interface), (50324, "127.0.0.1"))
        self.assertIs(factory, service.factory)
        self.assertIsNotNone(self.successResultOf(service.when_listening()))
        verifyObject(IComponentHealth, service)
        health = service.health()
        # MemoryReactor's fake port reports 0.0.0.0 whatever the interface.
        self.assertEqual((health["ok"], health["listening"].rsplit(":", 1)[1]), (True, "50324"))
        self.assertEqual(health["counters"], {"messages": 0})
        self.successResultOf(service.stopService())
        self.assertFalse(service.health()["ok"])

    def test_message_reaches_registry_and_counters(self):
        service = self.make(interfaces=("erouter0",), apply_to_interface=True)
        service.startService()
        protocol, transport = self.connect(service)
        message = build("x86_64", 0, "erouter0", {"addressAssigned": 1, "address": "10.0.0.5",
                                                  "netmask": "255.255.255.0", "dhcpState": "bound"})
        protocol.dataReceived(sp.PUSH_HEADER + sp.frame(message) + sp.frame(b"junk"))
        lease = self.registry.lease("erouter0", FAMILY_V4)
        self.assertEqual(str(lease.address), "10.0.0.5")
        self.assertEqual(self.configurator.calls_to("add_address")[0]["ifname"], "erouter0")
        counters = service.counters
        self.assertEqual((counters["connections"], counters["accepted.v4"], counters["rejected.unknown-size"],
                          counters["outcome.v4.updated"]), (1, 1, 1, 1))
        self.successResultOf(service.stopService())
        self.assertTrue(transport.disconnected)
        protocol.connectionLost(None)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_apply_off_by_default(self):
        service = self.make(accept_unmanaged=True)
        protocol, transport = self.connect(service)
        protocol.dataReceived(sp.PUSH_HEADER + sp.frame(build("x86_64", 0, "any0", {
            "addressAssigned": 1, "address": "10.0.0.5"})))
        self.assertIsNotNone(self.registry.lease("any0", FAMILY_V4))
        self.assertEqual(self.configurator.calls, [])
        protocol.connectionLost(None)

    def test_handshake_timeout_from_config(self):
        service = self.make(handshake_timeout=2.5)
        protocol, transport = self.connect(service)
        self.reactor.advance(2.4)
        self.assertFalse(transport.disconnected)
        self.reactor.advance(0.2)
        self.assertTrue(transport.disconnected)
        protocol.connectionLost(None)

    def test_ipc_endpoint(self):
        """
        An ipc:// endpoint listens on a UNIX socket with mode 0600 (unless
        ipc_mode says otherwise) and frames as nanomsg's IPC transport.
        """
        service = self.make(endpoint="ipc:///run/test-ingest.sock", interfaces=("erouter0",))
        service.startService()
        [(path, factory, _, mode, want_pid)] = self.reactor.unixServers
        self.assertEqual((path, mode, want_pid), ("/run/test-ingest.sock", 0o600, False))
        self.assertEqual(factory.transport, sp.TRANSPORT_IPC)
        protocol, transport = self.connect(service)
        message = build("x86_64", 0, "erouter0", {"addressAssigned": 1, "address": "10.0.0.5",
                                                  "netmask": "255.255.255.0", "dhcpState": "bound"})
        protocol.dataReceived(sp.PUSH_HEADER + sp.frame(message, sp.TRANSPORT_IPC))
        self.assertEqual(str(self.registry.lease("erouter0", FAMILY_V4).address), "10.0.0.5")
        protocol.connectionLost(None)

    def test_hostile_lease_refused_and_counted(self):
        """
        The attack: with apply_to_interface, a pushed lease put a multicast
        address, a 0.0.0.0 gateway and MTU 68 on a managed interface. Now
        each is refused, counted by reason, and nothing is applied.
        """
        service = self.make(interfaces=("erouter0",), apply_to_interface=True)
        protocol, transport = self.connect(service)
        protocol.dataReceived(sp.PUSH_HEADER)
        for fields in ({"address": "224.0.0.1", "netmask": "255.255.255.0"},
                       {"address": "10.0.0.5", "netmask": "255.255.255.0", "gateway": "0.0.0.0"},
                       {"address": "10.0.0.5", "netmask": "255.255.255.0", "gateway": "192.0.2.1"},
                       {"address": "10.0.0.5", "netmask": "255.255.255.0", "mtuAssigned": 1, "mtuSize": 68}):
            protocol.dataReceived(sp.frame(build("x86_64", 0, "erouter0", dict(fields, addressAssigned=1))))
        counters = service.counters
        self.assertEqual([counters[f"rejected.{reason}"] for reason in (
            "address-not-unicast", "gateway-not-unicast", "gateway-not-on-link", "mtu-too-small")], [1, 1, 1, 1])
        self.assertEqual((self.configurator.calls, self.registry.snapshot()), ([], {}))
        protocol.connectionLost(None)

    def test_unmanaged_interfaces_bounded(self):
        service = self.make(accept_unmanaged=True, interfaces=("erouter0",), max_unmanaged_interfaces=10)
        protocol, transport = self.connect(service)
        protocol.dataReceived(sp.PUSH_HEADER)
        for index in range(100):
            protocol.dataReceived(sp.frame(build("x86_64", 0, f"fake{index}", {
                "addressAssigned": 1, "address": "10.0.0.5", "netmask": "255.255.255.0"})))
        protocol.dataReceived(sp.frame(build("x86_64", 0, "erouter0", {
            "addressAssigned": 1, "address": "10.0.0.5", "netmask": "255.255.255.0"})))
        self.assertEqual(len(self.registry.interfaces()), 11)
        self.assertEqual(service.counters["rejected.registry-full"], 90)
        self.assertIsNotNone(self.registry.lease("erouter0", FAMILY_V4))
        protocol.connectionLost(None)

    def test_connection_limit_from_config(self):
        service = self.make(max_connections=2)
        first, second = self.connect(service), self.connect(service)
        self.assertIsNone(service.factory.buildProtocol(None))
        self.assertEqual(service.counters["refused.connection-limit"], 1)
        for protocol, _ in (first, second):
            protocol.connectionLost(None)

    def test_refusals_reach_metrics(self):
        """
        Every refusal is a counter of the service, and so a sample of
        dhcpsuite_ingest_events_total in /metrics.
        """
        from dhcpsuite.config import parse_config_text
        from dhcpsuite.control.metrics import render_metrics
        from dhcpsuite.daemon import Daemon

        service = self.make(interfaces=("erouter0",), apply_to_interface=True, max_connections=1)
        protocol, transport = self.connect(service)
        self.assertIsNone(service.factory.buildProtocol(None))
        protocol.dataReceived(sp.PUSH_HEADER + sp.frame(build("x86_64", 0, "erouter0", {
            "addressAssigned": 1, "address": "127.0.0.1", "netmask": "255.0.0.0"})))
        self.reactor.advance(30)
        text = render_metrics(Daemon(config=parse_config_text(""), ingest=service)).decode()
        for event in ("refused.connection-limit", "rejected.address-not-unicast", "closed.idle-timeout"):
            self.assertIn(f'dhcpsuite_ingest_events_total{{event="{event}"}} 1.0', text)
        protocol.connectionLost(None)
