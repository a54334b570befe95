"""
Test doubles for the netlink seams, each checked with C{verifyObject} by the
netlink tests so that they cannot drift from the interfaces they stand for.

L{RecordingConfigurator} is for any component that configures interfaces
(DHCP client, lease ingest): it records every call and answers at once.
"""

from __future__ import annotations

import inspect
from typing import Any

from twisted.internet import defer
from zope.interface import implementer

from dhcpsuite.interfaces import IInterfaceConfigurator
from dhcpsuite.netlink.configurator import ConfiguratorError, describe_call

_CONFIGURATOR_METHODS = tuple(IInterfaceConfigurator.names())


@implementer(IInterfaceConfigurator)
class RecordingConfigurator:
    """
    An L{IInterfaceConfigurator} that records calls instead of touching the
    kernel.

    @ivar calls: every call, in order, as C{(method_name, arguments)} where
        C{arguments} is a L{dict} of every parameter by name, defaults
        included, e.g. C{("add_address", {"ifname": "eth0", "interface":
        IPv4Interface("10.0.0.2/24"), "broadcast": None, "valid_lifetime":
        None, "preferred_lifetime": None})}. Failed calls are recorded too.

    Every method returns a L{Deferred} that has already fired with L{None},
    unless L{fail} was used for that method, in which case it has already
    failed with a L{ConfiguratorError}.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._failures: dict[str, list[Any]] = {}

    def fail(self, method: str, errno: int, message: str | None = None, times: int | None = 1) -> None:
        """
        Make the next C{times} calls of C{method} (every later call when
        C{times} is L{None}) fail with C{ConfiguratorError(errno, ...)}.
        """
        if method not in _CONFIGURATOR_METHODS:
            raise ValueError(f"{method!r} is not an IInterfaceConfigurator method")
        self._failures[method] = [errno, message, times]

    def clear_failures(self) -> None:
        self._failures.clear()

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """
        @return: the arguments of every call of C{method}, in order.
        """
        return [arguments for name, arguments in self.calls if name == method]

    def reset(self) -> None:
        del self.calls[:]

    def _record(self, method: str, arguments: dict[str, Any]) -> defer.Deferred:
        self.calls.append((method, arguments))
        failure = self._failures.get(method)
        if failure is None:
            return defer.succeed(None)
        errno, message, times = failure
        if times is not None:
            failure[2] = times - 1
            if failure[2] <= 0:
                del self._failures[method]
        return defer.fail(ConfiguratorError(errno, describe_call(method, arguments), message))

    def add_address(self, ifname, interface, broadcast=None, valid_lifetime=None, preferred_lifetime=None):
        return self._record("add_address", _arguments(self.add_address, locals()))

    def remove_address(self, ifname, interface):
        return self._record("remove_address", _arguments(self.remove_address, locals()))

    def add_route(self, destination, gateway=None, ifname=None, metric=None, table=None, source=None):
        return self._record("add_route", _arguments(self.add_route, locals()))

    def remove_route(self, destination, gateway=None, ifname=None, metric=None, table=None):
        return self._record("remove_route", _arguments(self.remove_route, locals()))

    def add_neighbour(self, ifname, address, lladdr):
        return self._record("add_neighbour", _arguments(self.add_neighbour, locals()))

    def set_mtu(self, ifname, mtu):
        return self._record("set_mtu", _arguments(self.set_mtu, locals()))


def _arguments(method, local_names: dict[str, Any]) -> dict[str, Any]:
    return {name: local_names[name] for name in inspect.signature(method).parameters}
