"""
Tests for L{dhcpsuite.server.service.ServerService} with a memory reactor:
one adopted port per interface, the periodic reclaim, and a clean stop.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from ipaddress import IPv4Address

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from dhcpsuite.config import parse_config_text
from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.leases.sqlite import SQLiteLeaseStore
from dhcpsuite.server.protocol import ServerProtocol
from dhcpsuite.server.service import LEASE_DB_NAME, ServerService, ServerStartError, collect_less, make_server_service
from tests.unit.test_lease_stores import ThreadCallReactor

A = IPv4Address

CONFIG = """
[server]
lease_store = "memory"
listen = ["relay0"]
reclaim_interval = 60
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "eth0"
pool = "10.0.0.10-10.0.0.20"
[[server.subnet]]
subnet = "10.1.0.0/24"
server_address = "10.0.0.1"
pool = "10.1.0.10-10.1.0.20"
"""


def server_config(text: str = CONFIG):
    return parse_config_text(text).section("server")


class RecordingPort:
    def __init__(self) -> None:
        self.stopped = 0
        self.maxThroughput = None

    def stopListening(self) -> None:
        self.stopped += 1


class FakeReactor(MemoryReactorClock, ThreadCallReactor):
    """
    Records adopted ports (with ports that record being stopped) and queues
    callFromThread calls for the test to run.
    """

    def __init__(self) -> None:
        MemoryReactorClock.__init__(self)
        ThreadCallReactor.__init__(self)
        self.ports: list[RecordingPort] = []

    def adoptDatagramPort(self, fileno, addressFamily, protocol, maxPacketSize=8192):
        super().adoptDatagramPort(fileno, addressFamily, protocol, maxPacketSize)
        port = RecordingPort()
        self.ports.append(port)
        return port


@implementer(ILeaseStore)
class ClosingStore(MemoryLeaseStore):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    def close(self):
        self.closed += 1
        return super().close()


class ServiceTestsBase(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = FakeReactor()
        self.opened: list[tuple[str, int, socket.socket]] = []
        self.addresses = {"eth0": A("10.0.0.1")}

    def open_socket(self, ifname: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        self.opened.append((ifname, port, sock))
        return sock

    def interface_address(self, ifname: str):
        return self.addresses.get(ifname)

    def make_service(self, config=None, store=None, state_dir: str = "/nonexistent", **kw) -> ServerService:
        return ServerService(
            config or server_config(),
            state_dir,
            reactor=self.reactor,
            store=store if store is not None else ClosingStore(),
            open_socket=self.open_socket,
            interface_address=self.interface_address,
            port=6767,
            **kw,
        )


class StartStopTests(ServiceTestsBase):
    def test_name(self) -> None:
        self.assertEqual(self.make_service().name, "dhcp4-server")

    def test_one_port_per_interface(self) -> None:
        service = self.make_service()
        service.startService()
        self.assertTrue(service.running)
        self.assertEqual([(name, port) for name, port, _ in self.opened], [("eth0", 6767), ("relay0", 6767)])
        self.assertEqual(len(self.reactor.adoptedPorts), 2)
        for (fileno, family, protocol, size), (name, _, sock) in zip(self.reactor.adoptedPorts, self.opened):
            self.assertEqual(family, socket.AF_INET)
            self.assertIsInstance(protocol, ServerProtocol)
            self.assertEqual(protocol.interface, name)
            self.assertIs(protocol.core, service.core)
            self.assertIs(protocol.counters, service.counters)
            self.assertEqual(size, 65535)
            self.assertGreaterEqual(fileno, 0)
            # The reactor has its own duplicate; ours is closed.
            self.assertEqual(sock.fileno(), -1)
        self.assertEqual(service.ports, self.reactor.ports)

    def test_malformed_log_paced_by_the_service_reactor(self) -> None:
        service = self.make_service()
        service.startService()
        protocol = self.reactor.adoptedPorts[0][2]
        calls = set(self.reactor.getDelayedCalls())
        protocol.datagramReceived(b"junk", ("10.0.0.99", 68))
        self.assertEqual(service.counters["drop:truncated"], 1)
        [timer] = set(self.reactor.getDelayedCalls()) - calls
        self.reactor.advance(10)
        self.assertFalse(timer.active())
        self.successResultOf(service.stopService())

    def test_server_id_from_interface(self) -> None:
        service = self.make_service()
        service.startService()
        self.assertEqual([s.server_id for s in service.core.subnets], [A("10.0.0.1"), A("10.0.0.1")])
        self.assertIs(service.core.store, service.store)

    def test_configured_server_address_wins(self) -> None:
        self.addresses = {}
        config = server_config(CONFIG.replace('interface = "eth0"', 'interface = "eth0"\nserver_address = "10.0.0.254"'))
        service = self.make_service(config)
        service.startService()
        self.assertEqual(service.core.subnets[0].server_id, A("10.0.0.254"))

    def test_interface_without_address(self) -> None:
        self.addresses = {}
        service = self.make_service()
        e = self.assertRaises(ServerStartError, service.startService)
        self.assertIn("eth0", str(e))
        self.assertIn("10.0.0.0/24", str(e))
        self.assertEqual(self.reactor.adoptedPorts, [])
        self.assertEqual(self.opened, [])

    def test_socket_refused(self) -> None:
        def open_socket(ifname, port):
            if ifname == "relay0":
                raise OSError(98, "Address already in use")
            return self.open_socket(ifname, port)

        service = ServerService(
            server_config(), "/nonexistent", reactor=self.reactor, store=ClosingStore(),
            open_socket=open_socket, interface_address=self.interface_address, port=6767,
        )
        e = self.assertRaises(ServerStartError, service.startService)
        self.assertEqual(str(e), "cannot listen on relay0 port 6767: Address already in use")
        # The port already open is closed again.
        [port] = self.reactor.ports
        self.assertEqual(port.stopped, 1)
        self.assertEqual(service.ports, [])

    def test_privileged_start_then_start_opens_once(self) -> None:
        service = self.make_service()
        service.privilegedStartService()
        service.startService()
        self.assertEqual(len(self.reactor.adoptedPorts), 2)
        # The housekeeping tick (reclaim slice and pool-usage step).
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)

    def test_stop_closes_ports_and_store(self) -> None:
        store = ClosingStore()
        service = self.make_service(store=store)
        service.startService()
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        d = service.stopService()
        self.assertIsNone(self.successResultOf(d))
        self.assertFalse(service.running)
        self.assertEqual([p.stopped for p in self.reactor.ports], [1, 1])
        self.assertEqual(service.ports, [])
        self.assertEqual(store.closed, 1)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_stop_before_start(self) -> None:
        store = ClosingStore()
        service = self.make_service(store=store)
        self.successResultOf(service.stopService())
        self.assertEqual(store.closed, 1)

    def test_reclaim_runs_on_the_reactor_clock(self) -> None:
        store = ClosingStore()
        lease = Lease(A("10.0.0.10"), LeaseState.BOUND, b"\x01client", b"\x02" * 6, 30.0, "", 0.0)
        store.put(lease)
        service = self.make_service(store=store)
        service.startService()
        # At start (time 0) the lease still holds; a store this small is
        # looked at whole every tick.
        self.assertIs(store.get(lease.address).state, LeaseState.BOUND)
        self.reactor.pump([1.0] * 29)
        self.assertIs(store.get(lease.address).state, LeaseState.BOUND)
        self.reactor.advance(1)
        self.assertIs(store.get(lease.address).state, LeaseState.EXPIRED)
        self.successResultOf(service.stopService())

    def test_reclaim_looks_at_a_slice_of_the_store_each_tick(self) -> None:
        # reclaim_interval = 60 (CONFIG), 120 lapsed leases: 2 a tick, all
        # within the interval, and none looked at twice before the rest.
        store = ClosingStore()
        for n in range(120):
            store.put(Lease(A(f"10.0.0.{10 + n}"), LeaseState.BOUND, b"c%d" % n, b"\x02" * 6, 5.0, "", 0.0))
        service = self.make_service(store=store)
        service.startService()
        self.reactor.advance(10)
        self.assertEqual(sum(lease.state is LeaseState.EXPIRED for lease in store.leases()), 2)
        self.reactor.advance(1)
        self.assertEqual(sum(lease.state is LeaseState.EXPIRED for lease in store.leases()), 4)
        self.reactor.pump([1.0] * 60)
        self.assertTrue(all(lease.state is LeaseState.EXPIRED for lease in store.leases()))
        self.successResultOf(service.stopService())

    def test_collector_set_once_the_store_is_loaded(self) -> None:
        store = ClosingStore()
        calls = []
        service = self.make_service(store=store, collector=lambda: calls.append(len(store)))
        store.put(Lease(A("10.0.0.10"), LeaseState.BOUND, b"\x01client", b"\x02" * 6, 30.0, "", 0.0))
        self.assertEqual(calls, [])
        service.startService()
        self.assertEqual(calls, [1])
        self.successResultOf(service.stopService())

    def test_collect_less(self) -> None:
        """
        The daemon's collector setting: what lives at start is frozen out
        of full collections, and the youngest generation is collected ten
        times less often than Python's default (each DORA allocates a few
        dozen containers; BENCHMARKS.md, speed round three).
        """
        import gc

        from dhcpsuite.server.service import GC_YOUNGEST_THRESHOLD, collect_less

        threshold = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *threshold)
        self.addCleanup(gc.unfreeze)
        gc.set_threshold(700, 10, 10)
        collect_less()
        self.assertEqual(gc.get_threshold(), (GC_YOUNGEST_THRESHOLD, 10, 10))
        self.assertGreaterEqual(GC_YOUNGEST_THRESHOLD, 7000)
        self.assertGreater(gc.get_freeze_count(), 0)
        # A higher setting of the operator's (PYTHON* or a plugin) stays.
        gc.set_threshold(50000, 10, 10)
        collect_less()
        self.assertEqual(gc.get_threshold()[0], 50000)

    def test_make_server_service(self) -> None:
        service = make_server_service(server_config(), "/state", reactor=self.reactor)
        self.assertIs(service._collector, collect_less)
        self.assertIsInstance(service, ServerService)
        self.assertEqual(service.state_dir, "/state")
        self.assertIs(service.reactor, self.reactor)
        self.assertIsNone(service.store)
        self.assertFalse(service.running)


class StoreServiceTestsBase(ServiceTestsBase):
    def setUp(self) -> None:
        super().setUp()
        self.directory = tempfile.mkdtemp(prefix="dhcpsuite-service-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def run_thread_calls_until(self, d):
        [result] = self.reactor.run_until(d)
        return result

    def service_without_store(self, lease_store: str) -> ServerService:
        config = server_config(CONFIG.replace('lease_store = "memory"', f'lease_store = "{lease_store}"'))
        return ServerService(
            config, self.directory, reactor=self.reactor, open_socket=self.open_socket,
            interface_address=self.interface_address, port=6767,
        )



class StoreCreationTests(StoreServiceTestsBase):
    def test_memory_store(self) -> None:
        service = self.service_without_store("memory")
        service.startService()
        self.assertIsInstance(service.store, MemoryLeaseStore)
        self.successResultOf(service.stopService())

    def test_sqlite_store_in_state_dir(self) -> None:
        service = self.service_without_store("sqlite")
        service.startService()
        store = service.store
        self.assertIsInstance(store, SQLiteLeaseStore)
        self.assertEqual(store.path, os.path.join(self.directory, LEASE_DB_NAME))
        self.assertTrue(os.path.exists(store.path))
        self.assertIsNone(self.run_thread_calls_until(service.stopService()))
        self.assertTrue(store.join(10))
        self.assertTrue(store._closed)


class RestartTests(StoreServiceTestsBase):
    """
    A stopped and restarted service runs on a working store: the store it
    made and closed on stop is replaced by a new one on start, so the first
    durable put after a restart (every ACK) is stored.
    """

    def test_restart_has_working_store(self) -> None:
        service = self.service_without_store("sqlite")
        service.startService()
        first = service.store
        self.run_thread_calls_until(service.stopService())
        first.join(10)
        service.startService()
        self.addCleanup(lambda: self.run_thread_calls_until(service.stopService()))
        self.assertIsNot(service.store, first)
        self.assertTrue(first._closed)
        stored = Lease(A("10.0.0.10"), LeaseState.BOUND, b"\x01c", b"\x02" * 6, 100.0, "", 0.0)
        service.store.put(stored)
        self.assertIsNone(self.run_thread_calls_until(service.store.committed()))
        self.assertEqual(service.store.get(A("10.0.0.10")), stored)


class FailedStartTests(ServiceTestsBase):
    """
    A start that fails (ServerStartError: the interface had no address yet)
    leaves the service able to try again: the next startService() opens the
    ports instead of returning at once with no sockets.
    """

    def test_retry_after_failed_start(self) -> None:
        self.addresses = {}
        service = self.make_service()
        self.assertRaises(ServerStartError, service.startService)
        self.addresses = {"eth0": A("10.0.0.1")}
        service.startService()
        self.assertEqual(len(self.reactor.adoptedPorts), 2)


class HealthTests(ServiceTestsBase):
    def test_health_follows_running(self) -> None:
        service = self.make_service()
        self.assertFalse(service.health()["ok"])
        service.startService()
        self.assertEqual(service.health(), {"ok": True, "interfaces": ["eth0", "relay0"], "store": "memory"})
        self.successResultOf(service.stopService())
        self.assertFalse(service.health()["ok"])

    def test_pool_usage_counts_holding_leases(self) -> None:
        store = ClosingStore()
        store.put(Lease(A("10.0.0.10"), LeaseState.BOUND, b"\x01a", b"\x02" * 6, 100.0, "", 0.0))
        store.put(Lease(A("10.0.0.11"), LeaseState.RELEASED, b"\x01b", b"\x02" * 6, 100.0, "", 0.0))
        store.put(Lease(A("10.1.0.10"), LeaseState.OFFERED, b"\x01c", b"\x02" * 6, 5.0, "", 0.0))
        service = self.make_service(store=store)
        service.startService()
        self.assertEqual(
            service.pool_usage(),
            [
                {"subnet": "10.0.0.0/24", "pool": "10.0.0.10-10.0.0.20", "size": 11, "active": 1, "free": 10},
                {"subnet": "10.1.0.0/24", "pool": "10.1.0.10-10.1.0.20", "size": 11, "active": 1, "free": 10},
            ],
        )
        self.successResultOf(service.stopService())
