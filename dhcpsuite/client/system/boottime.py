# -*- test-case-name: tests.unit.test_client_service -*-
"""
Time for the client: the wall clock and C{CLOCK_BOOTTIME} together. Leases
are timed on the boottime clock, which neither jumps when the wall clock is
set nor stops in suspend. The reactor's timers on it, and the L{IClock}
declaration, are in L{dhcpsuite.client.shell.deadline_timers}; this module imports neither
Twisted nor zope, so the early path (L{dhcpsuite.client.early}) can use it.
"""

from __future__ import annotations

import time

CLOCK_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", 7)
# A timer armed this close to its deadline counts as due (float rounding).
EPSILON = 1e-6


class BoottimeClock:
    """
    C{wall()}: the wall clock; C{monotonic()}: seconds of C{CLOCK_BOOTTIME}.
    """

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.clock_gettime(CLOCK_BOOTTIME)
