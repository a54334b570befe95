# -*- test-case-name: tests.unit.test_netlink_configurator -*-
"""
The rtnetlink requests of the interface configurator, as bytes, and the
error they may be answered with. No I/O and no Twisted: the reactor's
L{dhcpsuite.netlink.configurator.NetlinkConfigurator} and the blocking
L{dhcpsuite.netlink.blocking.BlockingConfigurator} (the client's early path,
before Twisted is imported) send the same requests.
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import os
import struct
from collections.abc import Callable

from dhcpsuite.netlink import encode
from dhcpsuite.netlink.constants import (
    IFA_ADDRESS, IFA_BROADCAST, IFA_CACHEINFO, IFA_LOCAL, IFLA_IFNAME, IFLA_MTU, NDA_DST, NDA_LLADDR, NLM_F_ACK,
    NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NUD_REACHABLE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE,
    RT_TABLE_COMPAT, RT_TABLE_MAIN, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE,
    RTM_DELADDR, RTM_DELROUTE, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTN_UNICAST,
    RTPROT_BOOT,
)
from dhcpsuite.records import Record


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


SUCCESS_ERRNOS = {
    # Idempotence: what is already there was added; what is absent was removed.
    "add_address": {_errno.EEXIST},
    "remove_address": {_errno.EADDRNOTAVAIL},
    "add_route": {_errno.EEXIST},
    "remove_route": {_errno.ESRCH},
}


class Request(Record):
    """
    One configurator call.

    @ivar method: the L{IInterfaceConfigurator} method (C{"add_address"}).
    @ivar operation: the call as L{describe_call} words it, for errors.
    @ivar ifname: the interface whose index L{build} needs, or L{None}.
    @ivar build: the request for the interface index (L{None} without
        C{ifname}); raises L{ConfiguratorError} for a bad argument.
    @ivar tolerated: errnos that mean "already so" (idempotence).
    """

    method: str
    operation: str
    ifname: str | None
    build: Callable[[int | None], bytes]
    tolerated: frozenset[int]


def _request(method: str, operation: str, ifname: str | None, build: Callable[[int | None], bytes]) -> Request:
    return Request(method, operation, ifname, build, frozenset(SUCCESS_ERRNOS.get(method, ())))


def add_address(ifname, interface, broadcast=None, valid_lifetime=None, preferred_lifetime=None) -> Request:
    arguments = dict(ifname=ifname, interface=interface, broadcast=broadcast,
                     valid_lifetime=valid_lifetime, preferred_lifetime=preferred_lifetime)
    operation = describe_call("add_address", arguments)

    def build(index: int | None) -> bytes:
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

    return _request("add_address", operation, ifname, build)


def remove_address(ifname, interface) -> Request:
    arguments = dict(ifname=ifname, interface=interface)
    operation = describe_call("remove_address", arguments)

    def build(index: int | None) -> bytes:
        value = _interface(interface, operation)
        body = encode.ifaddrmsg(_family(value), value.network.prefixlen, index)
        body += encode.attribute(IFA_LOCAL, value.ip.packed) + encode.attribute(IFA_ADDRESS, value.ip.packed)
        return encode.message(RTM_DELADDR, _REQUEST_FLAGS, 0, body)

    return _request("remove_address", operation, ifname, build)


def add_route(destination, gateway=None, ifname=None, metric=None, table=None, source=None) -> Request:
    arguments = dict(destination=destination, gateway=gateway, ifname=ifname, metric=metric, table=table, source=source)
    operation = describe_call("add_route", arguments)

    def build(index: int | None) -> bytes:
        body = _route_body(destination, gateway, index, metric, table, source, operation, delete=False)
        return encode.message(RTM_NEWROUTE, _CHANGE_FLAGS, 0, body)

    return _request("add_route", operation, ifname, build)


def remove_route(destination, gateway=None, ifname=None, metric=None, table=None) -> Request:
    arguments = dict(destination=destination, gateway=gateway, ifname=ifname, metric=metric, table=table)
    operation = describe_call("remove_route", arguments)

    def build(index: int | None) -> bytes:
        body = _route_body(destination, gateway, index, metric, table, None, operation, delete=True)
        return encode.message(RTM_DELROUTE, _REQUEST_FLAGS, 0, body)

    return _request("remove_route", operation, ifname, build)


def add_neighbour(ifname, address, lladdr) -> Request:
    arguments = dict(ifname=ifname, address=address, lladdr=lladdr)
    operation = describe_call("add_neighbour", arguments)

    def build(index: int | None) -> bytes:
        ip = _parse(ipaddress.ip_address, address, operation, "an IP address")
        raw = _lladdr(lladdr, operation)
        body = encode.ndmsg(_family(ip), index, NUD_REACHABLE, kind=RTN_UNICAST)
        body += encode.attribute(NDA_DST, ip.packed) + encode.attribute(NDA_LLADDR, raw)
        return encode.message(RTM_NEWNEIGH, _CHANGE_FLAGS, 0, body)

    return _request("add_neighbour", operation, ifname, build)


def set_mtu(ifname, mtu) -> Request:
    arguments = dict(ifname=ifname, mtu=mtu)
    operation = describe_call("set_mtu", arguments)

    def build(index: int | None) -> bytes:
        if not isinstance(mtu, int) or not 68 <= mtu <= 0xFFFFFFFF:
            raise ConfiguratorError(_errno.EINVAL, operation, f"MTU {mtu!r} is not an integer of at least 68")
        body = encode.ifinfomsg(index) + encode.u32_attribute(IFLA_MTU, mtu)
        return encode.message(RTM_NEWLINK, _REQUEST_FLAGS, 0, body)

    return _request("set_mtu", operation, ifname, build)


def get_link(ifname: str) -> bytes:
    """
    The C{RTM_GETLINK} request that resolves an interface name to its index.
    """
    body = encode.ifinfomsg() + encode.string_attribute(IFLA_IFNAME, ifname)
    return encode.message(RTM_GETLINK, NLM_F_REQUEST, 0, body)


def with_seq(request: bytes, seq: int) -> bytes:
    return request[:8] + struct.pack("=I", seq) + request[12:]


def refusal(error, operation: str) -> ConfiguratorError | None:
    """
    The kernel's C{NLMSG_ERROR} answer as an error, or L{None} for an ACK.
    """
    if error.errno == 0:
        return None
    text = os.strerror(error.errno)
    if error.text:
        text = f"{text}: {error.text}"
    return ConfiguratorError(error.errno, operation, text)


_REQUEST_FLAGS = NLM_F_REQUEST | NLM_F_ACK
_CHANGE_FLAGS = _REQUEST_FLAGS | NLM_F_CREATE | NLM_F_REPLACE


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
