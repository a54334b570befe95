"""
Tests for L{dhcpsuite.server.holdings}: the per-MAC and quarantine indexes
stay exact under the core's changes and forget what changed behind them.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import attrs
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.holdings import MacHoldings, Quarantine

NET = IPv4Network("10.0.0.0/24")
MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x0b"


def lease(last: int, state: LeaseState, mac: bytes = MAC_A, key: bytes = b"k1", expires: float = 100.0) -> Lease:
    return Lease(IPv4Address(f"10.0.0.{last}"), state, key, mac, expires)


class MacHoldingsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = MemoryLeaseStore()
        self.holdings = MacHoldings()

    def put(self, new: Lease) -> None:
        old = self.store.get(new.address)
        self.store.put(new)
        self.holdings.changed(old, new)

    def test_counts_live_offers_and_bindings_by_mac(self) -> None:
        self.put(lease(1, LeaseState.BOUND, key=b"k1"))
        self.put(lease(2, LeaseState.OFFERED, key=b"k2"))
        self.put(lease(3, LeaseState.BOUND, key=b"k3", expires=5.0))
        self.put(lease(4, LeaseState.BOUND, mac=MAC_B))
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 10.0, b"other"), 2)
        # The asking client's own holdings are not counted against it.
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 10.0, b"k1"), 1)
        self.assertEqual(self.holdings.held(MAC_A, IPv4Network("10.1.0.0/24"), self.store, 10.0, b"other"), 0)

    def test_address_moving_to_another_mac_or_state(self) -> None:
        self.put(lease(1, LeaseState.BOUND))
        self.put(lease(1, LeaseState.OFFERED, mac=MAC_B, key=b"k9"))
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 0.0, b""), 0)
        self.put(attrs.evolve(self.store.get(IPv4Address("10.0.0.1")), state=LeaseState.EXPIRED))
        self.assertEqual(self.holdings.held(MAC_B, NET, self.store, 0.0, b""), 0)
        self.assertEqual(len(self.holdings), 0)

    def test_usual_clients_cost_no_entry(self) -> None:
        """
        A client whose key is hardware type 1 and its MAC (chaddr, or an
        option 61 of that form: most clients) is found through the store's
        index by client key; only the others are kept here. Both count.
        """
        self.put(lease(1, LeaseState.BOUND, key=b"\x01" + MAC_A))
        self.put(lease(2, LeaseState.OFFERED, key=b"\x01" + MAC_B, mac=MAC_B))
        self.assertEqual(len(self.holdings), 0)
        # The same host under a DUID-style client identifier, and a key
        # with another hardware type.
        self.put(lease(3, LeaseState.BOUND, key=b"\xff\x00\x00\x00\x01duid"))
        self.put(lease(4, LeaseState.BOUND, key=b"\x06" + MAC_A))
        self.assertEqual(len(self.holdings), 1)
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 10.0, b"other"), 3)
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 10.0, b"\x01" + MAC_A), 2)
        self.assertEqual(self.holdings.held(MAC_B, NET, self.store, 10.0, b"other"), 1)
        # A usual key now held with another MAC is not MAC_A's.
        self.put(lease(1, LeaseState.BOUND, key=b"\x01" + MAC_A, mac=MAC_B))
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 10.0, b"other"), 2)
        self.put(attrs.evolve(self.store.get(IPv4Address("10.0.0.3")), state=LeaseState.RELEASED))
        self.put(attrs.evolve(self.store.get(IPv4Address("10.0.0.4")), state=LeaseState.RELEASED))
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 10.0, b"other"), 0)
        # Left: 10.0.0.1, whose key is no longer MAC_B's usual one.
        self.assertEqual(len(self.holdings), 1)
        self.assertEqual(self.holdings.held(MAC_B, NET, self.store, 10.0, b"other"), 2)

    def test_loaded_from_the_store_as_if_each_lease_was_put(self) -> None:
        for new in (lease(1, LeaseState.BOUND, key=b"\x01" + MAC_A), lease(2, LeaseState.BOUND, key=b"k2"),
                    lease(3, LeaseState.OFFERED, mac=MAC_B, key=b"k3"), lease(4, LeaseState.EXPIRED, key=b"k4"),
                    lease(5, LeaseState.DECLINED, key=b"k5"), lease(6, LeaseState.BOUND, key=b"k6")):
            self.put(new)
        loaded = MacHoldings()
        loaded.load(self.store)
        self.assertEqual(loaded._by_mac, self.holdings._by_mac)
        self.assertEqual(loaded._by_mac, {MAC_A: {int(IPv4Address("10.0.0.2")), int(IPv4Address("10.0.0.6"))},
                                          MAC_B: int(IPv4Address("10.0.0.3"))})

    def test_stale_entries_are_forgotten_when_read(self) -> None:
        self.put(lease(1, LeaseState.BOUND))
        self.put(lease(2, LeaseState.BOUND, key=b"k2"))
        self.store.remove(IPv4Address("10.0.0.1"))
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 0.0, b""), 1)
        self.store.remove(IPv4Address("10.0.0.2"))
        self.assertEqual(self.holdings.held(MAC_A, NET, self.store, 0.0, b""), 0)
        self.assertEqual(len(self.holdings), 0)


class QuarantineTests(SynchronousTestCase):
    def test_oldest_first_and_stale_skipped(self) -> None:
        store = MemoryLeaseStore()
        quarantine = Quarantine(2)
        for last in (1, 2):
            declined = lease(last, LeaseState.DECLINED)
            store.put(declined)
            quarantine.changed(None, declined)
        self.assertEqual([l.address for l in quarantine.to_release(store)], [IPv4Address("10.0.0.1")])
        # An entry whose lease left quarantine behind its back is not released again.
        store.remove(IPv4Address("10.0.0.1"))
        self.assertEqual(quarantine.to_release(store), [])
        self.assertEqual(len(quarantine), 1)
        ended = attrs.evolve(store.get(IPv4Address("10.0.0.2")), state=LeaseState.EXPIRED)
        quarantine.changed(store.get(ended.address), ended)
        self.assertEqual(len(quarantine), 0)
