# -*- test-case-name: tests.unit.test_server_usage -*-
"""
How many addresses of each pool are held, kept current as the lease store
changes, so that a metrics scrape or a status page costs O(pools) and not a
scan of every lease in the reactor thread.

"Held" means exactly L{Lease.holds}: bound, offered or in probation, and its
C{expires} not reached. A lease stops holding without any write when its time
runs out, so the counts are of the leases that held at the last read, C{s}:

  - C{counted(lease)}: in a holding state with C{expires > s}. Every write
    (the store's observer, L{PoolUsage.lease_changed}) uncounts the lease it
    replaces and counts the new one by that rule, and makes sure a counted
    lease's address has an entry on a heap due no later than its expiry;
  - reading the figures at C{now} (L{PoolUsage.held}) moves C{s} to C{now}:
    every heap entry due by then is taken off, and a counted lease whose
    expiry has come is uncounted, one that was extended since is put back at
    its new expiry.

So C{held(now)} is what a scan of every lease would say, C{sum(holds(now))}
per pool, at O(pools + entries come due since the last read). Read at a time
before C{s} (the wall clock set back: leases keep wall-clock time) lapsed
leases could hold again, so that case alone rebuilds from a scan.

Nothing is kept per lease but one entry of 6 bytes: its address and when it
is due (in whole milliseconds from the start of its L{BUCKET_SECONDS}, rounded
down: never after the lease's expiry), in two arrays per bucket (what was
counted for an address is known from the lease itself, the store's current
one or the one a write replaces). When a bucket begins, its entries go to a
heap of (due, address) without a look at the store, and come off it one by
one as they are due, so a read is exact and no read pays for a whole bucket
of leases.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from heapq import heapify, heappop, heappush
from ipaddress import IPv4Address
from typing import Callable, Sequence

from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import HOLDING_STATES, Lease
from dhcpsuite.server.config import AddressRange

_INFINITY = float("inf")
# Lease.holds's states as a tuple: membership by identity, where a set of
# enum members would hash each one in Python code.
_HOLDING = tuple(HOLDING_STATES)
# An address whose lease was shortened, or freed and taken again, can have
# entries that no longer matter until they come due; past this many more
# than there are counted leases the heap is rebuilt, so its memory stays
# within about twice theirs whatever clients do.
_HEAP_SLACK = 1024
# Width of the buckets entries are filed in: a read at C{now} looks at the
# entries of the buckets that have begun, one by one only in the current one.
BUCKET_SECONDS = 32
_MS = 1000


class PoolUsage:
    """
    Held-address counts per pool, fed by an L{ILeaseStore}'s observer.

    @param pools: the pools in reporting order. They may overlap (pools of
        one subnet are not checked for it): an address then counts in each
        pool that contains it, as a scan would.
    @param clock: the seconds the leases' C{expires} are measured in.
    """

    def __init__(self, pools: Sequence[AddressRange], store: ILeaseStore, clock: Callable[[], float]) -> None:
        self.pools = tuple(pools)
        self.store = store
        self._clock = clock
        self._starts, self._covering = _segments(self.pools)
        self._counts = [0] * len(self.pools)
        # How many leases are counted (in one pool or several).
        self._counted = 0
        # Entries by bucket (C{floor(due / BUCKET_SECONDS)}), for buckets
        # after the current one; the keys as a heap; and the entries of the
        # current bucket and before as a heap of (due, address).
        self._due: dict[int, tuple[array, array]] = {}
        self._buckets: list[int] = []
        self._near: list[tuple[float, int]] = []
        self._filed = 0
        self._current = -_INFINITY
        self._settled_at = -_INFINITY
        self._rebuild(clock())
        store.add_observer(self.lease_changed)

    def close(self) -> None:
        """
        Stop following the store.
        """
        self.store.remove_observer(self.lease_changed)

    def held(self, now: float | None = None) -> list[int]:
        """
        @return: for each pool, how many of its addresses are held at C{now}
            (default: the clock).
        """
        self._settle(self._clock() if now is None else now)
        return list(self._counts)

    def lease_changed(self, old: Lease | None, new: Lease | None) -> None:
        # Called on every put: one binary search, states tested by identity,
        # and no heap entry for the commonest write, a renewal.
        address = new.address if new is not None else old.address
        # _starts[0] is below every pool, so index -1 is never looked up.
        pools = self._covering[bisect_right(self._starts, int(address)) - 1]
        if not pools:
            return
        settled = self._settled_at
        was_counted = old is not None and old.state in _HOLDING and old.expires > settled
        is_counted = new is not None and new.state in _HOLDING and new.expires > settled
        if was_counted == is_counted:
            if not is_counted or new.expires >= old.expires:
                # Nothing counted changes; an extended lease's entry is
                # due no later than its new expiry, and is moved on then.
                return
        else:
            step = 1 if is_counted else -1
            self._counted += step
            counts = self._counts
            for index in pools:
                counts[index] += step
            if not is_counted:
                return
        if new.expires != _INFINITY:
            self._file(new.expires, int(address))
            if self.entries() > 2 * self._counted + _HEAP_SLACK:
                self._rebuild(settled)

    def entries(self) -> int:
        """
        How many addresses are filed to be looked at when due.
        """
        return self._filed + len(self._near)

    def _file(self, due: float, value: int) -> None:
        bucket = math.floor(due / BUCKET_SECONDS)
        if bucket <= self._current:
            heappush(self._near, (due, value))
            return
        offset = math.floor((due - bucket * BUCKET_SECONDS) * _MS)
        if not 0 <= offset < BUCKET_SECONDS * _MS:
            # Rounding at a bucket's edge: exact, on the heap.
            heappush(self._near, (due, value))
            return
        found = self._due.get(bucket)
        if found is None:
            found = self._due[bucket] = (array("H"), array("I"))
            heappush(self._buckets, bucket)
        found[0].append(offset)
        found[1].append(value)
        self._filed += 1

    def _settle(self, now: float) -> None:
        settled = self._settled_at
        if now < settled:
            self._rebuild(now)
            return
        current = math.floor(now / BUCKET_SECONDS)
        buckets, near = self._buckets, self._near
        if buckets and buckets[0] <= current:
            # The entries of a bucket that has begun go to the exact heap.
            while buckets and buckets[0] <= current:
                bucket = heappop(buckets)
                offsets, addresses = self._due.pop(bucket)
                self._filed -= len(addresses)
                start = bucket * BUCKET_SECONDS
                near.extend(zip([start + offset / _MS for offset in offsets], addresses))
            heapify(near)
        self._current = max(self._current, current)
        counts, get = self._counts, self.store.get
        # An address can have several entries due at once (its lease was
        # shortened, or extended twice): uncount it once.
        lapsed: set[int] = set()
        later: list[tuple[float, int]] = []
        while near and near[0][0] <= now:
            _, value = heappop(near)
            lease = get(IPv4Address(value))
            if lease is None or lease.state not in _HOLDING or lease.expires <= settled:
                continue  # not counted: freed, or lapsed by an earlier read
            if lease.expires > now:
                # Extended since: due again at its new expiry.
                if lease.expires != _INFINITY:
                    later.append((lease.expires, value))
                continue
            if value in lapsed:
                continue
            lapsed.add(value)
            self._counted -= 1
            for index in self._covering[bisect_right(self._starts, value) - 1]:
                counts[index] -= 1
        self._settled_at = now
        for due, value in later:
            self._file(due, value)

    def _rebuild(self, now: float) -> None:
        counts = [0] * len(self.pools)
        counted = 0
        self._due, self._buckets, self._near, self._filed = {}, [], [], 0
        self._current = math.floor(now / BUCKET_SECONDS) if now != -_INFINITY else -_INFINITY
        starts, covering = self._starts, self._covering
        for address, state, expires in self.store.states():
            if expires > now and state in _HOLDING:
                pools = covering[bisect_right(starts, address) - 1]
                if pools:
                    counted += 1
                    for index in pools:
                        counts[index] += 1
                    if expires != _INFINITY:
                        self._file(expires, address)
        self._counts, self._counted = counts, counted
        self._settled_at = now

    def _pools_of(self, address: IPv4Address) -> tuple[int, ...]:
        return self._covering[bisect_right(self._starts, int(address)) - 1]


def _segments(pools: Sequence[AddressRange]) -> tuple[list[int], list[tuple[int, ...]]]:
    """
    Cut the address space at every pool boundary: each piece starts at
    C{starts[i]} and lies in exactly the pools C{covering[i]} (none in the
    gaps, nor in the first piece, from address 0), so finding an address's
    pools is one binary search.
    """
    bounds = sorted({0} | {int(p.first) for p in pools} | {int(p.last) + 1 for p in pools})
    covering = [
        tuple(index for index, p in enumerate(pools) if int(p.first) <= start <= int(p.last)) for start in bounds
    ]
    return bounds, covering
