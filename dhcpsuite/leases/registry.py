# -*- test-case-name: tests.unit.test_registry -*-
"""
The lease registry: the leases this host holds, per interface and address
family (the per-interface record RDK-B keeps in TR-181, e.g.
C{Device.DHCPv4.Client.{i}.IPAddress}).

Whoever learns a lease writes it here (the lease-ingest handlers, our own
DHCP client); whoever cares listens (L{ILeaseListener}): nobody polls.
The registry does not interpret the lease records it holds; it stores them
with the time they were learned and tells every listener of every change.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import attrs
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.interfaces import ILeaseListener, ILeaseRegistry

FAMILY_V4 = 4
FAMILY_V6 = 6
FAMILIES = (FAMILY_V4, FAMILY_V6)

# Causes the ingest handlers use; the DHCP client's are its hook events
# (dhcpsuite.client.core.machine.Event: BOUND, EXTEND, EXPIRE, DROP, RELEASE, NAK).
CAUSE_UPDATED = "updated"
CAUSE_RENEWED = "renewed"
CAUSE_EXPIRED = "expired"


# Without slots: attrs' frozen __init__ is then twice as fast, and an entry
# is made for every lease message.
@attrs.frozen(slots=False)
class RegistryEntry:
    """
    The current lease of one interface and family.

    @ivar learned_at: wall-clock seconds when this lease record was set.
    """

    interface: str
    family: int
    lease: Any
    learned_at: float
    cause: str


@attrs.frozen(slots=False)
class LeaseChange:
    """
    One change to the registry, as told to every L{ILeaseListener}.

    @ivar old: the lease record before (L{None} if there was none).
    @ivar new: the lease record after (L{None} when it was cleared).
    @ivar cause: why (e.g. C{"updated"}, C{"renewed"}, C{"expired"}).
    """

    interface: str
    family: int
    old: Any
    new: Any
    cause: str


class RegistryFull(Exception):
    """
    A new interface was refused: as many as the writer's limit allows are
    held already.
    """

    reason = "registry-full"


def _check_family(family: int) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family must be {FAMILY_V4} or {FAMILY_V6}, not {family!r}")


@implementer(ILeaseRegistry)
class LeaseRegistry:
    """
    Per-interface current v4 and v6 lease, with the time each was learned.

    @param now: wall-clock time source (seconds), injected for tests.
    """

    log = Logger()

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._entries: dict[tuple[str, int], RegistryEntry] = {}
        self._listeners: list = []
        # Interfaces first written under a limit (see set_lease), until
        # their last lease is cleared.
        self._limited: set[str] = set()

    # ---- listeners ----

    def add_listener(self, listener) -> None:
        """
        @param listener: an L{ILeaseListener}; told of every later change, in
            the order listeners were added.
        """
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, change: LeaseChange) -> None:
        for listener in tuple(self._listeners):
            try:
                listener.lease_changed(change)
            except Exception:
                # One broken listener must not keep the others (or the writer) from working.
                self.log.failure("Lease listener {listener!r} failed on {change!r}", listener=listener, change=change)

    # ---- writes ----

    def set_lease(self, ifname: str, family: int, record: Any, cause: str, limit: int | None = None) -> RegistryEntry:
        """
        Make C{record} the current lease of C{ifname} for C{family} (replacing
        any), stamped with the current time, and tell the listeners.

        @param limit: for a writer that may name any interface (lease ingest
            with C{accept_unmanaged}): an interface the registry does not
            hold yet is taken only while fewer than C{limit} interfaces so
            written are held. Held leases are never evicted to make room: a
            flood of made-up names cannot push out a real lease.
        @raise RegistryFull: when C{limit} refuses the interface.
        """
        if family not in FAMILIES:
            _check_family(family)
        key = (ifname, family)
        previous = self._entries.get(key)
        if limit is not None and previous is None and ifname not in self._limited:
            if self._holds(ifname):
                pass  # another family of it is held: not a new interface
            elif len(self._limited) >= limit:
                raise RegistryFull(f"{len(self._limited)} interfaces are held, the limit is {limit}")
            else:
                self._limited.add(ifname)
        entry = self._entries[key] = RegistryEntry(ifname, family, record, self._now(), cause)
        if self._listeners:
            self._notify(LeaseChange(ifname, family, None if previous is None else previous.lease, record, cause))
        return entry

    def clear_lease(self, ifname: str, family: int, cause: str) -> bool:
        """
        Forget the current lease of C{ifname} for C{family}.

        @return: whether there was one (listeners are told only then).
        """
        _check_family(family)
        previous = self._entries.pop((ifname, family), None)
        if previous is None:
            return False
        if ifname in self._limited and not self._holds(ifname):
            self._limited.discard(ifname)
        self._notify(LeaseChange(ifname, family, previous.lease, None, cause))
        return True

    def _holds(self, ifname: str) -> bool:
        entries = self._entries
        return (ifname, FAMILY_V4) in entries or (ifname, FAMILY_V6) in entries

    # ---- reads ----

    def current(self, ifname: str, family: int) -> RegistryEntry | None:
        """
        @return: the L{RegistryEntry} (lease, learned_at, cause), or L{None}.
        """
        return self._entries.get((ifname, family))

    def lease(self, ifname: str, family: int) -> Any:
        """
        @return: just the current lease record, or L{None}.
        """
        entry = self._entries.get((ifname, family))
        return None if entry is None else entry.lease

    def snapshot(self) -> dict[tuple[str, int], RegistryEntry]:
        """
        @return: a copy of every entry, keyed by C{(ifname, family)}.
        """
        return dict(self._entries)

    def interfaces(self) -> list[str]:
        return sorted({ifname for ifname, _ in self._entries})


@implementer(ILeaseListener)
class RecordingLeaseListener:
    """
    An L{ILeaseListener} that keeps every L{LeaseChange} it is told of (for
    tests, and for anything that wants a history).
    """

    def __init__(self) -> None:
        self.changes: list[LeaseChange] = []

    def lease_changed(self, change: LeaseChange) -> None:
        self.changes.append(change)
