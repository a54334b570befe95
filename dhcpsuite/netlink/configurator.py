# -*- test-case-name: tests.unit.test_netlink_configurator -*-
"""
The netlink L{IInterfaceConfigurator}: rtnetlink requests on a socket of its
own, each answered by the kernel's ACK or error, matched by sequence number
to the L{Deferred} the caller holds. Nothing here blocks the reactor.
"""

from __future__ import annotations

import errno as _errno
import time

from twisted.internet import abstract, defer
from twisted.internet.error import ConnectionDone
from twisted.logger import Logger
from twisted.python import failure
from zope.interface import implementer

from dhcpsuite.interfaces import IInterfaceConfigurator
from dhcpsuite.netlink import requests
from dhcpsuite.netlink.constants import NLMSG_ERROR, RTM_NEWLINK
from dhcpsuite.netlink.decode import decode_fast
# Re-exported: callers catch the configurator's errors from here.
from dhcpsuite.netlink.requests import ConfiguratorError, describe_call  # noqa: F401
from dhcpsuite.netlink.system import WOULD_BLOCK, INetlinkSystem, RealNetlinkSystem


class _Pending:
    def __init__(self, deferred, timeout, operation: str) -> None:
        self.deferred = deferred
        self.timeout = timeout
        self.operation = operation




@implementer(IInterfaceConfigurator)
class NetlinkConfigurator(abstract.FileDescriptor):
    """
    Sends rtnetlink requests on its own socket and matches each ACK or error
    to its request by sequence number. Interface names are resolved with an
    C{RTM_GETLINK} on the same socket, so it works inside any namespace.
    """

    log = Logger()
    max_reads = 256

    def __init__(
        self,
        reactor: object = None,
        system: INetlinkSystem | None = None,
        netns: str | None = None,
        request_timeout: float = 5.0,
        receive_buffer: int = 1 << 20,
    ) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self._system = system if system is not None else RealNetlinkSystem()
        self._netns = netns
        self._receive_buffer = receive_buffer
        self.request_timeout = request_timeout
        self._fd = -1
        self._seq = int(time.time() * 7) & 0x7FFFFFFF
        self._pending: dict[int, _Pending] = {}

    # Life cycle

    def open(self) -> None:
        if self._fd < 0:
            self._fd = self._system.open(0, self._receive_buffer, self._netns)
            self.connected = 1
            self.disconnected = 0

    def start(self) -> None:
        self.open()
        self.startReading()

    def stop(self) -> None:
        if self._fd >= 0 or self._pending:
            self.connectionLost(failure.Failure(ConnectionDone("netlink configurator stopped")))

    def connectionLost(self, reason: failure.Failure) -> None:
        abstract.FileDescriptor.connectionLost(self, reason)
        if self._fd >= 0:
            self._system.close(self._fd)
        self._fd = -1
        pending, self._pending = self._pending, {}
        for request in pending.values():
            if request.timeout.active():
                request.timeout.cancel()
            request.deferred.errback(ConfiguratorError(_errno.ESHUTDOWN, request.operation, "configurator stopped"))

    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return "NetlinkConfigurator"

    # IInterfaceConfigurator

    def add_address(self, ifname, interface, broadcast=None, valid_lifetime=None, preferred_lifetime=None):
        return self._call(requests.add_address(ifname, interface, broadcast, valid_lifetime, preferred_lifetime))

    def remove_address(self, ifname, interface):
        return self._call(requests.remove_address(ifname, interface))

    def add_route(self, destination, gateway=None, ifname=None, metric=None, table=None, source=None):
        return self._call(requests.add_route(destination, gateway, ifname, metric, table, source))

    def remove_route(self, destination, gateway=None, ifname=None, metric=None, table=None):
        return self._call(requests.remove_route(destination, gateway, ifname, metric, table))

    def add_neighbour(self, ifname, address, lladdr):
        return self._call(requests.add_neighbour(ifname, address, lladdr))

    def set_mtu(self, ifname, mtu):
        return self._call(requests.set_mtu(ifname, mtu))

    # Requests

    def _call(self, request: requests.Request) -> defer.Deferred:
        operation = request.operation
        if request.ifname is None:
            if request.method not in ("add_route", "remove_route"):
                return defer.fail(ConfiguratorError(_errno.EINVAL, operation, "an interface name is required"))
            d = defer.succeed(None)
        else:
            d = self._resolve(request.ifname, operation)
        d.addCallback(lambda index: self._send(request.build(index), operation))

        def idempotent(f: failure.Failure):
            f.trap(ConfiguratorError)
            if f.value.errno in request.tolerated:
                return None
            return f

        d.addErrback(idempotent)
        return d

    def _resolve(self, ifname: str, operation: str) -> defer.Deferred:
        d = self._send(requests.get_link(ifname), operation)

        def index_of(link) -> int:
            if link is None or not getattr(link, "ifindex", 0):
                raise ConfiguratorError(_errno.ENODEV, operation, f"no such device {ifname!r}")
            return link.ifindex

        def no_device(f: failure.Failure):
            f.trap(ConfiguratorError)
            if f.value.errno == _errno.ENODEV:
                raise ConfiguratorError(_errno.ENODEV, operation, f"no such device {ifname!r}")
            return f

        return d.addCallbacks(index_of, no_device)

    def _send(self, request: bytes, operation: str) -> defer.Deferred:
        if self._fd < 0:
            return defer.fail(ConfiguratorError(_errno.ENOTCONN, operation, "configurator is not started"))
        self._seq = (self._seq + 1) & 0x7FFFFFFF or 1
        seq = self._seq
        request = requests.with_seq(request, seq)
        d: defer.Deferred = defer.Deferred()
        timeout = self.reactor.callLater(self.request_timeout, self._timed_out, seq)
        self._pending[seq] = _Pending(d, timeout, operation)
        try:
            self._system.send(self._fd, request)
        except OSError as e:
            self._finish(seq, failure.Failure(ConfiguratorError(e.errno or _errno.EIO, operation, e.strerror)))
        return d

    def _timed_out(self, seq: int) -> None:
        request = self._pending.pop(seq, None)
        if request is not None:
            request.deferred.errback(ConfiguratorError(
                _errno.ETIMEDOUT, request.operation, f"no answer from the kernel in {self.request_timeout:g} s"
            ))

    def _finish(self, seq: int, result) -> None:
        request = self._pending.pop(seq, None)
        if request is None:
            return
        if request.timeout.active():
            request.timeout.cancel()
        if isinstance(result, failure.Failure):
            request.deferred.errback(result)
        else:
            request.deferred.callback(result)

    def doRead(self) -> None:
        for _ in range(self.max_reads):
            if self._fd < 0:
                return
            try:
                data = self._system.recv(self._fd, 1 << 16)
            except OSError as e:
                if e.errno in WOULD_BLOCK:
                    return
                self.log.error("Netlink configurator socket error: {error}", error=e)
                return
            if not data:
                return
            self.datagram_received(data)

    def datagram_received(self, data: bytes) -> None:
        for message in decode_fast(data):
            request = self._pending.get(message.seq)
            if request is None:
                continue
            if message.type == NLMSG_ERROR:
                refused = requests.refusal(message.body, request.operation)
                self._finish(message.seq, None if refused is None else failure.Failure(refused))
            elif message.type == RTM_NEWLINK:
                self._finish(message.seq, message.body)
