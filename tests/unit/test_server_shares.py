"""
Tests for L{dhcpsuite.server.shares}: the free-address shares of a
cluster's live members, and the allocation engine offering new clients
only its own share until it is empty.

isc-dhcpd failover balances a pool's free addresses between two peers by
its own protocol (each peer offers only its own); Kea HA load-balancing
splits clients by a hash of their identity (RFC 3074). Here the members
split addresses by rendezvous hashing over the live members' names, which
every member reads from the shared database.
"""

from __future__ import annotations

import collections
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.config import parse_config_text
from dhcpsuite.interfaces import IAddressShare
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.leases.stores import make_share
from dhcpsuite.server.allocation import AllocationEngine, ClientContext, Refused
from dhcpsuite.server.shares import RendezvousShare, WholeShare, owner, share_sizes

A = IPv4Address
NOW = 1_000.0
FIRST, LAST = A("10.0.0.0"), A("10.0.15.255")
ADDRESSES = range(int(FIRST), int(LAST) + 1)
NAMES = ["host-a:101:0a1b2c", "host-b:202:3d4e5f", "host-c:303:6a7b8c", "host-d:404:9d0e1f"]


def owners(members: list[str]) -> dict[int, str]:
    return {a: owner(a, members) for a in ADDRESSES}


class ShareCoreTests(SynchronousTestCase):
    def test_deterministic_and_order_free(self) -> None:
        """
        Every member computes the same owner whatever order it lists the
        members in, and every live member agrees with the others on its own
        addresses: each address is owned by exactly one member.
        """
        forward = owners(NAMES)
        self.assertEqual(forward, owners(list(reversed(NAMES))))
        shares = [RendezvousShare(name, NAMES) for name in NAMES]
        for address in ADDRESSES[:2048]:
            holders = [s.name for s in shares if s.mine(A(address))]
            self.assertEqual(holders, [forward[address]])

    def test_balanced(self) -> None:
        """
        4,096 addresses over 2, 3 and 4 members: each share within 3 % of
        an equal split.
        """
        for n in (2, 3, 4):
            counts = collections.Counter(owners(NAMES[:n]).values())
            self.assertEqual(set(counts), set(NAMES[:n]))
            for name, count in counts.items():
                self.assertLess(abs(count - len(ADDRESSES) / n), 0.03 * len(ADDRESSES) / n, (n, name, count))
        self.assertEqual(share_sizes(FIRST, LAST, NAMES[:3]), dict(collections.Counter(owners(NAMES[:3]).values())))

    def test_minimal_movement_on_join_and_leave(self) -> None:
        """
        A member joining takes addresses only for itself (about 1/n of the
        pool) and moves none between the others; a member leaving hands
        out only its own.
        """
        three = owners(NAMES[:3])
        four = owners(NAMES)
        moved = [a for a in ADDRESSES if three[a] != four[a]]
        self.assertTrue(all(four[a] == NAMES[3] for a in moved))
        self.assertLess(abs(len(moved) - len(ADDRESSES) / 4), 0.03 * len(ADDRESSES))
        without_b = owners([NAMES[0], NAMES[2], NAMES[3]])
        for a in ADDRESSES:
            if four[a] != NAMES[1]:
                self.assertEqual(without_b[a], four[a])

    def test_set_members(self) -> None:
        """
        A share always counts its own server, changes generation only when
        the set of members changes, and is whole when alone.
        """
        share = RendezvousShare(NAMES[0])
        self.assertTrue(verifyObject(IAddressShare, share))
        self.assertTrue(share.whole)
        self.assertTrue(share.set_members(NAMES[1:2]))
        self.assertEqual(share.members, tuple(NAMES[:2]))
        self.assertFalse(share.whole)
        generation = share.generation
        self.assertFalse(share.set_members([NAMES[1], NAMES[0]]))
        self.assertEqual(share.generation, generation)
        self.assertTrue(share.set_members([]))
        self.assertTrue(share.whole)
        self.assertTrue(all(share.mine(A(a)) for a in ADDRESSES[:100]))

    def test_share_from_the_store_table(self) -> None:
        """
        SQLite and memory stores are never shared: the whole pool is this
        server's.
        """
        config = parse_config_text(CONFIG).section("server")
        self.assertIsInstance(make_share(config, MemoryLeaseStore()), WholeShare)
        self.assertTrue(verifyObject(IAddressShare, WholeShare()))


CONFIG = """
[server]
lease_store = "memory"
[[server.subnet]]
subnet = "10.0.0.0/24"
server_address = "10.0.0.1"
pool = ["10.0.0.10-10.0.0.209"]
"""


def client(n: int) -> ClientContext:
    mac = bytes((2, 0, 0, 0, n >> 8, n & 0xFF))
    return ClientContext(b"\x01" + mac, mac, None)


class SharedAllocationTests(SynchronousTestCase):
    """
    Two engines on one store (as two servers on one database whose index
    learns every binding), each with its own share.
    """

    def setUp(self) -> None:
        self.config = parse_config_text(CONFIG).section("server")
        self.store = MemoryLeaseStore()
        self.shares = [RendezvousShare(name, NAMES[:2]) for name in NAMES[:2]]
        self.engines = [AllocationEngine(self.config, self.store, share=share) for share in self.shares]

    def bind(self, engine: AllocationEngine, n: int) -> IPv4Address:
        c = client(n)
        address = engine.choose(c, engine.subnets[0], NOW)
        engine.put(Lease(address, LeaseState.BOUND, c.key, c.mac, NOW + 3600, "", NOW))
        return address

    def test_new_clients_get_own_share_then_borrow(self) -> None:
        """
        Each engine gives new clients only addresses of its own share,
        so two servers deciding at once never pick the same free address;
        once its share is used up it borrows from the other's.
        """
        pool = [A(a) for a in range(int(A("10.0.0.10")), int(A("10.0.0.209")) + 1)]
        own = {share.name: [a for a in pool if share.mine(a)] for share in self.shares}
        first, second = self.engines
        n = 0
        given: dict[str, list[IPv4Address]] = {share.name: [] for share in self.shares}
        for _ in range(min(len(v) for v in own.values())):
            for engine, share in zip(self.engines, self.shares):
                n += 1
                given[share.name].append(self.bind(engine, n))
        for share in self.shares:
            self.assertTrue(all(share.mine(a) for a in given[share.name]))
        # Drain the first one's share, then it borrows.
        smaller = min(self.shares, key=lambda s: len(own[s.name]))
        larger = [s for s in self.shares if s is not smaller][0]
        engine = self.engines[self.shares.index(smaller)]
        n += 1
        borrowed = self.bind(engine, n)
        self.assertTrue(larger.mine(borrowed))
        self.assertEqual(engine.borrowed, 1)
        # Until every address is held.
        while True:
            n += 1
            try:
                self.bind(engine, n)
            except Refused as e:
                self.assertEqual(e.reason, "pool-exhausted")
                break
        self.assertEqual(len(list(self.store.leases())), len(pool))

    def test_a_departed_members_addresses_are_offered_first(self) -> None:
        """
        When the other member leaves, the addresses this engine had set
        aside as its are this engine's own at once (no borrowing counted).
        """
        engine = self.engines[0]
        share = self.shares[0]
        mine = self.bind(engine, 1)
        self.assertTrue(share.mine(mine))
        share.set_members([])
        pool = [A(a) for a in range(int(A("10.0.0.10")), int(A("10.0.0.209")) + 1)]
        got = {self.bind(engine, n) for n in range(2, len(pool) + 1)}
        self.assertEqual(got | {mine}, set(pool))
        self.assertEqual(engine.borrowed, 0)

    def test_own_addresses_ignore_shares(self) -> None:
        """
        A client bound by the other server (learned into the index) keeps
        its address here, though it is in the other's share.
        """
        other = self.bind(self.engines[1], 7)
        self.assertFalse(self.shares[0].mine(other))
        self.assertEqual(self.engines[0].choose(client(7), self.engines[0].subnets[0], NOW), other)

    def test_borrowing_does_not_rescan_the_store_each_time(self) -> None:
        """
        Once this server's share is used up and every other free address is
        another's, each new client borrows one; the store is not scanned
        again for every DISCOVER (it was: a free address of another share
        made the next rescan due at once, O(leases) per DISCOVER and the
        set-aside queue growing each time), and the set-aside queue holds
        each address once.
        """
        engine, share = self.engines[0], self.shares[0]
        pool = [A(a) for a in range(int(A("10.0.0.10")), int(A("10.0.0.209")) + 1)]
        own = [a for a in pool if share.mine(a)]
        # Every address held once, then the other share's freed again (lapsed).
        for n, address in enumerate(pool):
            c = client(1000 + n)
            engine.put(Lease(address, LeaseState.BOUND, c.key, c.mac, NOW + (3600 if share.mine(address) else 10), "", NOW))
        later = NOW + 20
        scans = 0
        leases = self.store.leases

        def counting():
            nonlocal scans
            scans += 1
            return leases()

        self.store.leases = counting
        given = []
        for n in range(20):
            c = client(n)
            address = engine.choose(c, engine.subnets[0], later)
            engine.put(Lease(address, LeaseState.BOUND, c.key, c.mac, later + 3600, "", later))
            given.append(address)
        self.assertTrue(all(not share.mine(a) for a in given))
        self.assertEqual(len(set(given)), 20)
        self.assertEqual(engine.borrowed, 20)
        self.assertLessEqual(scans, 1)
        allocator = engine.subnets[0].allocator
        self.assertEqual(len(allocator._others), len(set(allocator._others)))
        self.assertEqual(len(allocator._others), len(pool) - len(own) - 20)
