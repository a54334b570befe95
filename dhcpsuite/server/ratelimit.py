# -*- test-case-name: tests.unit.test_server_ratelimit -*-
"""
Token buckets by key (a client's MAC, a relay's address), in bounded memory.

A flood from random MACs must not grow the table without limit: it holds at
most C{max_entries} buckets and forgets the least recently seen first (a
forgotten key starts again with a full bucket, which only errs on the side
of serving).
"""

from __future__ import annotations

import collections
from typing import Hashable


class RateLimiter:
    def __init__(self, rate: float, burst: float, max_entries: int = 65536) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.max_entries = max_entries
        self._buckets: collections.OrderedDict[Hashable, list[float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, key: Hashable, now: float) -> bool:
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            if len(buckets) >= self.max_entries:
                buckets.popitem(last=False)
            buckets[key] = [self.burst - 1.0, now]
            return True
        buckets.move_to_end(key)
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def available(self, key: Hashable, now: float) -> float:
        """
        The tokens C{key} has now, without taking one (a full bucket for
        a key not seen).
        """
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self.burst)
        return min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
