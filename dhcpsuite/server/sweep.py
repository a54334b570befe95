# -*- test-case-name: tests.unit.test_server_service -*-
"""
The reclaim sweep in slices.

Why: looking at every lease at once (once a reclaim interval) would hold the
reactor for as long as the store is large: ~70 ms at 300,000 leases when
none has lapsed, more when many have (each is written), enough to drop
requests under load. In slices: ~5 ms a tick (17 ms for the tick that copies
the list). The store's addresses are taken at the start of each cycle (as
integers: the store keeps no lease objects to copy) and looked at a slice per tick, so every lease is
looked at once per interval and a lapsed one is reclaimed at most one
interval (plus a tick) after it lapsed.
"""

from __future__ import annotations

import math
from ipaddress import IPv4Address
from array import array
from typing import Callable, Iterable, Sequence


class SlicedSweep:
    """
    @param addresses: the store's current addresses as integers (read at
        the start of a cycle).
    @param ticks: how many slices a cycle has (the interval over the tick).
    """

    def __init__(self, addresses: Callable[[], Iterable[int]], ticks: int) -> None:
        self._addresses = addresses
        self.ticks = max(1, ticks)
        self._cycle: Sequence[int] = ()
        self._cursor = 0
        self._size = 0

    def next_slice(self) -> list[IPv4Address]:
        """
        The addresses to look at on this tick; a new cycle begins once the
        last one is exhausted.
        """
        if self._cursor >= len(self._cycle):
            # 4 bytes an address for the whole cycle, not a list of ints.
            self._cycle = array("I", self._addresses())
            self._cursor = 0
            self._size = math.ceil(len(self._cycle) / self.ticks)
        chunk = self._cycle[self._cursor:self._cursor + self._size]
        self._cursor += self._size
        return [IPv4Address(address) for address in chunk]
