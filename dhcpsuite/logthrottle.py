# -*- test-case-name: tests.unit.test_logthrottle -*-
"""
Thinning the log of events that a peer can repeat at line rate (malformed
packets, bad frames), so that a flood of garbage cannot flood the log too.

The first event of each kind (key) is logged in full; while more keep
coming, the rest are only counted, and at most one line per interval says
how many there were, by key. Once a whole interval passes with nothing
suppressed the episode is over and the next event of any kind is logged in
full again. The caller keeps its own counters exact; only the log is thinned.

The throttle decides and keeps count; the caller logs, with its own logger,
format and fields (L{LogThrottle.allow} says whether to log this one, the
C{summarise} callback gets the counts). Time is the injected
C{IReactorTime}, so a C{task.Clock} drives it in tests. Nothing here
imports Twisted, so the client's early path can use it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Hashable, Mapping

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

Summarise = Callable[[Mapping[Hashable, int], float], None]


class LogThrottle:
    """
    @param clock: an C{IReactorTime} (C{seconds}, C{callLater}).
    @param summarise: called with the suppressed counts by key and the
        seconds they cover, at the end of every interval in which something
        was suppressed (and by L{flush}).
    """

    def __init__(self, clock: IReactorTime, interval: float, summarise: Summarise) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.clock = clock
        self.interval = interval
        self._summarise = summarise
        # Keys logged in full this episode; a new key is worth one line.
        self._reported: set[Hashable] = set()
        self._suppressed: dict[Hashable, int] = {}
        self._since = 0.0
        self._timer: IDelayedCall | None = None

    def allow(self, key: Hashable) -> bool:
        """
        An event of kind C{key} happened: should it be logged in full?
        Otherwise it is counted for the next summary.
        """
        if key not in self._reported:
            self._reported.add(key)
            if self._timer is None:
                self._since = self.clock.seconds()
                self._timer = self.clock.callLater(self.interval, self._interval_over)
            return True
        self._suppressed[key] = self._suppressed.get(key, 0) + 1
        return False

    @property
    def suppressed(self) -> int:
        """
        How many events wait for the next summary.
        """
        return sum(self._suppressed.values())

    def flush(self) -> None:
        """
        Summarise now what was suppressed so far (at shutdown, say).
        """
        if self._suppressed:
            counts, self._suppressed = self._suppressed, {}
            now = self.clock.seconds()
            seconds, self._since = now - self._since, now
            self._summarise(counts, seconds)

    def stop(self) -> None:
        """
        Flush, cancel the timer and forget the episode.
        """
        self.flush()
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        self._reported.clear()

    def _interval_over(self) -> None:
        if self._suppressed:
            self.flush()
            self._timer = self.clock.callLater(self.interval, self._interval_over)
        else:
            self._timer = None
            self._reported.clear()


def describe_counts(counts: Mapping[Hashable, int]) -> str:
    """
    C{"truncated=1000, bad-option=234"}: most frequent first.
    """
    return ", ".join(f"{key}={count}" for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))
