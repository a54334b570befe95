"""
Tests for L{dhcpsuite.server.allocation.AllocationEngine} on its own: the
order in which an address is chosen, the refusals, and that every address
freed goes back to its own subnet. (Through L{ServerCore}, the same engine
is exercised by test_server_decide, _conformance and _hardening.)
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import parse_config_text
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.allocation import AllocationEngine, ClientContext, Refused

A = IPv4Address
NOW = 1_000.0
CONFIG = """
[server]
max_bindings_per_mac = 1
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "lan0"
pool = ["10.0.0.10-10.0.0.11"]
[[server.subnet.reservation]]
mac = "02:00:00:00:00:aa"
address = "10.0.0.50"
[[server.subnet]]
subnet = "10.1.0.0/24"
server_address = "10.1.0.1"
pool = ["10.1.0.10-10.1.0.11"]
"""


def client(n: int, **kw) -> ClientContext:
    mac = bytes((2, 0, 0, 0, 0, n))
    return ClientContext(kw.pop("key", b"\x01" + mac), mac, None, **kw)


class AllocationEngineTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.config = parse_config_text(CONFIG).section("server")
        self.store = MemoryLeaseStore()
        self.engine = AllocationEngine(self.config, self.store)
        self.a, self.b = self.engine.subnets

    def hold(self, address: str, n: int, state: LeaseState = LeaseState.BOUND, key: bytes | None = None) -> None:
        c = client(n) if key is None else client(n, key=key)
        self.engine.put(Lease(A(address), state, c.key, c.mac, NOW + 100, "", NOW))

    def test_reservation_then_own_then_requested_then_fresh(self) -> None:
        reservation = self.config.subnets[0].reservations[0]
        self.assertEqual(self.engine.choose(client(0xAA, reservation=reservation), self.a, NOW), A("10.0.0.50"))
        self.hold("10.0.0.11", 1, LeaseState.RELEASED)
        self.assertEqual(self.engine.choose(client(1), self.a, NOW), A("10.0.0.11"))
        self.assertEqual(self.engine.choose(client(2, requested=A("10.0.0.11")), self.a, NOW), A("10.0.0.11"))
        self.assertEqual(self.engine.choose(client(3), self.a, NOW), A("10.0.0.10"))

    def test_refusals(self) -> None:
        self.hold("10.0.0.10", 1)
        self.hold("10.0.0.11", 2)
        self.assertEqual(self.assertRaises(Refused, self.engine.choose, client(3), self.a, NOW).reason, "pool-exhausted")
        other_id = client(1, key=b"\x00other")
        self.assertEqual(self.engine.new_holding_refused(other_id, self.b, NOW), "")
        self.hold("10.1.0.10", 1, key=b"\x00third")
        self.assertEqual(self.engine.new_holding_refused(other_id, self.b, NOW), "mac-binding-limit")

    def test_reserved_address_not_available_to_others(self) -> None:
        self.assertFalse(self.engine.available_to(A("10.0.0.50"), client(1), self.a, NOW))
        self.assertTrue(self.engine.available_to(A("10.0.0.10"), client(1), self.a, NOW))

    def test_freed_address_goes_to_its_own_subnet(self) -> None:
        self.hold("10.0.0.10", 1)
        self.hold("10.0.0.11", 2)
        self.hold("10.1.0.10", 3)
        self.engine.put(Lease(A("10.1.0.10"), LeaseState.RELEASED, b"x", b"", NOW, "", NOW))
        self.engine.free(A("10.1.0.10"))
        self.assertRaises(Refused, self.engine.choose, client(4), self.a, NOW + 1)
        # B reuses it (after its one fresh address).
        self.assertEqual(self.engine.choose(client(5), self.b, NOW + 1), A("10.1.0.11"))
        self.hold("10.1.0.11", 5)
        self.assertEqual(self.engine.choose(client(6), self.b, NOW + 1), A("10.1.0.10"))

    def test_reclaim_frees_lapsed_bindings(self) -> None:
        self.hold("10.0.0.10", 1)
        self.assertEqual(self.engine.reclaim(NOW + 101), 1)
        self.assertEqual(self.store.get(A("10.0.0.10")).state, LeaseState.EXPIRED)

    def test_quarantine_order_survives_a_restart(self) -> None:
        """
        After a restart the cap still ends the longest quarantined first,
        whatever order the store lists its leases in.
        """
        for address, declined_at in (("10.0.0.11", NOW + 5), ("10.0.0.10", NOW)):
            self.store.put(Lease(A(address), LeaseState.DECLINED, b"", b"", declined_at + 600, "", declined_at))
        engine = AllocationEngine(self.config, self.store)
        pools = engine.subnets[0]
        pools.quarantine.limit = 2
        self.assertEqual([l.address for l in pools.quarantine.to_release(self.store)], [A("10.0.0.10")])
