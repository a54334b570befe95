# -*- test-case-name: tests.unit.test_netlink_readiness -*-
"""
Interface readiness: is an interface admin up, with carrier, and (where
asked) holding an IPv4 address in a given subnet? Listeners hear only of
transitions, optionally debounced so a flapping link does not flap them.

The vsomeip lesson: do not serve on an interface until it is up and
addressed, and stop when it is not.
"""

from __future__ import annotations

import ipaddress

import attrs
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.interfaces import INetlinkListener, IReadinessListener
from dhcpsuite.netlink.events import Event, Overrun
from dhcpsuite.netlink.table import InterfaceTable


@attrs.define
class _Watch:
    """
    @ivar basis: while ready with a subnet, its IPv4 addresses in the subnet
        (what a server takes its identifier from).
    """

    ifname: str
    subnet: ipaddress.IPv4Network | None
    debounce: float
    ready: bool = False
    pending: IDelayedCall | None = None
    basis: frozenset = frozenset()


@implementer(INetlinkListener)
class ReadinessTracker:
    log = Logger()

    def __init__(self, table: InterfaceTable, clock: IReactorTime, debounce: float = 0.0) -> None:
        self._table = table
        self._clock = clock
        self.debounce = debounce
        self._watches: dict[str, _Watch] = {}
        self._listeners: list[IReadinessListener] = []

    def watch(self, ifname: str, subnet: ipaddress.IPv4Network | str | None = None, debounce: float | None = None) -> bool:
        """
        Track C{ifname}; with C{subnet} (an L{ipaddress.IPv4Network} or its
        text) it is ready only with an IPv4 address inside it.

        @return: whether it is ready now. Listeners are not told of this
            initial state, only of later transitions.
        """
        if subnet is not None:
            subnet = ipaddress.IPv4Network(subnet)
        watch = _Watch(ifname, subnet, self.debounce if debounce is None else debounce)
        old = self._watches.pop(ifname, None)
        if old is not None:
            self._cancel(old)
        basis = self._basis(watch)
        watch.ready, watch.basis = basis is not None, basis or frozenset()
        self._watches[ifname] = watch
        return watch.ready

    def unwatch(self, ifname: str) -> None:
        watch = self._watches.pop(ifname, None)
        if watch is not None:
            self._cancel(watch)

    def watched(self) -> list[str]:
        """
        The interfaces being tracked.
        """
        return list(self._watches)

    def is_ready(self, ifname: str) -> bool:
        """
        @return: the last state reported for C{ifname} (False if unwatched).
        """
        watch = self._watches.get(ifname)
        return watch is not None and watch.ready

    def add_listener(self, listener: IReadinessListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: IReadinessListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def stop(self) -> None:
        for watch in self._watches.values():
            self._cancel(watch)

    def netlink_event(self, event: Event) -> None:
        if not self._watches or isinstance(event, Overrun):
            return
        ifname = _ifname_of(event, self._table)
        if ifname is not None:
            watch = self._watches.get(ifname)
            if watch is not None:
                self._update(watch)
            if not hasattr(event, "link"):
                return
        # A link event may be a rename, and synced/resynced ones carry no name.
        for watch in list(self._watches.values()):
            self._update(watch)

    def _basis(self, watch: _Watch) -> frozenset | None:
        """
        L{None} when not ready; else the interface's IPv4 addresses in the
        watched subnet (empty without a subnet).
        """
        link = self._table.link(watch.ifname)
        if link is None or not (link.admin_up and link.carrier):
            return None
        if watch.subnet is None:
            return frozenset()
        inside = frozenset(
            a.interface.ip for a in self._table.addresses_of(link.ifindex)
            if a.interface.version == 4 and a.interface.ip in watch.subnet
        )
        return inside or None

    def _update(self, watch: _Watch) -> None:
        basis = self._basis(watch)
        now = basis is not None
        if now == watch.ready:
            self._cancel(watch)
            if now and basis != watch.basis:
                # Renumbered while ready: said again, so a server learns its
                # new identifier (not a flap: no debounce).
                self._report(watch, True, basis)
            return
        if watch.debounce <= 0:
            self._report(watch, now, basis)
        elif watch.pending is None:
            watch.pending = self._clock.callLater(watch.debounce, self._settle, watch)

    def _settle(self, watch: _Watch) -> None:
        watch.pending = None
        if self._watches.get(watch.ifname) is not watch:
            return
        basis = self._basis(watch)
        if (basis is not None) != watch.ready or (basis is not None and basis != watch.basis):
            self._report(watch, basis is not None, basis)

    def _cancel(self, watch: _Watch) -> None:
        if watch.pending is not None and watch.pending.active():
            watch.pending.cancel()
        watch.pending = None

    def _report(self, watch: _Watch, ready: bool, basis: frozenset | None) -> None:
        self._cancel(watch)
        renumbered = ready and watch.ready
        watch.ready = ready
        watch.basis = basis or frozenset()
        if renumbered:
            self.log.info("Interface {ifname} is still ready, now with {addresses}", ifname=watch.ifname,
                          addresses=", ".join(sorted(str(a) for a in watch.basis)))
        else:
            self.log.info("Interface {ifname} is {state}", ifname=watch.ifname, state="ready" if ready else "not ready")
        for listener in list(self._listeners):
            try:
                listener.readiness_changed(watch.ifname, ready)
            except Exception:
                self.log.failure("Readiness listener {listener!r} failed", listener=listener)


def _ifname_of(event: Event, table: InterfaceTable) -> str | None:
    for name in ("address", "route"):
        record = getattr(event, name, None)
        if record is not None:
            index = record.ifindex if name == "address" else record.oif
            return table.names.get(index) if index is not None else ""
    link = getattr(event, "link", None)
    return link.name if link is not None else None
