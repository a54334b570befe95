# -*- test-case-name: tests.unit.test_client_early -*-
"""
The configurator's requests (L{dhcpsuite.netlink.requests}) sent and
answered synchronously, for the client's early path
(L{dhcpsuite.client.early}), which applies its first lease before Twisted
is imported. Each call blocks until the kernel answers, at most C{timeout}
seconds; a local rtnetlink request is answered in well under a millisecond.
The reactor's configurator is L{dhcpsuite.netlink.configurator}.
"""

from __future__ import annotations

# _socket, the C module, rather than socket.py, which turns every constant
# into an enum when imported (~3 ms of the client's early path).
import _socket
import errno
import select
import time

from dhcpsuite.netlink import requests
from dhcpsuite.netlink.constants import NLMSG_ERROR
from dhcpsuite.netlink.frames import error_body, header
from dhcpsuite.netlink.requests import ConfiguratorError


class BlockingConfigurator:
    """
    C{add_address}, C{remove_address}, C{add_route}, C{remove_route},
    C{add_neighbour} and C{set_mtu} with the arguments of
    L{dhcpsuite.interfaces.IInterfaceConfigurator}; each returns L{None} or
    raises L{ConfiguratorError}.
    """

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._socket = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, _socket.NETLINK_ROUTE)
        self._socket.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> BlockingConfigurator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_address(self, ifname, interface, broadcast=None, valid_lifetime=None, preferred_lifetime=None) -> None:
        self._call(requests.add_address(ifname, interface, broadcast, valid_lifetime, preferred_lifetime))

    def remove_address(self, ifname, interface) -> None:
        self._call(requests.remove_address(ifname, interface))

    def add_route(self, destination, gateway=None, ifname=None, metric=None, table=None, source=None) -> None:
        self._call(requests.add_route(destination, gateway, ifname, metric, table, source))

    def remove_route(self, destination, gateway=None, ifname=None, metric=None, table=None) -> None:
        self._call(requests.remove_route(destination, gateway, ifname, metric, table))

    def add_neighbour(self, ifname, address, lladdr) -> None:
        self._call(requests.add_neighbour(ifname, address, lladdr))

    def set_mtu(self, ifname, mtu) -> None:
        self._call(requests.set_mtu(ifname, mtu))

    def _call(self, request: requests.Request) -> None:
        index = None
        if request.ifname is not None:
            try:
                index = _socket.if_nametoindex(request.ifname)
            except OSError:
                raise ConfiguratorError(errno.ENODEV, request.operation, f"no such device {request.ifname!r}") from None
        elif request.method not in ("add_route", "remove_route"):
            raise ConfiguratorError(errno.EINVAL, request.operation, "an interface name is required")
        refused = self._exchange(request.build(index), request.operation)
        if refused is not None and refused.errno not in request.tolerated:
            raise refused

    def _exchange(self, data: bytes, operation: str) -> ConfiguratorError | None:
        self._seq += 1
        seq = self._seq
        try:
            self._socket.send(requests.with_seq(data, seq))
        except OSError as e:
            raise ConfiguratorError(e.errno or errno.EIO, operation, e.strerror) from None
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._socket], [], [], left)[0]:
                raise ConfiguratorError(errno.ETIMEDOUT, operation, f"no answer from the kernel in {self.timeout:g} s")
            data = self._socket.recv(1 << 16)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, flags, answered, _ = header.unpack_from(data, offset)
                if length < 16 or offset + length > len(data):
                    break
                if answered == seq and kind == NLMSG_ERROR and length >= 20:
                    return requests.refusal(error_body(data, offset + 16, offset + length, flags), operation)
                offset += (length + 3) & ~3
