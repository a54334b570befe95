# -*- test-case-name: tests.unit.test_netlink_configurator -*-
"""
The netlink L{IInterfaceConfigurator}: rtnetlink requests on a socket of its
own, each answered by the kernel's ACK or error, matched by sequence number
to the L{Deferred} the caller holds. Nothing here blocks the reactor.
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import os
import struct
import time

from twisted.internet import abstract, defer
from twisted.internet.error import ConnectionDone
from twisted.logger import Logger
from twisted.python import failure
from zope.interface import implementer

from dhcpsuite.interfaces import IInterfaceConfigurator
from dhcpsuite.netlink import encode
from dhcpsuite.netlink.decode import (
    NLMSG_ERROR, RTM_DELADDR, RTM_DELROUTE, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE,
    decode_fast,
)
from dhcpsuite.netlink.system import WOULD_BLOCK, INetlinkSystem, RealNetlinkSystem


class ConfiguratorError(Exception):
    """
    The kernel (or a fake) refused a configuration request.

    @ivar errno: the positive errno the kernel answered (e.g. C{errno.ENODEV}).
    @ivar operation: the call, as L{describe_call} words it
        (C{"add_address(ifname='eth0', interface=10.0.0.1/24)"}).
    @ivar message: a readable explanation, e.g. C{"No such device"}.
    """

    def __init__(self, errno: int, operation: str, message: str | None = None) -> None:
        if message is None:
            message = os.strerror(errno) if errno else "unknown error"
        super().__init__(errno, operation, message)
        self.errno = errno
        self.operation = operation
        self.message = message

    @property
    def errno_name(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self) -> str:
        return f"{self.operation}: {self.message} ({self.errno_name})"


def describe_call(method: str, arguments: dict) -> str:
    """
    A one-line account of a configurator call for error messages and logs:
    C{add_address(ifname='eth0', interface=10.0.0.1/24)}; arguments left at
    L{None} are omitted.
    """
    shown = ", ".join(
        f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"
        for name, value in arguments.items()
        if value is not None
    )
    return f"{method}({shown})"


_SUCCESS_ERRNOS = {
    # Idempotence: what is already there was added; what is absent was removed.
    "add_address": {_errno.EEXIST},
    "remove_address": {_errno.EADDRNOTAVAIL},
    "add_route": {_errno.EEXIST},
    "remove_route": {_errno.ESRCH},
}

RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1
RT_TABLE_MAIN = 254
RT_TABLE_COMPAT = 252
NUD_REACHABLE = 0x02
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_CACHEINFO = 1, 2, 4, 6
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15
NDA_DST, NDA_LLADDR = 1, 2
IFLA_IFNAME, IFLA_MTU = 3, 4
RTM_NEWNEIGH = 28


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
        operation = describe_call("add_address", dict(
            ifname=ifname, interface=interface, broadcast=broadcast,
            valid_lifetime=valid_lifetime, preferred_lifetime=preferred_lifetime,
        ))

        def build(index: int) -> bytes:
            value = _interface(interface, operation)
            family = _family(value)
            packed = value.ip.packed
            body = encode.ifaddrmsg(family, value.network.prefixlen, index)
            body += encode.attribute(IFA_LOCAL, packed) + encode.attribute(IFA_ADDRESS, packed)
            if value.version == 4:
                brd = _broadcast(value, broadcast, operation)
                if brd is not None:
                    body += encode.attribute(IFA_BROADCAST, brd.packed)
            if valid_lifetime is not None or preferred_lifetime is not None:
                valid = _lifetime(valid_lifetime)
                preferred = _lifetime(preferred_lifetime) if preferred_lifetime is not None else valid
                body += encode.attribute(IFA_CACHEINFO, struct.pack("=IIII", preferred, valid, 0, 0))
            return encode.message(RTM_NEWADDR, _CHANGE_FLAGS, 0, body)

        return self._call("add_address", operation, ifname, build)

    def remove_address(self, ifname, interface):
        operation = describe_call("remove_address", dict(ifname=ifname, interface=interface))

        def build(index: int) -> bytes:
            value = _interface(interface, operation)
            body = encode.ifaddrmsg(_family(value), value.network.prefixlen, index)
            body += encode.attribute(IFA_LOCAL, value.ip.packed) + encode.attribute(IFA_ADDRESS, value.ip.packed)
            return encode.message(RTM_DELADDR, _REQUEST_FLAGS, 0, body)

        return self._call("remove_address", operation, ifname, build)

    def add_route(self, destination, gateway=None, ifname=None, metric=None, table=None, source=None):
        operation = describe_call("add_route", dict(
            destination=destination, gateway=gateway, ifname=ifname, metric=metric, table=table, source=source,
        ))

        def build(index: int | None) -> bytes:
            body = _route_body(destination, gateway, index, metric, table, source, operation, delete=False)
            return encode.message(RTM_NEWROUTE, _CHANGE_FLAGS, 0, body)

        return self._call("add_route", operation, ifname, build)

    def remove_route(self, destination, gateway=None, ifname=None, metric=None, table=None):
        operation = describe_call("remove_route", dict(
            destination=destination, gateway=gateway, ifname=ifname, metric=metric, table=table,
        ))

        def build(index: int | None) -> bytes:
            body = _route_body(destination, gateway, index, metric, table, None, operation, delete=True)
            return encode.message(RTM_DELROUTE, _REQUEST_FLAGS, 0, body)

        return self._call("remove_route", operation, ifname, build)

    def add_neighbour(self, ifname, address, lladdr):
        operation = describe_call("add_neighbour", dict(ifname=ifname, address=address, lladdr=lladdr))

        def build(index: int) -> bytes:
            ip = _parse(ipaddress.ip_address, address, operation, "an IP address")
            raw = _lladdr(lladdr, operation)
            body = encode.ndmsg(_family(ip), index, NUD_REACHABLE, kind=RTN_UNICAST)
            body += encode.attribute(NDA_DST, ip.packed) + encode.attribute(NDA_LLADDR, raw)
            return encode.message(RTM_NEWNEIGH, _CHANGE_FLAGS, 0, body)

        return self._call("add_neighbour", operation, ifname, build)

    def set_mtu(self, ifname, mtu):
        operation = describe_call("set_mtu", dict(ifname=ifname, mtu=mtu))

        def build(index: int) -> bytes:
            if not isinstance(mtu, int) or not 68 <= mtu <= 0xFFFFFFFF:
                raise ConfiguratorError(_errno.EINVAL, operation, f"MTU {mtu!r} is not an integer of at least 68")
            body = encode.ifinfomsg(index) + encode.u32_attribute(IFLA_MTU, mtu)
            return encode.message(RTM_NEWLINK, _REQUEST_FLAGS, 0, body)

        return self._call("set_mtu", operation, ifname, build)

    # Requests

    def _call(self, method: str, operation: str, ifname, build) -> defer.Deferred:
        if ifname is None:
            if method not in ("add_route", "remove_route"):
                return defer.fail(ConfiguratorError(_errno.EINVAL, operation, "an interface name is required"))
            d = defer.succeed(None)
        else:
            d = self._resolve(ifname, operation)
        d.addCallback(lambda index: self._send(build(index), operation))
        tolerated = _SUCCESS_ERRNOS.get(method, set())

        def idempotent(f: failure.Failure):
            f.trap(ConfiguratorError)
            if f.value.errno in tolerated:
                return None
            return f

        d.addErrback(idempotent)
        return d

    def _resolve(self, ifname: str, operation: str) -> defer.Deferred:
        body = encode.ifinfomsg() + encode.string_attribute(IFLA_IFNAME, ifname)
        d = self._send(encode.message(RTM_GETLINK, encode.NLM_F_REQUEST, 0, body), operation)

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
        request = request[:8] + struct.pack("=I", seq) + request[12:]
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
                error = message.body
                if error.errno == 0:
                    self._finish(message.seq, None)
                else:
                    text = os.strerror(error.errno)
                    if error.text:
                        text = f"{text}: {error.text}"
                    self._finish(message.seq, failure.Failure(ConfiguratorError(error.errno, request.operation, text)))
            elif message.type == RTM_NEWLINK:
                self._finish(message.seq, message.body)


_REQUEST_FLAGS = encode.NLM_F_REQUEST | encode.NLM_F_ACK
_CHANGE_FLAGS = _REQUEST_FLAGS | encode.NLM_F_CREATE | encode.NLM_F_REPLACE


def _parse(parse, value, operation: str, what: str):
    try:
        return parse(value)
    except (ValueError, TypeError) as e:
        raise ConfiguratorError(_errno.EINVAL, operation, f"{value!r} is not {what} ({e})") from None


def _interface(value, operation: str):
    return _parse(ipaddress.ip_interface, value, operation, "an address with a prefix length")


def _family(value) -> int:
    return 2 if value.version == 4 else 10


def _broadcast(interface, broadcast, operation: str):
    if broadcast is not None:
        return _parse(ipaddress.IPv4Address, broadcast, operation, "an IPv4 broadcast address")
    # As "ip addr add ... brd +": the DHCP client's default.
    if interface.network.prefixlen >= 31:
        return None
    return interface.network.broadcast_address


def _lifetime(seconds) -> int:
    return 0xFFFFFFFF if seconds is None else max(0, min(int(seconds), 0xFFFFFFFE))


def _lladdr(value, operation: str) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return bytes(int(part, 16) for part in str(value).split(":"))
    except ValueError:
        raise ConfiguratorError(_errno.EINVAL, operation, f"{value!r} is not a link-layer address") from None


def _route_body(destination, gateway, index, metric, table, source, operation: str, delete: bool) -> bytes:
    network = _parse(ipaddress.ip_network, destination, operation, "a network (host bits must be zero)")
    family = _family(network)
    table = RT_TABLE_MAIN if table is None else table
    if delete:
        scope, protocol, kind = RT_SCOPE_NOWHERE, 0, 0
    else:
        scope = RT_SCOPE_UNIVERSE if gateway is not None or family == 10 else RT_SCOPE_LINK
        protocol, kind = RTPROT_BOOT, RTN_UNICAST
    body = encode.rtmsg(
        family, network.prefixlen, table=table if table < 256 else RT_TABLE_COMPAT,
        protocol=protocol, scope=scope, kind=kind,
    )
    if network.prefixlen:
        body += encode.attribute(RTA_DST, network.network_address.packed)
    if gateway is not None:
        gw = _parse(ipaddress.ip_address, gateway, operation, "a gateway address")
        if gw.version != network.version:
            raise ConfiguratorError(_errno.EINVAL, operation, f"gateway {gw} is not in the family of {network}")
        body += encode.attribute(RTA_GATEWAY, gw.packed)
    if index is not None:
        body += encode.u32_attribute(RTA_OIF, index)
    if metric is not None:
        body += encode.u32_attribute(RTA_PRIORITY, metric)
    if source is not None:
        body += encode.attribute(RTA_PREFSRC, _parse(ipaddress.ip_address, source, operation, "an address").packed)
    body += encode.u32_attribute(RTA_TABLE, table)
    return body
