# -*- test-case-name: tests.unit.test_netlink_reader -*-
"""
The interface table: the reader's cache of links, addresses and routes, and
the one place that turns kernel descriptions into change events.

Every mutation returns the events it implies, so the reader (and a listener
rebuilding its own view from those events) always agrees with the table.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator

from zope.interface import implementer

from dhcpsuite.interfaces import IInterfaceTable

from dhcpsuite.netlink.events import (
    Address, AddressAdded, AddressChanged, AddressRemoved, Link, LinkAdded, LinkChanged,
    LinkRemoved, Route, RouteAdded, RouteRemoved,
)

HOST_SCOPE = 254
DEPARTED_KEPT = 1024


@implementer(IInterfaceTable)
class InterfaceTable:
    """
    @ivar links: ifindex -> L{Link}.
    @ivar addresses: L{Address.key} -> L{Address}.
    @ivar routes: L{Route} -> L{Route} (the value keeps the resolved name).
    @ivar names: ifindex -> interface name, for decoding.
    @ivar known: the body bytes of the message each address and route was
        last decoded from -> that record, so that a message repeating them
        (a delete, a resync dump of an unchanged record) needs no decoding:
        the records in the table and the last L{DEPARTED_KEPT} that left it.
    """

    def __init__(self) -> None:
        self.links: dict[int, Link] = {}
        self.addresses: dict[tuple, Address] = {}
        self.routes: dict[Route, Route] = {}
        self.names: dict[int, str] = {}
        self._by_ifindex: dict[int, dict[tuple, Address]] = {}
        # Indexes so that a burst costs O(1) per message, not O(table).
        self._address_ips: dict[object, int] = {}
        self._by_identity: dict[tuple, set[Route]] = {}
        self._by_source: dict[object, set[Route]] = {}
        self.known: dict[bytes, Address | Route] = {}
        self._departed: deque[bytes] = deque()
        self._address_raw: dict[tuple, bytes] = {}
        self._route_raw: dict[Route, bytes] = {}

    # Queries

    def link(self, name_or_index: str | int) -> Link | None:
        if isinstance(name_or_index, int):
            return self.links.get(name_or_index)
        for link in self.links.values():
            if link.name == name_or_index:
                return link
        return None

    def addresses_of(self, name_or_index: str | int) -> list[Address]:
        link = self.link(name_or_index)
        if link is None:
            return []
        return list(self._by_ifindex.get(link.ifindex, {}).values())

    def routes_via(self, name_or_index: str | int) -> list[Route]:
        link = self.link(name_or_index)
        if link is None:
            return []
        return [r for r in self.routes.values() if r.oif == link.ifindex]

    def snapshot(self) -> Iterator[object]:
        """
        The current state as C{*Added} events: links, then addresses, then
        routes, so a listener can build its view and then follow deltas.
        """
        for link in list(self.links.values()):
            yield LinkAdded(link)
        for address in list(self.addresses.values()):
            yield AddressAdded(address)
        for route in list(self.routes.values()):
            yield RouteAdded(route)

    # Mutations: each returns the events it caused.

    def put_link(self, link: Link) -> list[object]:
        previous = self.links.get(link.ifindex)
        self.links[link.ifindex] = link
        self.names[link.ifindex] = link.name
        if previous is None:
            return [LinkAdded(link)]
        if previous != link:
            return [LinkChanged(link, previous)]
        return []

    def remove_link(self, ifindex: int) -> list[object]:
        link = self.links.pop(ifindex, None)
        if link is None:
            return []
        self.names.pop(ifindex, None)
        events: list[object] = [LinkRemoved(link)]
        # Nothing can stay on a link that is gone, whatever the kernel said.
        for key in list(self._by_ifindex.get(ifindex, {})):
            events.append(AddressRemoved(self._pop_address(key)))
        events.extend(self.remove_routes(lambda r: r.oif == ifindex or _all_nexthops_via(r, ifindex)))
        return events

    def put_address(self, address: Address, raw: bytes = b"") -> list[object]:
        """
        @param raw: the message body C{address} was decoded from, if any.
        """
        key = address.key()
        previous = self.addresses.get(key)
        if previous is address:
            return []
        self._remember(self._address_raw, key, raw, address)
        self.addresses[key] = address
        self._by_ifindex.setdefault(address.ifindex, {})[key] = address
        if previous is None:
            ip = address.interface.ip
            self._address_ips[ip] = self._address_ips.get(ip, 0) + 1
        if previous is None:
            return [AddressAdded(address)]
        if previous != address:
            return [AddressChanged(address, previous)]
        return []

    def remove_address(self, address: Address) -> list[object]:
        removed = self._pop_address(address.key())
        return [AddressRemoved(removed)] if removed is not None else []

    def _pop_address(self, key: tuple) -> Address | None:
        removed = self.addresses.pop(key, None)
        if removed is not None:
            self._forget(self._address_raw, key)
            ip = removed.interface.ip
            left = self._address_ips.get(ip, 1) - 1
            if left:
                self._address_ips[ip] = left
            else:
                self._address_ips.pop(ip, None)
            on_link = self._by_ifindex.get(removed.ifindex)
            if on_link is not None:
                on_link.pop(key, None)
                if not on_link:
                    del self._by_ifindex[removed.ifindex]
        return removed

    def put_route(self, route: Route, replace: bool = False, raw: bytes = b"") -> list[object]:
        """
        @param raw: the message body C{route} was decoded from, if any.
        """
        if not replace and self.routes.get(route) is route:
            return []
        events: list[object] = []
        if replace:
            for old in list(self._by_identity.get(route.identity(), ())):
                if old != route:
                    events.append(RouteRemoved(self._pop_route(old)))
        if route not in self.routes:
            events.append(RouteAdded(route))
            self._by_identity.setdefault(route.identity(), set()).add(route)
            if route.source is not None:
                self._by_source.setdefault(route.source, set()).add(route)
        self.routes[route] = route
        self._remember(self._route_raw, route, raw, route)
        return events

    def _remember(self, index: dict, key: object, raw: bytes, record: Address | Route) -> None:
        old = index.pop(key, None)
        if raw:
            index[key] = raw
            self.known[raw] = record
        if old is not None and old != raw:
            self._depart(old)

    def _forget(self, index: dict, key: object) -> None:
        raw = index.pop(key, None)
        if raw is not None:
            self._depart(raw)

    def _depart(self, raw: bytes) -> None:
        """
        Keep a record that left the table in C{known} for the next
        L{DEPARTED_KEPT} departures: the kernel's own delete often follows
        (an IPv4 address's RTM_DELADDR comes before the RTM_DELROUTEs of its
        routes, which L{ipv4_address_gone} has already dropped).
        """
        departed = self._departed
        departed.append(raw)
        if len(departed) > DEPARTED_KEPT:
            oldest = departed.popleft()
            record = self.known.get(oldest)
            if record is not None and not self._live(oldest, record):
                del self.known[oldest]

    def _live(self, raw: bytes, record: Address | Route) -> bool:
        if isinstance(record, Route):
            return self._route_raw.get(record) == raw
        return self._address_raw.get(record.key()) == raw

    def remove_route(self, route: Route) -> list[object]:
        removed = self._pop_route(route)
        return [RouteRemoved(removed)] if removed is not None else []

    def remove_routes(self, predicate, candidates=None) -> list[object]:
        doomed = [r for r in (self.routes if candidates is None else candidates) if predicate(r)]
        return [RouteRemoved(self._pop_route(r)) for r in doomed]

    def _pop_route(self, route: Route) -> Route | None:
        removed = self.routes.pop(route, None)
        if removed is not None:
            self._forget(self._route_raw, route)
            for index, key in ((self._by_identity, route.identity()), (self._by_source, route.source)):
                bucket = index.get(key)
                if bucket is not None:
                    bucket.discard(route)
                    if not bucket:
                        del index[key]
        return removed

    # What the kernel does without telling (IPv4 flushes routes silently).

    def link_went_down(self, ifindex: int) -> list[object]:
        """
        IPv4 drops every route whose next hops are all on a link taken
        down, except the host-scope local routes, and sends no RTM_DELROUTE.
        """
        return self.remove_routes(
            lambda r: r.family == 2 and r.scope != HOST_SCOPE
            and (r.oif == ifindex or _all_nexthops_via(r, ifindex))
        )

    def ipv4_address_gone(self, address: Address) -> list[object]:
        """
        IPv4 drops routes whose preferred source was an address no longer
        present anywhere, silently.
        """
        ip = address.interface.ip
        if address.family != 2 or ip in self._address_ips:
            return []
        return self.remove_routes(lambda r: r.family == 2, list(self._by_source.get(ip, ())))

    # Resync bookkeeping

    def keys(self, kind: str) -> Iterable:
        if kind == "link":
            return list(self.links)
        if kind == "address":
            return list(self.addresses)
        return list(self.routes)

    def sweep(self, kind: str, seen: set) -> list[object]:
        """
        Remove every object of C{kind} not in C{seen} (a dump did not list it
        and no notification mentioned it while the dump ran).
        """
        events: list[object] = []
        for key in self.keys(kind):
            if key in seen:
                continue
            if kind == "link":
                events.extend(self.remove_link(key))
            elif kind == "address":
                removed = self._pop_address(key)
                if removed is not None:
                    events.append(AddressRemoved(removed))
            elif key in self.routes:
                events.append(RouteRemoved(self._pop_route(key)))
        return events


def _all_nexthops_via(route: Route, ifindex: int) -> bool:
    return bool(route.nexthops) and all(nh[1] == ifindex for nh in route.nexthops)
