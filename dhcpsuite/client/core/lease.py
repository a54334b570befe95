# -*- test-case-name: tests.unit.test_client_machine -*-
"""
A lease the client holds: the ACK it came from plus when it was obtained,
on both clocks (monotonic for deadlines, wall for persisting), and what the
ACK means for the interface (prefix, routes, MTU).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from dhcpsuite.dhcp4.constants import Option
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.packet import Message
from dhcpsuite.client.core.schedule import INFINITE, sanitise_times
from dhcpsuite.records import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path does not import typing
    from typing import Any

_ANY = IPv4Network("0.0.0.0/0")
_ZERO = IPv4Address(0)


class RouteSpec(Record):
    """
    One route a lease asks for; C{gateway} L{None} means on-link.
    """

    destination: IPv4Network
    gateway: IPv4Address | None


class Lease(Record, eq=False):
    """
    @ivar acquired: monotonic (C{CLOCK_BOOTTIME}) time the REQUEST that
        obtained it was sent: RFC 2131 section 4.4.1 counts the lease from
        then, not from the ACK.
    @ivar acquired_wall: the same instant on the wall clock, for persisting.
    @ivar reply: the ACK.
    """

    address: IPv4Address
    server_id: IPv4Address
    lease_time: int | None
    t1: float | None
    t2: float | None
    acquired: float
    acquired_wall: float
    reply: Message

    @classmethod
    def from_ack(cls, ack: Message, acquired: float, acquired_wall: float, minimum_lease: float = 0.0,
                 minimum_t1: float = 0.0) -> "Lease":
        """
        @param minimum_lease: a shorter lease time from the server is used
            as this long (L{Schedule.minimum_lease}).
        @param minimum_t1: T1/T2 sooner than this are replaced by the
            defaults (L{Schedule.minimum_t1}).
        """
        lease_time = _option(ack, Option.LEASE_TIME)
        if lease_time is not None and lease_time >= INFINITE:
            lease_time = None
        if lease_time is not None and lease_time < minimum_lease:
            lease_time = int(minimum_lease)
        t1, t2 = sanitise_times(
            lease_time, _option(ack, Option.RENEWAL_TIME), _option(ack, Option.REBINDING_TIME), minimum_t1,
        )
        return cls(
            address=ack.yiaddr,
            server_id=ack.option(Option.SERVER_ID),
            lease_time=lease_time,
            t1=t1,
            t2=t2,
            acquired=acquired,
            acquired_wall=acquired_wall,
            reply=ack,
        )

    # Deadlines on the monotonic clock; None for an infinite lease.

    @property
    def renew_at(self) -> float | None:
        return None if self.t1 is None else self.acquired + self.t1

    @property
    def rebind_at(self) -> float | None:
        return None if self.t2 is None else self.acquired + self.t2

    @property
    def expires_at(self) -> float | None:
        return None if self.lease_time is None else self.acquired + self.lease_time

    @property
    def expires_wall(self) -> float | None:
        return None if self.lease_time is None else self.acquired_wall + self.lease_time

    def remaining(self, now: float) -> float | None:
        expires = self.expires_at
        return None if expires is None else max(0.0, expires - now)

    def same_binding(self, other: "Lease | None") -> bool:
        return other is not None and other.address == self.address

    # What the lease means for the interface.

    def option(self, code: int, default: Any = None) -> Any:
        return _option(self.reply, code, default)

    @property
    def prefix_length(self) -> int:
        mask = self.option(Option.SUBNET_MASK)
        if mask is not None:
            try:
                return IPv4Network(f"0.0.0.0/{mask}").prefixlen
            except ValueError:
                pass
        return _classful_prefix(self.address)

    @property
    def interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.address}/{self.prefix_length}")

    @property
    def broadcast(self) -> IPv4Address:
        return self.option(Option.BROADCAST_ADDRESS) or self.interface.network.broadcast_address

    @property
    def routers(self) -> list[IPv4Address]:
        return list(self.option(Option.ROUTER) or [])

    @property
    def mtu(self) -> int | None:
        mtu = self.option(Option.INTERFACE_MTU)
        # RFC 2132 section 5.1: the minimum legal value is 68.
        return mtu if mtu is not None and mtu >= 68 else None

    def routes(self) -> list[RouteSpec]:
        """
        RFC 3442: when option 121 is present, options 3 and 33 are ignored.
        Otherwise option 33 (classful host/network routes) and a default
        route through the first router of option 3.

        A gateway outside the lease's subnet (a /32 lease, or a provider's
        router in another network) first gets an on-link host route, as
        dhclient-script and systemd-networkd add: without it the kernel
        refuses the route through it (ENETUNREACH).
        """
        return _reach_gateways(self._requested_routes(), self.interface.network)

    def _requested_routes(self) -> list[RouteSpec]:
        classless = self.option(Option.CLASSLESS_STATIC_ROUTE)
        if classless:
            return [
                RouteSpec(route.destination, None if route.gateway == _ZERO else route.gateway)
                for route in classless
            ]
        routes = []
        static = self.option(Option.STATIC_ROUTE) or []
        for destination, gateway in zip(static[0::2], static[1::2]):
            if destination == _ZERO:
                continue  # RFC 2132 section 5.8: 0.0.0.0 is not a legal destination here.
            network = IPv4Network(f"{destination}/{_classful_prefix(destination)}", strict=False)
            routes.append(RouteSpec(network, gateway))
        if self.routers:
            routes.append(RouteSpec(_ANY, self.routers[0]))
        return routes


def _option(message: Message, code: int, default: Any = None) -> Any:
    # A malformed option is as good as absent: the rest of the lease stands.
    try:
        return message.option(code, default)
    except DecodeError:
        return default


def _reach_gateways(routes: list[RouteSpec], subnet: IPv4Network) -> list[RouteSpec]:
    on_link = [route.destination for route in routes if route.gateway is None]
    added: list[RouteSpec] = []
    for route in routes:
        gateway = route.gateway
        if gateway is None or gateway in subnet or any(gateway in network for network in on_link):
            continue
        host = RouteSpec(IPv4Network(f"{gateway}/32"), None)
        if host not in added:
            added.append(host)
    return added + routes


def _classful_prefix(address: IPv4Address) -> int:
    first = address.packed[0]
    if first < 128:
        return 8
    if first < 192:
        return 16
    return 24
