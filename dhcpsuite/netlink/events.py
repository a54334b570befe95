# -*- test-case-name: tests.unit.test_netlink_decode -*-
"""
Typed, immutable netlink state records and the events the reader delivers.

A record (L{Link}, L{Address}, L{Route}) is one kernel object as the kernel
last described it. Equality is what the reader diffs on, so fields that
change on their own (address lifetimes count down) and derived names are left
out of it.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Union

import attrs

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000


@attrs.frozen
class Link:
    """
    A network interface.

    @ivar admin_up: C{IFF_UP} (C{ip link set X up}).
    @ivar carrier: the lower layer is up (C{IFF_LOWER_UP} / C{IFLA_CARRIER}).
    @ivar operstate: RFC 2863 state as C{ip} prints it: C{"UP"}, C{"DOWN"},
        C{"LOWERLAYERDOWN"}, C{"UNKNOWN"}, ...
    @ivar mac: C{"aa:bb:cc:dd:ee:ff"}, or L{None} for links without one.
    """

    ifindex: int
    name: str
    admin_up: bool
    carrier: bool
    operstate: str
    mac: str | None
    mtu: int
    flags: int
    kind: str | None = None


@attrs.frozen
class Address:
    """
    An address on an interface.

    @ivar interface: the local address with its prefix length.
    @ivar valid_lifetime: seconds left when the kernel reported it, L{None}
        for forever. Not compared (it counts down).
    """

    ifindex: int
    interface: IPInterface
    peer: IPAddress | None = None  # point-to-point only
    broadcast: ipaddress.IPv4Address | None = None
    label: str | None = None
    scope: int = 0
    flags: int = 0
    valid_lifetime: int | None = attrs.field(default=None, eq=False)
    preferred_lifetime: int | None = attrs.field(default=None, eq=False)
    ifname: str | None = attrs.field(default=None, eq=False)
    # Computed once: the table hashes keys several times per message.
    _key: tuple = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        interface = self.interface
        peer = int(self.peer) if self.peer is not None else None
        key = (self.ifindex, interface.version, int(interface.ip), interface.network.prefixlen, peer)
        object.__setattr__(self, "_key", key)

    @property
    def family(self) -> int:
        return 2 if self.interface.version == 4 else 10

    @property
    def address(self) -> IPAddress:
        return self.interface.ip

    @property
    def prefix_length(self) -> int:
        return self.interface.network.prefixlen

    def key(self) -> tuple:
        """
        The kernel's identity of an address: interface, local address,
        prefix length and peer.
        """
        return self._key


@attrs.frozen(cache_hash=True)
class Route:
    """
    A route. Every compared field is part of its identity, so a route that
    changes is one removed and one added.

    @ivar oif: output interface index, or L{None}.
    @ivar source: the preferred source address (C{RTA_PREFSRC}).
    @ivar nexthops: for multipath routes, C{((gateway, oif, weight), ...)}.
    """

    family: int
    destination: IPNetwork
    table: int
    metric: int = 0
    gateway: IPAddress | None = None
    oif: int | None = None
    source: IPAddress | None = None
    protocol: int = 0
    scope: int = 0
    type: int = 1
    tos: int = 0
    nexthops: tuple = ()
    ifname: str | None = attrs.field(default=None, eq=False)

    def identity(self) -> tuple:
        """
        What the kernel matches an C{NLM_F_REPLACE} against.
        """
        return (self.family, self.table, self.destination, self.tos, self.metric)


@attrs.frozen
class LinkAdded:
    link: Link


@attrs.frozen
class LinkChanged:
    link: Link
    previous: Link


@attrs.frozen
class LinkRemoved:
    link: Link


@attrs.frozen
class AddressAdded:
    address: Address


@attrs.frozen
class AddressChanged:
    """
    Flags or scope changed (an IPv6 address leaving C{tentative}); lifetime
    refreshes alone are not reported.
    """

    address: Address
    previous: Address


@attrs.frozen
class AddressRemoved:
    address: Address


@attrs.frozen
class RouteAdded:
    route: Route


@attrs.frozen
class RouteRemoved:
    route: Route


@attrs.frozen
class Overrun:
    """
    The kernel dropped notifications (C{ENOBUFS}); a resync follows, and its
    differences arrive as ordinary events before L{Resynced}.
    """

    count: int


@attrs.frozen
class Resynced:
    """
    A re-dump finished and every difference from the cache was delivered.
    """

    kinds: tuple
    changes: int


@attrs.frozen
class Synced:
    """
    The initial dump is complete: the table now mirrors the kernel.
    """


Event = Union[
    LinkAdded, LinkChanged, LinkRemoved, AddressAdded, AddressChanged, AddressRemoved,
    RouteAdded, RouteRemoved, Overrun, Resynced, Synced,
]

_EVENT_NAMES = {
    LinkAdded: "link_added",
    LinkChanged: "link_changed",
    LinkRemoved: "link_removed",
    AddressAdded: "address_added",
    AddressChanged: "address_changed",
    AddressRemoved: "address_removed",
    RouteAdded: "route_added",
    RouteRemoved: "route_removed",
    Overrun: "overrun",
    Resynced: "resynced",
    Synced: "synced",
}


def event_name(event: Event) -> str:
    return _EVENT_NAMES[type(event)]


def to_json(value: Any) -> Any:
    """
    A JSON-serialisable form of a record or event (addresses as strings).
    """
    if attrs.has(type(value)):
        out = {}
        if type(value) in _EVENT_NAMES:
            out["event"] = event_name(value)
        for field in attrs.fields(type(value)):
            if field.repr:
                out[field.name] = to_json(getattr(value, field.name))
        if isinstance(value, Address):
            out["family"] = "inet" if value.interface.version == 4 else "inet6"
        return out
    if isinstance(value, (tuple, list)):
        return [to_json(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
