"""
Test doubles for the netlink seams, each checked with C{verifyObject} by the
netlink tests so that they cannot drift from the interfaces they stand for.

L{RecordingConfigurator} is for any component that configures interfaces
(DHCP client, lease ingest): it records every call and answers at once.
"""

from __future__ import annotations

import errno
import inspect
import os
import struct
from collections import deque
from typing import Any

from twisted.internet import defer
from zope.interface import implementer

from dhcpsuite.interfaces import IInterfaceConfigurator, INetlinkListener
from dhcpsuite.netlink import encode
from dhcpsuite.netlink import events as e
from dhcpsuite.netlink.configurator import ConfiguratorError, describe_call
from dhcpsuite.netlink.constants import (
    HEADER_SIZE, IFLA_IFNAME, NLM_F_DUMP, NLM_F_MULTI, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE,
)
from dhcpsuite.netlink.system import INetlinkSystem

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


def load_capture(path: str) -> list[tuple[str, list[bytes]]]:
    """
    Read a golden capture (C{tests/vectors/netlink/*.hex}): C{# step}
    comment lines, each followed by the datagrams the kernel sent, in hex.

    @return: C{[(step, [datagram, ...]), ...]}; the file's first comment
        (its provenance) is skipped.
    """
    sections: list[tuple[str, list[bytes]]] = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                if line.startswith("# Captured by"):
                    continue
                sections.append((line[1:].strip(), []))
            else:
                sections[-1][1].append(bytes.fromhex(line))
    return sections


class _MemorySocket:
    def __init__(self, groups: int, receive_buffer: int, netns: Any, portid: int) -> None:
        self.groups = groups
        self.receive_buffer = receive_buffer
        self.netns = netns
        self.portid = portid
        self.incoming: deque = deque()
        self.sent: list[bytes] = []


@implementer(INetlinkSystem)
class MemoryNetlinkSystem:
    """
    An in-memory stand-in for the kernel's rtnetlink sockets.

    A test feeds notifications with L{deliver}, simulates an overrun with
    L{overrun}, and sets what a dump returns with L{set_dump} (kernel
    message bytes, e.g. from the golden captures); dump requests are answered
    at once, addressed to the requesting socket, with C{NLMSG_DONE} after.
    Other requests are recorded in C{sent} and answered by L{answer}, or
    automatically when C{auto_ack} is set.

    @ivar sockets: fd -> socket state (C{.incoming}, C{.sent}, C{.portid}).
    """

    def __init__(self) -> None:
        self.sockets: dict[int, _MemorySocket] = {}
        self.receive_buffer_sizes: dict[int, int] = {}
        self.dumps: dict[int, list[bytes]] = {RTM_GETLINK: [], RTM_GETADDR: [], RTM_GETROUTE: []}
        self.dump_requests: list[tuple[int, int]] = []
        self.auto_ack = False
        self.links_by_name: dict[str, bytes] = {}
        self.closed: list[int] = []
        self._next_fd = 100
        self._next_portid = 4000

    # INetlinkSystem

    def open(self, groups, receive_buffer, netns=None):
        fd = self._next_fd
        self._next_fd += 1
        self._next_portid += 1
        self.sockets[fd] = _MemorySocket(groups, receive_buffer, netns, self._next_portid)
        self.receive_buffer_sizes[fd] = receive_buffer
        return fd

    def portid(self, fd):
        return self.sockets[fd].portid

    def recv(self, fd, size):
        queue = self.sockets[fd].incoming
        if not queue:
            raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        item = queue.popleft()
        if isinstance(item, OSError):
            raise item
        return item[:size]

    def send(self, fd, data):
        sock = self.sockets[fd]
        sock.sent.append(data)
        length, kind, flags, seq, _ = struct.unpack_from("=IHHII", data)
        if flags & NLM_F_DUMP == NLM_F_DUMP and kind in self.dumps:
            self.dump_requests.append((kind, seq))
            reply = b"".join(
                encode.rewrite_header(message, seq, sock.portid, NLM_F_MULTI)
                for message in self.dumps[kind]
            )
            sock.incoming.append(reply + encode.done_message(seq, sock.portid))
        elif kind == RTM_GETLINK:
            name = _ifname_in(data)
            if name in self.links_by_name:
                sock.incoming.append(encode.rewrite_header(self.links_by_name[name], seq, sock.portid))
            else:
                sock.incoming.append(encode.error_message(seq, errno.ENODEV, sock.portid, data))
        elif self.auto_ack:
            sock.incoming.append(encode.error_message(seq, 0, sock.portid, data))

    def close(self, fd):
        self.sockets.pop(fd)
        self.receive_buffer_sizes.pop(fd, None)
        self.closed.append(fd)

    # Test controls

    def set_dump(self, kind: int, messages: list[bytes]) -> None:
        """
        What a dump of C{kind} (C{RTM_GETLINK}, C{RTM_GETADDR},
        C{RTM_GETROUTE}) returns from now on: single kernel messages.
        """
        self.dumps[kind] = list(messages)

    def deliver(self, data: bytes, groups: int = ~0) -> None:
        """
        Queue a notification datagram on every open socket in C{groups}.
        """
        for sock in self.sockets.values():
            if sock.groups & groups:
                sock.incoming.append(data)

    def overrun(self) -> None:
        """
        The next read on every monitoring socket fails with C{ENOBUFS}.
        """
        for sock in self.sockets.values():
            if sock.groups:
                sock.incoming.append(OSError(errno.ENOBUFS, os.strerror(errno.ENOBUFS)))

    def requests(self, fd: int | None = None) -> list[bytes]:
        """
        Every non-dump request sent (on C{fd}, or on any socket).
        """
        socks = [self.sockets[fd]] if fd is not None else list(self.sockets.values())
        return [
            data for sock in socks for data in sock.sent
            if struct.unpack_from("=H", data, 6)[0] & NLM_F_DUMP != NLM_F_DUMP
            or struct.unpack_from("=H", data, 4)[0] not in self.dumps
        ]

    def answer(self, fd: int, request: bytes, error: int = 0) -> None:
        """
        Answer C{request} on C{fd} with an ACK (C{error} 0) or an errno.
        """
        seq = struct.unpack_from("=I", request, 8)[0]
        sock = self.sockets[fd]
        sock.incoming.append(encode.error_message(seq, error, sock.portid, request))


def split_messages(datagram: bytes) -> list[bytes]:
    """
    The single netlink messages in one datagram.
    """
    out = []
    offset = 0
    while offset + 16 <= len(datagram):
        length = struct.unpack_from("=I", datagram, offset)[0]
        if length < 16:
            break
        out.append(datagram[offset:offset + length])
        offset += (length + 3) & ~3
    return out


def _ifname_in(request: bytes) -> str | None:
    from dhcpsuite.netlink.frames import _attributes, _string

    # The attributes follow the header and the 16-byte ifinfomsg.
    raw = _attributes(request, HEADER_SIZE + 16, len(request)).get(IFLA_IFNAME)
    return _string(raw) if raw else None


# Comparing our view with the kernel's as C{ip -j} prints it (integration
# tests and the benchmark).

_TABLE_NAMES = {"local": 255, "main": 254, "default": 253, "unspec": 0}


def _run_ip(netns: str | None, args: list[str]) -> Any:
    import json
    import subprocess

    command = ["ip", *(["-n", netns] if netns else []), "-j", *args]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout
    return json.loads(out or "[]")


def ip_view(netns: str | None = None) -> tuple[set, set]:
    """
    The kernel's addresses and routes per C{ip -j addr} and C{ip -j route
    show table all}, as C{(addresses, routes)} sets of comparable tuples:
    C{(ifname, "address/prefix")} and C{(family, "destination", table,
    metric, ifname, "gateway")}.
    """
    import ipaddress

    addresses = {
        (link["ifname"], f"{info['local']}/{info['prefixlen']}")
        for link in _run_ip(netns, ["addr", "show"])
        for info in link.get("addr_info", [])
    }
    routes = set()
    for family, flag in ((2, "-4"), (10, "-6")):
        for route in _run_ip(netns, [flag, "route", "show", "table", "all"]):
            dst = route["dst"]
            if dst == "default":
                dst = "0.0.0.0/0" if family == 2 else "::/0"
            table = route.get("table", "main")
            table = _TABLE_NAMES.get(table, None) if not str(table).isdigit() else int(table)
            routes.add((
                family, str(ipaddress.ip_network(dst)), table, route.get("metric", 0),
                route.get("dev"), route.get("gateway"),
            ))
    return addresses, routes


def records_view(links: dict, addresses: Any, routes: Any) -> tuple[set, set]:
    """
    The same tuples as L{ip_view}, from our records.

    @param links: ifindex -> L{Link}.
    """
    names = {index: link.name for index, link in links.items()}
    address_set = {(names.get(a.ifindex), str(a.interface)) for a in addresses}
    route_set = {
        (r.family, str(r.destination), r.table, r.metric, names.get(r.oif),
         str(r.gateway) if r.gateway is not None else None)
        for r in routes
    }
    return address_set, route_set


def table_view(table: Any) -> tuple[set, set]:
    return records_view(table.links, table.addresses.values(), table.routes.values())


@implementer(INetlinkListener)
class ViewListener:
    """
    A listener that rebuilds links, addresses and routes from events alone,
    to prove that a subscriber never misses a transition.

    @ivar events: every event received, in order.
    """

    def __init__(self, keep_events: bool = True) -> None:
        self.links: dict[int, Any] = {}
        self.addresses: dict[tuple, Any] = {}
        self.routes: dict[Any, Any] = {}
        self.events: list[Any] = []
        self.keep_events = keep_events

    def netlink_event(self, event: Any) -> None:
        if self.keep_events:
            self.events.append(event)
        if isinstance(event, e.RouteAdded):
            self.routes[event.route] = event.route
        elif isinstance(event, e.RouteRemoved):
            self.routes.pop(event.route, None)
        elif isinstance(event, (e.AddressAdded, e.AddressChanged)):
            self.addresses[event.address.key()] = event.address
        elif isinstance(event, e.AddressRemoved):
            self.addresses.pop(event.address.key(), None)
        elif isinstance(event, (e.LinkAdded, e.LinkChanged)):
            self.links[event.link.ifindex] = event.link
        elif isinstance(event, e.LinkRemoved):
            self.links.pop(event.link.ifindex, None)

    def view(self) -> tuple[set, set]:
        return records_view(self.links, self.addresses.values(), self.routes.values())
