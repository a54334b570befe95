# -*- test-case-name: tests.unit.test_client_urandom -*-
"""
The client's random source: the kernel's (C{os.urandom}), as
C{random.SystemRandom} draws it, without importing C{random}.

Why: C{random} imports C{math}, C{bisect} and C{hashlib}'s SHA-512 and seeds
a Mersenne Twister that the client never uses (~0.9 ms of a ~40 ms cold
start racing a C program). The client draws only transaction ids and timer
fuzz, a handful of numbers per exchange, so it asks the kernel for each.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class RandomSource(Protocol):
        """
        What the client draws from: L{Urandom}, C{random.Random} and
        C{random.SystemRandom} all have it.
        """

        def getrandbits(self, k: int) -> int: ...

        def uniform(self, a: float, b: float) -> float: ...


# random.SystemRandom's: a float has 53 bits of mantissa.
_FLOAT_BITS = 53
_FLOAT_STEP = 2.0**-_FLOAT_BITS


class Urandom:
    """
    The part of C{random.Random}'s interface the client uses
    (L{getrandbits} for transaction ids, L{uniform} for delays), with
    C{random.SystemRandom}'s results: the same bytes from the kernel, turned
    into numbers the same way.
    """

    def getrandbits(self, k: int) -> int:
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        size = (k + 7) // 8
        return int.from_bytes(os.urandom(size), "big") >> (size * 8 - k)

    def random(self) -> float:
        """
        A float in C{[0.0, 1.0)}.
        """
        return (int.from_bytes(os.urandom(7), "big") >> (56 - _FLOAT_BITS)) * _FLOAT_STEP

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()
