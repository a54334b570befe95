"""
Tests for L{dhcpsuite.server.usage.PoolUsage} and the server's
C{pool_usage()} built on it: the counts kept as the store changes always
equal what a scan of every lease would say, and a scrape does not scan.
"""

from __future__ import annotations

import collections
import gc
import os
import shutil
import tempfile
import time
import tracemalloc
from ipaddress import IPv4Address, IPv4Network

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.dhcp4.packet import Message, decode_message
from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.leases.sqlite import SQLiteLeaseStore
from dhcpsuite.server.config import AddressRange
from dhcpsuite.server.usage import PoolUsage
from tests.unit.test_server_service import FakeReactor, ServiceTestsBase, server_config

A = IPv4Address
START = 1_800_000_000.0
SERVER = A("10.0.0.1")

# Overlapping pools, a reservation inside a pool and one outside, and a
# second subnet: every way an address can count in no pool, one or two.
CONFIG = """
[server]
lease_store = "memory"
# Lapses are mostly seen by reads then, not hidden by the sweep's writes
# (the runs sweep now and then on their own).
reclaim_interval = 3600
[server.client_rate_limit]
rate = 0
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "eth0"
server_address = "10.0.0.1"
pool = ["10.0.0.10-10.0.0.15", "10.0.0.14-10.0.0.17"]
lease_time = 120
min_lease_time = 30
max_lease_time = 600
offer_hold_time = 10
decline_probation_time = 60
[[server.subnet.reservation]]
mac = "02:00:00:00:00:01"
address = "10.0.0.12"
[[server.subnet.reservation]]
mac = "02:00:00:00:00:02"
address = "10.0.0.60"
[[server.subnet]]
subnet = "10.1.0.0/24"
interface = "eth1"
server_address = "10.1.0.1"
pool = ["10.1.0.10-10.1.0.13"]
lease_time = 300
"""
SUBNETS = {"eth0": (A("10.0.0.1"), IPv4Network("10.0.0.0/24")), "eth1": (A("10.1.0.1"), IPv4Network("10.1.0.0/24"))}
CLIENTS = 14


def full_scan(service, now: float) -> list[dict]:
    """
    C{pool_usage()} as it was: every lease against every pool.
    """
    held: collections.Counter = collections.Counter()
    for lease in service.store.leases():
        if lease.holds(now):
            held[lease.address] += 1
    usage = []
    for subnet in service.config.subnets:
        for pool in subnet.pools:
            used = sum(1 for address in held if address in pool)
            usage.append(
                {
                    "subnet": str(subnet.network),
                    "pool": f"{pool.first}-{pool.last}",
                    "size": pool.size,
                    "active": used,
                    "free": pool.size - used,
                }
            )
    return usage


def mac(n: int) -> bytes:
    return bytes((2, 0, 0, 0, 0, n))


def message(kind: int, n: int, options: dict | None = None, **fields) -> Message:
    m = Message(op=1, xid=0x1000 + n, chaddr=mac(n) + bytes(10), **fields)
    m.options[int(Option.MESSAGE_TYPE)] = bytes((kind,))
    for code, raw in (options or {}).items():
        m.options[int(code)] = raw
    return decode_message(m.to_bytes())


@implementer(ILeaseStore)
class CountingStore(MemoryLeaseStore):
    """
    Counts scans: L{leases} and L{states} are the ways to look at every lease.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0

    def leases(self):
        self.scans += 1
        return super().leases()

    def states(self):
        self.scans += 1
        return super().states()


def lease(address: str, state: LeaseState, expires: float, client: int = 1) -> Lease:
    return Lease(A(address), state, b"\x01" + mac(client), mac(client), expires, "", 0.0)


class PoolUsageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.now = 100.0
        self.store = CountingStore()
        self.pools = [AddressRange(A("10.0.0.10"), A("10.0.0.19")), AddressRange(A("10.0.0.15"), A("10.0.0.29"))]

    def usage(self) -> PoolUsage:
        usage = PoolUsage(self.pools, self.store, lambda: self.now)
        self.addCleanup(usage.close)
        return usage

    def test_counts_what_the_store_has_at_start(self) -> None:
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 200.0))
        self.store.put(lease("10.0.0.16", LeaseState.DECLINED, 200.0))
        self.store.put(lease("10.0.0.11", LeaseState.BOUND, 50.0))
        self.store.put(lease("10.0.0.12", LeaseState.RELEASED, 200.0))
        self.assertEqual(self.usage().held(), [2, 1])

    def test_exact_within_a_bucket(self) -> None:
        # Leases lapsing a fraction of a second apart, in one bucket of the
        # entries: each read sees exactly the ones that still hold.
        usage = self.usage()
        for n, expires in enumerate((130.25, 130.5, 130.75, 131.0)):
            self.store.put(lease(f"10.0.0.{10 + n}", LeaseState.BOUND, expires))
        for now, held in ((130.0, 4), (130.25, 3), (130.6, 2), (130.75, 1), (130.9, 1), (131.0, 0)):
            self.now = now
            self.assertEqual(usage.held(), [held, 0], now)
        self.assertEqual(usage.entries(), 0)

    def test_a_bucket_beginning_reads_no_lease(self) -> None:
        # Its entries come off one by one as they are due, each with one
        # read of the store: a read never pays for the whole bucket at once.
        usage = self.usage()
        for n in range(10):
            self.store.put(lease(f"10.0.0.{10 + n}", LeaseState.BOUND, 1000.5 + n / 100))
        reads = []
        get = self.store.get
        self.store.get = lambda address: reads.append(address) or get(address)
        self.now = 1000.0
        self.assertEqual(usage.held(), [10, 5])
        self.assertEqual(reads, [])
        self.now = 1000.525
        self.assertEqual(usage.held(), [7, 5])
        self.assertEqual(len(reads), 3)

    def test_entry_extended_across_buckets(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0))
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0 + 10 * 64))  # a renewal: no new entry
        self.assertEqual(usage.entries(), 1)
        self.now = 151.0
        self.assertEqual(usage.held(), [1, 0])
        self.now = 150.0 + 10 * 64
        self.assertEqual(usage.held(), [0, 0])

    def test_six_bytes_an_entry(self) -> None:
        """
        What the counts keep per held lease: its address and due time in
        arrays of those due in the same half minute (a heap of (expiry,
        address) tuples cost ~65 bytes a lease by tracemalloc, ~165 with
        the store keeping no address objects). Here one lease lapses a
        second, so each bucket's own cost is shared by 32 leases.
        """
        count = 20_000
        store = MemoryLeaseStore()
        base = int(A("10.1.0.0"))
        for n in range(count):
            hardware = b"\x02\x00" + n.to_bytes(4, "big")
            store.put(Lease(A(base + n), LeaseState.BOUND, b"\x01" + hardware, hardware, 1000.0 + n, "", 0.0))
        gc.collect()
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        before = tracemalloc.get_traced_memory()[0]
        usage = PoolUsage([AddressRange(A(base), A(base + count))], store, lambda: 0.0)
        gc.collect()
        per_lease = (tracemalloc.get_traced_memory()[0] - before) / count
        self.assertEqual(usage.held(), [count])
        self.assertLess(per_lease, 16)

    def test_holding_states_counted_others_not(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.OFFERED, 200.0))
        self.store.put(lease("10.0.0.11", LeaseState.BOUND, 200.0))
        self.store.put(lease("10.0.0.12", LeaseState.DECLINED, 200.0))
        self.store.put(lease("10.0.0.13", LeaseState.RELEASED, 200.0))
        self.store.put(lease("10.0.0.14", LeaseState.EXPIRED, 200.0))
        self.assertEqual(usage.held(), [3, 0])

    def test_lapse_without_a_write(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0))
        self.store.put(lease("10.0.0.20", LeaseState.OFFERED, 110.0))
        self.assertEqual(usage.held(), [1, 1])
        self.now = 110.0  # expires == now: no longer held, as Lease.holds says
        self.assertEqual(usage.held(), [1, 0])
        self.now = 150.0
        self.assertEqual(usage.held(), [0, 0])

    def test_renewal_supersedes_the_earlier_expiry(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0))
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 300.0))
        self.now = 200.0
        self.assertEqual(usage.held(), [1, 0])
        # ...and a shorter one after a longer one.
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 250.0))
        self.now = 260.0
        self.assertEqual(usage.held(), [0, 0])
        self.now = 400.0
        self.assertEqual(usage.held(), [0, 0])

    def test_shortened_lease_lapses_at_its_new_expiry(self) -> None:
        # A DECLINE's probation, or a shorter lease on renewal, ends before
        # the binding it replaces would have.
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 300.0))
        self.store.put(lease("10.0.0.10", LeaseState.DECLINED, 150.0))
        self.now = 150.0
        self.assertEqual(usage.held(), [0, 0])
        self.now = 400.0
        self.assertEqual(usage.held(), [0, 0])

    def test_entries_come_due_together_uncount_once(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 300.0))
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0))
        self.store.put(lease("10.0.0.11", LeaseState.BOUND, 300.0))
        self.now = 400.0
        self.assertEqual(usage.held(), [0, 0])
        self.store.put(lease("10.0.0.12", LeaseState.BOUND, 500.0))
        self.assertEqual(usage.held(), [1, 0])

    def test_extended_lease_held_past_its_first_expiry(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.OFFERED, 110.0))
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 200.0))
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 300.0))
        for self.now, held in ((150.0, 1), (250.0, 1), (299.0, 1), (300.0, 0)):
            self.assertEqual(usage.held(), [held, 0], self.now)

    def test_lapsed_lease_replaced_before_any_read(self) -> None:
        # The sweep writes EXPIRED over a lapsed binding that no read has
        # uncounted yet; a lease written already lapsed counts at no read.
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0))
        self.now = 160.0
        self.store.put(lease("10.0.0.10", LeaseState.EXPIRED, 150.0))
        self.store.put(lease("10.0.0.11", LeaseState.BOUND, 120.0))
        self.assertEqual(usage.held(), [0, 0])
        self.store.put(lease("10.0.0.11", LeaseState.BOUND, 160.0))
        self.store.put(lease("10.0.0.11", LeaseState.BOUND, 170.0))
        self.assertEqual(usage.held(), [1, 0])

    def test_lease_that_lapsed_at_the_last_read_is_not_counted(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0))
        self.now = 150.0
        self.assertEqual(usage.held(), [0, 0])
        self.store.put(lease("10.0.0.10", LeaseState.RELEASED, 150.0))
        self.store.put(lease("10.0.0.11", LeaseState.OFFERED, 150.0))
        self.assertEqual(usage.held(), [0, 0])

    def test_release_and_revoke_uncount(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0))
        self.store.put(lease("10.0.0.11", LeaseState.BOUND, 150.0))
        self.store.put(lease("10.0.0.10", LeaseState.RELEASED, 100.0))
        self.store.remove(A("10.0.0.11"))
        self.assertEqual(usage.held(), [0, 0])
        # The stale heap entries for both do not uncount anything later.
        self.store.put(lease("10.0.0.11", LeaseState.BOUND, 150.0))
        self.now = 149.0
        self.assertEqual(usage.held(), [1, 0])

    def test_overlapping_pools_count_in_each(self) -> None:
        usage = self.usage()
        for address in ("10.0.0.9", "10.0.0.15", "10.0.0.19", "10.0.0.29", "10.0.0.30"):
            self.store.put(lease(address, LeaseState.BOUND, 200.0))
        self.assertEqual(usage.held(), [2, 3])

    def test_infinite_lease(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, float("inf")))
        self.now = 1e18
        self.assertEqual(usage.held(), [1, 0])

    def test_clock_set_back_rebuilds(self) -> None:
        usage = self.usage()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 150.0))
        self.now = 200.0
        self.assertEqual(usage.held(), [0, 0])
        scans = self.store.scans
        self.now = 120.0  # the lease holds again at this wall-clock time
        self.assertEqual(usage.held(), [1, 0])
        self.assertEqual(self.store.scans, scans + 1)

    def test_reads_do_not_scan(self) -> None:
        usage = self.usage()
        scans = self.store.scans
        for i in range(100):
            self.store.put(lease(f"10.0.0.{10 + i % 20}", LeaseState.BOUND, 100.0 + i))
            self.now += 1
            usage.held()
        self.assertEqual(self.store.scans, scans)

    def test_heap_stays_bounded(self) -> None:
        # Renewals add nothing; shortened leases and addresses freed and
        # taken again leave entries behind, until the heap is compacted.
        usage = self.usage()
        for i in range(20_000):
            self.store.put(lease("10.0.0.10", LeaseState.BOUND, 1e6 + i))
        self.assertEqual(usage.entries(), 1)
        for i in range(20_000):
            self.store.put(lease("10.0.0.11", LeaseState.BOUND, 1e6 - i))
            self.store.put(lease("10.0.0.12", LeaseState.OFFERED, 2e6 + i))
            self.store.put(lease("10.0.0.12", LeaseState.RELEASED, 2e6 + i))
        self.assertLessEqual(usage.entries(), 2 * 2 + 1024 + 1)
        self.assertEqual(usage.held(), [2, 0])
        self.now = 1e6 - 19_999
        self.assertEqual(usage.held(), [1, 0])
        self.now = 1e6 + 19_999
        self.assertEqual(usage.held(), [0, 0])

    def test_close_stops_following(self) -> None:
        usage = PoolUsage(self.pools, self.store, lambda: self.now)
        usage.close()
        self.store.put(lease("10.0.0.10", LeaseState.BOUND, 200.0))
        self.assertEqual(usage.held(), [0, 0])


# One step of a random run: (operation, client, amount).
STEPS = st.tuples(
    st.sampled_from(
        ["dora"] * 3 + ["discover", "request", "renew", "renew", "reboot", "release", "release", "decline", "decline"]
        + ["advance"] * 3 + ["to-expiry", "to-expiry", "reclaim", "revoke", "back"] + ["scrape"] * 3
    ),
    st.integers(1, CLIENTS),
    st.integers(0, 700),
)


class EquivalenceTests(ServiceTestsBase):
    """
    Random sequences of DHCP exchanges, sweeps, revokes and time passing
    (forwards, and now and then the wall clock set back): C{pool_usage()}
    equals the full scan every time it is read.
    """

    def make_started(self, store):
        self.reactor = FakeReactor()
        self.reactor.advance(START)
        service = self.make_service(config=server_config(CONFIG), store=store)
        service.startService()
        return service

    def run_steps(self, service, steps) -> None:
        core, reactor = service.core, self.reactor
        for kind, n, amount in steps:
            interface = "eth1" if n % 3 == 0 else "eth0"
            server_id, network = SUBNETS[interface]
            # The client's binding if it has one, as a real client would use.
            own = sorted(
                (l for l in service.store.find_by_client(b"\x01" + mac(n)) if l.address in network),
                key=lambda l: l.state is not LeaseState.BOUND,
            )
            address = own[0].address if own else A(int(server_id) + 9 + amount % 8)
            if kind in ("discover", "dora"):
                options = {Option.REQUESTED_ADDRESS: A(int(server_id) + 9 + amount % 10).packed} if amount % 3 == 0 else {}
                offer = core.handle(message(MessageType.DISCOVER, n, options), interface)
                if kind == "dora" and offer.event == "offer":
                    options = {Option.SERVER_ID: server_id.packed, Option.REQUESTED_ADDRESS: offer.address.packed}
                    if amount % 5 == 0:
                        options[Option.LEASE_TIME] = (5 * (amount % 18)).to_bytes(4, "big")
                    core.handle(message(MessageType.REQUEST, n, options), interface)
            elif kind == "request":
                options = {Option.SERVER_ID: server_id.packed, Option.REQUESTED_ADDRESS: address.packed}
                if amount % 5 == 0:
                    options[Option.LEASE_TIME] = (5 * (amount % 18)).to_bytes(4, "big")
                core.handle(message(MessageType.REQUEST, n, options), interface)
            elif kind == "renew":
                core.handle(message(MessageType.REQUEST, n, ciaddr=address), interface)
            elif kind == "reboot":
                core.handle(message(MessageType.REQUEST, n, {Option.REQUESTED_ADDRESS: address.packed}), interface)
            elif kind == "release":
                core.handle(message(MessageType.RELEASE, n, ciaddr=address), interface)
            elif kind == "decline":
                options = {Option.SERVER_ID: server_id.packed, Option.REQUESTED_ADDRESS: address.packed}
                core.handle(message(MessageType.DECLINE, n, options), interface)
            elif kind == "advance":
                # Whole multiples of 5 s, as every lease and hold time here
                # is: reads often fall exactly on an expiry.
                reactor.advance(5 * (amount % 40))  # the reclaim LoopingCall runs as time passes
            elif kind == "to-expiry":
                # Reads that fall exactly on an expiry: where "<" and "<=" differ.
                leases = sorted(service.store.leases(), key=lambda l: int(l.address))
                if leases:
                    target = leases[amount % len(leases)].expires
                    if reactor.seconds() < target < float("inf"):
                        reactor.advance(target - reactor.seconds())
            elif kind == "reclaim":
                core.reclaim()
            elif kind == "revoke":
                service.store.remove(address)
            elif kind == "back":
                reactor.rightNow -= 5 * (amount % 8)
            else:
                self.assertEqual(service.pool_usage(), full_scan(service, reactor.seconds()))
        self.assertEqual(service.pool_usage(), full_scan(service, reactor.seconds()))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(STEPS, min_size=10, max_size=100))
    def test_equals_full_scan(self, steps) -> None:
        service = self.make_started(MemoryLeaseStore())
        try:
            self.run_steps(service, steps)
        finally:
            self.successResultOf(service.stopService())

    def test_a_long_run_passes_through_every_state(self) -> None:
        # A fixed, long run as a smoke test that the runs reach the states
        # that matter: every pool fills up, then drains with no write.
        service = self.make_started(MemoryLeaseStore())
        steps = []
        for turn in range(10):
            for n in range(1, CLIENTS + 1):
                steps += [("dora", n, turn), ("request", n, turn * 7), ("scrape", 0, 0)]
            steps += [("advance", 0, 6), ("decline", 3, 0), ("release", 5, 0), ("renew", 6, 0), ("scrape", 0, 0)]
        steps += [("advance", 0, 39), ("scrape", 0, 0)] * 10
        seen: list[dict[str, int]] = []
        real = service.pool_usage

        def recording():
            result = real()
            seen.append({p["pool"]: p["active"] for p in result})
            return result

        service.pool_usage = recording
        self.run_steps(service, steps)
        for pool, size in (("10.0.0.10-10.0.0.15", 6), ("10.0.0.14-10.0.0.17", 4), ("10.1.0.10-10.1.0.13", 4)):
            self.assertEqual(max(usage[pool] for usage in seen), size, pool)
            self.assertEqual(seen[-1][pool], 0, pool)
        self.successResultOf(service.stopService())


class SQLiteUsageTests(ServiceTestsBase):
    def test_leases_loaded_from_disk_are_counted(self) -> None:
        directory = tempfile.mkdtemp(prefix="dhcpsuite-usage-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "leases.sqlite3")
        self.reactor.advance(START)
        store = SQLiteLeaseStore(path, reactor=self.reactor)
        store.put(lease("10.0.0.10", LeaseState.BOUND, START + 100))
        store.put(lease("10.0.0.11", LeaseState.BOUND, START + 10))
        store.put(lease("10.0.0.12", LeaseState.DECLINED, START + 100))
        store.put(lease("10.1.0.10", LeaseState.RELEASED, START))
        self.reactor.run_until(store.close())
        store = SQLiteLeaseStore(path, reactor=self.reactor)
        service = self.make_service(store=store)
        service.startService()
        self.assertEqual([p["active"] for p in service.pool_usage()], [3, 0])
        self.reactor.advance(10)
        self.assertEqual(service.pool_usage(), full_scan(service, self.reactor.seconds()))
        self.assertEqual([p["active"] for p in service.pool_usage()], [2, 0])
        d = service.stopService()
        self.reactor.run_until(d)


class ScrapeCostTests(ServiceTestsBase):
    LEASES = 50_000
    CONFIG = """
[server]
lease_store = "memory"
[[server.subnet]]
subnet = "10.0.0.0/16"
interface = "eth0"
server_address = "10.0.0.1"
pool = ["10.0.1.0-10.0.127.255", "10.0.128.0-10.0.254.255"]
[[server.subnet]]
subnet = "10.1.0.0/16"
server_address = "10.1.0.1"
pool = "10.1.1.0-10.1.200.255"
"""

    def test_scrape_with_50000_leases_does_not_scan(self) -> None:
        self.reactor.advance(START)
        store = CountingStore()
        base = int(A("10.0.1.0"))
        states = [LeaseState.BOUND] * 7 + [LeaseState.OFFERED, LeaseState.RELEASED, LeaseState.DECLINED]
        for i in range(self.LEASES):
            store.put(Lease(A(base + i), states[i % 10], b"\x01" + i.to_bytes(6, "big"), i.to_bytes(6, "big"),
                            START + 5 + i % 1000, "", START))
        service = self.make_service(config=server_config(self.CONFIG), store=store)
        service.startService()
        elapsed = []
        for _ in range(20):
            self.reactor.advance(1)
            # (The reclaim sweep reads the store's list once a cycle; a scrape never.)
            scans = store.scans
            started = time.perf_counter()
            usage = service.pool_usage()
            elapsed.append(time.perf_counter() - started)
            self.assertEqual(store.scans, scans)
        # The full scan took ~100 ms here; counts kept current take ~20 us.
        # Bounded generously for a loaded CI machine.
        self.assertLess(min(elapsed), 0.005)
        self.assertEqual(usage, full_scan(service, self.reactor.seconds()))
        # Half the pool's leases lapse (none of them written): still exact.
        self.reactor.advance(500)
        self.assertEqual(service.pool_usage(), full_scan(service, self.reactor.seconds()))
        self.successResultOf(service.stopService())

    def test_metrics_and_api_read_the_counts(self) -> None:
        from dhcpsuite.control import api

        store = CountingStore()
        store.put(lease("10.0.0.10", LeaseState.BOUND, 1e12))
        service = self.make_service(store=store)
        service.startService()
        scans = store.scans

        class Daemon:
            server = service

        self.assertEqual(api.pools(Daemon)["pools"][0]["active"], 1)
        self.assertEqual(store.scans, scans)
        self.successResultOf(service.stopService())


class ServiceLifecycleTests(ServiceTestsBase):
    def test_before_start_and_after_stop(self) -> None:
        # With a store given, the figures describe it in every state of the
        # service, as the scan did.
        store = CountingStore()
        store.put(lease("10.0.0.10", LeaseState.BOUND, 1e12))
        service = self.make_service(store=store)
        self.assertEqual(service.pool_usage()[0]["active"], 1)
        service.startService()
        store.put(lease("10.0.0.11", LeaseState.BOUND, 1e12))
        self.assertEqual(service.pool_usage()[0]["active"], 2)
        self.successResultOf(service.stopService())
        store.put(lease("10.0.0.12", LeaseState.BOUND, 1e12))
        self.assertEqual(service.pool_usage()[0]["active"], 3)

    def test_lapsed_entries_come_off_every_second_without_reads(self) -> None:
        service = self.make_service(config=server_config(CONFIG))
        service.startService()
        for n in (3, 4, 5):
            service.core.handle(message(MessageType.DISCOVER, n), "eth0")
        self.assertEqual(service._usage.entries(), 3)
        hold = service.config.subnets[0].offer_hold_time
        for _ in range(int(hold) - 1):
            self.reactor.advance(1)
        self.assertEqual(service._usage.entries(), 3)  # an offer holds until its expiry
        self.reactor.advance(1)
        self.assertEqual(service._usage.entries(), 0)
        self.assertEqual(service.pool_usage(), full_scan(service, self.reactor.seconds()))
        self.successResultOf(service.stopService())

    def test_own_store_forgotten_on_stop(self) -> None:
        service = self.make_service(config=server_config(CONFIG))
        service.store = None  # so it makes its own, from the configuration
        service.startService()
        store = service.store
        core = service.core
        core.handle(message(MessageType.DISCOVER, 3), "eth0")
        self.assertEqual(service.pool_usage()[0]["active"], 1)
        self.successResultOf(service.stopService())
        self.assertIsNone(service.store)
        self.assertEqual(store._observers, [])
        self.assertEqual([p["active"] for p in service.pool_usage()], [0, 0, 0])


class MaxLeasesTests(ServiceTestsBase):
    """
    C{max_leases} reads the subnet's count from the kept counts, not from a
    scan of the store.
    """

    CONFIG = """
[server]
lease_store = "memory"
[server.client_rate_limit]
rate = 0
[[server.subnet]]
subnet = "10.0.0.0/16"
interface = "eth0"
server_address = "10.0.0.1"
pool = "10.0.1.0-10.0.255.254"
max_leases = 30005
offer_hold_time = 10
[[server.subnet.reservation]]
mac = "02:00:00:00:00:c8"
address = "10.0.0.50"
"""

    def test_the_guard_counts_without_scanning(self) -> None:
        self.reactor.advance(START)
        store = CountingStore()
        base = int(A("10.0.1.0"))
        for i in range(30000):
            store.put(Lease(A(base + i), LeaseState.BOUND, b"\x01" + i.to_bytes(6, "big"), i.to_bytes(6, "big"),
                            START + 600, "", START))
        # A held reservation outside the pool counts in the subnet too.
        store.put(lease("10.0.0.50", LeaseState.BOUND, START + 600, client=200))
        service = self.make_service(config=server_config(self.CONFIG), store=store)
        service.startService()
        self.addCleanup(service.stopService)
        scans = store.scans
        offered = []
        for n in range(10):
            outcome = service.core.handle(message(MessageType.DISCOVER, 10 + n), "eth0")
            offered.append(outcome.event)
        self.assertEqual(store.scans, scans)
        # 30,001 held + 4 offers reach the limit of 30,005; the rest are refused.
        self.assertEqual(offered.count("offer"), 4, offered)
        subnet = service.config.subnets[0]
        network = subnet.network
        self.assertEqual(service._held_in_subnet(subnet, self.reactor.seconds()),
                         sum(1 for l in store.leases() if l.address in network and l.holds(self.reactor.seconds())))
        # The offers lapse: room again.
        self.reactor.advance(11)
        outcome = service.core.handle(message(MessageType.DISCOVER, 30), "eth0")
        self.assertEqual(outcome.event, "offer")
