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
