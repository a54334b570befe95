# -*- test-case-name: tests.unit.test_server_decide -*-
"""
Finding a free address in a subnet's pools without scanning the whole pool
for every DISCOVER.

Never-used addresses are handed out first, in order, by a cursor; once the
pools have all been used, addresses freed since (released, expired, declined
and out of probation) are reused oldest first from a queue that the server
feeds, refilled by one scan only when it runs dry.

In a cluster (L{dhcpsuite.interfaces.IAddressShare}) free addresses of
other members' shares are set aside rather than offered, and borrowed only
when this server's own share has none left.
"""

from __future__ import annotations

import collections
from ipaddress import IPv4Address
from typing import Callable, Iterable

from dhcpsuite.server.config import AddressRange


class PoolAllocator:
    def __init__(self, ranges: Iterable[AddressRange], excluded: Iterable[IPv4Address] = ()) -> None:
        self._ranges = [(int(r.first), int(r.last)) for r in ranges]
        self.size = sum(last - first + 1 for first, last in self._ranges)
        self._excluded = frozenset(int(a) for a in excluded)
        self._range_index = 0
        self._cursor = self._ranges[0][0] if self._ranges else 0
        self._fresh_left = self.size
        self._freed: collections.deque[IPv4Address] = collections.deque()
        # Free addresses of other members' shares, met on the way (each
        # once: a rescan meets them again).
        self._others: collections.deque[IPv4Address] = collections.deque()
        self._set_aside: set[IPv4Address] = set()

    def __contains__(self, address: IPv4Address) -> bool:
        value = int(address)
        # A loop, not any(genexpr): this is on every REQUEST's path.
        for first, last in self._ranges:
            if first <= value <= last:
                return True
        return False

    def freed(self, address: IPv4Address) -> bool:
        """
        C{address} became available again: reuse it before scanning.

        @return: whether it was taken; an address outside these pools (of
            another subnet, a reservation, a pool since removed from the
            configuration) never is.
        """
        if address not in self or int(address) in self._excluded:
            return False
        self._freed.append(address)
        return True

    def allocate(
        self,
        is_free: Callable[[IPv4Address], bool],
        never_used: Callable[[IPv4Address], bool],
        mine: Callable[[IPv4Address], bool] | None = None,
    ) -> IPv4Address | None:
        """
        @param is_free: may this address be offered now?
        @param never_used: has the store no record of it at all?
        @param mine: is it in this server's share (L{None}: all are)?
            Free addresses that are not are kept for L{borrow}.
        """
        while self._fresh_left > 0:
            address = IPv4Address(self._next_fresh())
            if int(address) in self._excluded:
                continue
            if never_used(address):
                if mine is None or mine(address):
                    return address
                self._set_apart(address)
        while self._freed:
            address = self._freed.popleft()
            # Checked again here: nothing outside the pools is ever handed out.
            if address in self and int(address) not in self._excluded and is_free(address):
                if mine is None or mine(address):
                    return address
                self._set_apart(address)
        return None

    def _set_apart(self, address: IPv4Address) -> None:
        if address not in self._set_aside:
            self._set_aside.add(address)
            self._others.append(address)

    def borrow(self, is_free: Callable[[IPv4Address], bool]) -> IPv4Address | None:
        """
        A free address of another member's share, when this server's own
        has none (the oldest set aside first: its owner most likely used it
        already, and then it is skipped, or left it). Nothing is lost: an
        address skipped here comes back through L{freed} or L{rescan}.
        """
        while self._others:
            address = self._others.popleft()
            self._set_aside.discard(address)
            if address in self and int(address) not in self._excluded and is_free(address):
                return address
        return None

    def reshare(self) -> None:
        """
        The shares changed: the addresses set aside as others' are looked
        at again before the rest of the reuse queue (a dead member's are
        this server's now).
        """
        self._freed.extendleft(reversed(self._others))
        self._others.clear()
        self._set_aside.clear()

    def rescan(self, candidates: Iterable[IPv4Address]) -> None:
        """
        Refill the reuse queue from C{candidates} (addresses that are free
        now, oldest first), when it ran dry.
        """
        self._freed.extend(a for a in candidates if a in self and int(a) not in self._excluded)

    def _next_fresh(self) -> int:
        value = self._cursor
        first, last = self._ranges[self._range_index]
        self._fresh_left -= 1
        if value >= last:
            self._range_index = (self._range_index + 1) % len(self._ranges)
            self._cursor = self._ranges[self._range_index][0]
        else:
            self._cursor = value + 1
        return value
