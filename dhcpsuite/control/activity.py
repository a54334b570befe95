# -*- test-case-name: tests.unit.test_control_page -*-
"""
What the status page remembers that the components do not: the server's
exchanges per minute over the last hour, and each WAN client's last state
transitions with the time they happened.

Both are read from the control side. The server only increments its plain
counters, as it always has; a timer here samples them every
L{SAMPLE_INTERVAL} seconds and files the difference under the current
minute of a ring of L{MINUTES} buckets (fixed memory, whatever the traffic).
The client agents already tell observers of every state change; the log
keeps the last few per interface.
"""

from __future__ import annotations

import collections
import enum
from typing import Any, Callable, Mapping, Sequence

import attrs
from twisted.internet import task
from twisted.logger import Logger

MINUTES = 60
SAMPLE_INTERVAL = 10.0
TRANSITIONS_KEPT = 8


class Exchange(enum.Enum):
    """
    The series the chart draws: each sums the server counters named
    C{value} or C{value:<reason>}.
    """

    OFFER = "offer"
    ACK = "ack"
    NAK = "nak"
    DROP = "drop"


def exchange_totals(counters: Mapping[str, int]) -> tuple[int, ...]:
    """
    The server's running totals, one per L{Exchange}, in that order.
    """
    totals = dict.fromkeys(Exchange, 0)
    by_name = {kind.value: kind for kind in Exchange}
    for key, value in counters.items():
        kind = by_name.get(key.partition(":")[0])
        if kind is not None:
            totals[kind] += value
    return tuple(totals[kind] for kind in Exchange)


class ExchangeRates:
    """
    A ring of per-minute counts, one slot per minute of the last C{minutes},
    filled from running totals sampled at any interval.

    A total that goes down (a counter reset, a restarted server) counts
    from zero again, as Prometheus reads a counter. A clock that steps back
    files its samples under the latest minute seen rather than rewriting
    the past.
    """

    def __init__(self, minutes: int = MINUTES) -> None:
        self.minutes = minutes
        self._stamps = [-1] * minutes
        self._counts = [[0] * len(Exchange) for _ in range(minutes)]
        self._last: tuple[int, ...] | None = None
        self._latest = -1

    def sample(self, now: float, totals: Sequence[int]) -> None:
        totals = tuple(totals)
        last, self._last = self._last, totals
        if last is None:
            return
        minute = max(int(now // 60), self._latest)
        self._latest = minute
        slot = minute % self.minutes
        counts = self._counts[slot]
        if self._stamps[slot] != minute:
            self._stamps[slot] = minute
            counts[:] = [0] * len(counts)
        for index, (total, before) in enumerate(zip(totals, last)):
            counts[index] += total - before if total >= before else total

    def series(self, now: float) -> list[tuple[int, ...]]:
        """
        @return: C{minutes} tuples of counts (one per L{Exchange}), oldest
            first; the last is the current, partial, minute.
        """
        current = max(int(now // 60), self._latest)
        empty = (0,) * len(Exchange)
        result = []
        for minute in range(current - self.minutes + 1, current + 1):
            slot = minute % self.minutes
            result.append(tuple(self._counts[slot]) if self._stamps[slot] == minute else empty)
        return result


@attrs.frozen
class Transition:
    at: float
    old: str
    new: str
    cause: str


class TransitionLog:
    """
    The last L{TRANSITIONS_KEPT} state changes of each client agent, stamped
    with the wall clock when the agent reported them.
    """

    def __init__(self, clock: Callable[[], float], kept: int = TRANSITIONS_KEPT) -> None:
        self._clock = clock
        self._kept = kept
        self._by_interface: dict[str, collections.deque[Transition]] = {}
        self._attached: dict[str, tuple[Any, Callable[[Any], None]]] = {}

    def attach(self, agents: Mapping[str, Any]) -> None:
        """
        Follow every agent in C{agents} (name to an object with an
        C{observers} list of callables told of each C{StateChanged}).
        Idempotent: call again as agents come and go.
        """
        for name, agent in agents.items():
            known = self._attached.get(name)
            if known is not None and known[0] is agent:
                continue
            observer = self._observer(name)
            agent.observers.append(observer)
            self._attached[name] = (agent, observer)

    def detach(self) -> None:
        for agent, observer in self._attached.values():
            if observer in agent.observers:
                agent.observers.remove(observer)
        self._attached.clear()

    def _observer(self, name: str) -> Callable[[Any], None]:
        def changed(change: Any) -> None:
            self.record(name, change.old.value, change.new.value, change.cause)

        return changed

    def record(self, name: str, old: str, new: str, cause: str) -> None:
        log = self._by_interface.get(name)
        if log is None:
            log = self._by_interface[name] = collections.deque(maxlen=self._kept)
        log.append(Transition(self._clock(), old, new, cause))

    def recent(self, name: str) -> list[Transition]:
        """
        The interface's kept transitions, newest first.
        """
        return list(reversed(self._by_interface.get(name, ())))


class Activity:
    """
    The page's memory of a running daemon: exchange rates and client
    transitions, sampled by a timer on the injected C{reactor} while the
    control site listens.
    """

    log = Logger()

    def __init__(self, daemon: Any, reactor: Any, interval: float = SAMPLE_INTERVAL) -> None:
        self.daemon = daemon
        self.reactor = reactor
        self.interval = interval
        self.rates = ExchangeRates()
        self.transitions = TransitionLog(lambda: self.reactor.seconds())
        # Also called on every sample: work the page batches off the packet path.
        self.listeners: list[Callable[[], None]] = []
        self._timer: task.LoopingCall | None = None
        self._follow_clients()

    def _follow_clients(self) -> None:
        manager = getattr(self.daemon.client, "manager", None)
        agents = getattr(manager, "agents", None)
        if isinstance(agents, dict):
            self.transitions.attach(agents)

    def sample(self) -> None:
        """
        Take the counters now (also done just before a page is drawn, so
        its current minute is up to date).
        """
        server = self.daemon.server
        if server is not None:
            self.rates.sample(self.reactor.seconds(), exchange_totals(server.counters))
        self._follow_clients()
        for listener in self.listeners:
            listener()

    def start(self) -> None:
        if self._timer is None:
            self._timer = task.LoopingCall(self.sample)
            self._timer.clock = self.reactor
            self._timer.start(self.interval, now=True).addErrback(
                lambda f: self.log.failure("Status page sampling stopped", f)
            )

    def stop(self) -> None:
        if self._timer is not None:
            if self._timer.running:
                self._timer.stop()
            self._timer = None
