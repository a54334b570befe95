# -*- test-case-name: tests.unit.test_client_agent -*-
"""
What applying a lease asks of the interface configurator, as a list of
calls. The agent runs them through the reactor's configurator, one after
another; the early path (L{dhcpsuite.client.early}) runs the same calls
through the blocking one before Twisted is imported.
"""

from __future__ import annotations

from dhcpsuite.client.core.lease import Lease
from dhcpsuite.records import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    # Types only: this module is on the early path, which imports neither
    # zope nor typing.
    from typing import Any

    from dhcpsuite.interfaces import IInterfaceConfigurator
    from dhcpsuite.netlink.blocking import BlockingConfigurator


class ConfiguratorCall(Record):
    """
    @ivar method: the configurator method (C{"add_address"}).
    @ivar arguments: its keyword arguments.
    @ivar what: what it does, for the log (C{"adding the address"}).
    """

    method: str
    arguments: dict[str, Any]
    what: str

    def apply(self, configurator: IInterfaceConfigurator | BlockingConfigurator) -> Any:
        return getattr(configurator, self.method)(**self.arguments)


def lease_calls(ifname: str, lease: Lease, now: float, link_mtu: int | None, route_metric: int | None) -> list[ConfiguratorCall]:
    """
    The address (with the lease's remaining time as its lifetime, so the
    kernel removes it if we die), the MTU when the lease sets another, and
    the routes, on-link ones first: a gateway must be reachable when its
    route is added.
    """
    remaining = lease.remaining(now)
    # Rounded up (ceiling by floor division: the math module is a shared
    # library the early path does not otherwise load).
    lifetime = None if remaining is None else max(1, int(-(-remaining // 1)))
    calls = [ConfiguratorCall("add_address", dict(
        ifname=ifname, interface=lease.interface, broadcast=lease.broadcast,
        valid_lifetime=lifetime, preferred_lifetime=lifetime,
    ), "adding the address")]
    if lease.mtu is not None and lease.mtu != link_mtu:
        calls.append(ConfiguratorCall("set_mtu", dict(ifname=ifname, mtu=lease.mtu), "setting the MTU"))
    for route in sorted(lease.routes(), key=lambda r: r.gateway is not None):
        calls.append(ConfiguratorCall("add_route", dict(
            destination=route.destination, gateway=route.gateway, ifname=ifname,
            metric=route_metric, source=lease.address,
        ), f"adding the route to {route.destination}"))
    return calls
