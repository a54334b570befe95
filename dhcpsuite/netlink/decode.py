# -*- test-case-name: tests.unit.test_netlink_decode -*-
"""
Netlink bytes to L{dhcpsuite.netlink.events} records.

Two decoders yield the same L{NetlinkMessage}s:

 - L{decode_pyroute2}: pyroute2's C{MarshalRtnl} as a pure parser, then its
   fields mapped onto our records;
 - L{decode_fast}: a C{struct} walk over only the attributes the records
   need. pyroute2 decodes every attribute of every message (a link message
   carries ~1.5 KiB of statistics) and costs ~50 us a message, so a 10,000
   address-change burst would take seconds just to parse.

The reader uses L{decode_fast} unless told otherwise; the unit tests run the
golden kernel captures through both and require identical output, which is
what keeps the fast one honest.

Both take the table's C{known} records (an address or route message's body
bytes -> the record decoded from them): a message that repeats a body byte
for byte (every delete, every unchanged record in a resync dump) is resolved
with one lookup instead of a decode.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Callable, Iterator, Mapping, NamedTuple

from dhcpsuite.hexbytes import mac_text
from dhcpsuite.netlink.events import IFF_LOWER_UP, IFF_UP, Address, Link, Route
from dhcpsuite.netlink.constants import (
    HEADER, HEADER_SIZE, IFA_ADDRESS, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS, IFA_LABEL, IFA_LOCAL, IFLA_ADDRESS,
    IFLA_IFNAME, IFLA_INFO_KIND, IFLA_LINKINFO, IFLA_MTU, IFLA_OPERSTATE, INFINITY_LIFE_TIME, NLMSG_ERROR, RTA_DST,
    RTA_GATEWAY, RTA_MULTIPATH, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTM_DELADDR, RTM_DELLINK,
    RTM_DELROUTE, RTM_F_CLONED, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE,
)
from dhcpsuite.netlink.frames import ErrorBody, _attributes, _string, error_body

OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
_FOREVER = INFINITY_LIFE_TIME

_header = HEADER
_ifinfomsg = struct.Struct("=BxHiII")
_ifaddrmsg = struct.Struct("=BBBBI")
_rtmsg = struct.Struct("=BBBBBBBBI")
_rtnexthop = struct.Struct("=HBBi")
_u32 = struct.Struct("=I")
_i32 = struct.Struct("=i")
_cacheinfo = struct.Struct("=II")


class NetlinkMessage(NamedTuple):
    """
    One netlink message: its header and, for the types we understand, the
    record it describes (L{Link}, L{Address}, L{Route}), or for
    C{NLMSG_ERROR} an L{ErrorBody}; L{None} otherwise.

    @ivar raw: for address and route messages, the body's bytes (what the
        table remembers a record by); empty otherwise.
    """

    type: int
    flags: int
    seq: int
    pid: int
    body: object
    raw: bytes = b""


Decoder = Callable[[bytes, Mapping[int, str], Mapping[bytes, object]], Iterator[NetlinkMessage]]
_NOTHING_KNOWN: Mapping[bytes, object] = {}


def _remembered(known: Mapping[bytes, object], raw: bytes, names: Mapping[int, str], index_of) -> object:
    """
    The record the table holds for these body bytes, unless the interface
    name it was decoded with has changed since (a rename, or the link
    arriving after its addresses).
    """
    record = known.get(raw)
    if record is not None and record.ifname != names.get(index_of(record)):
        return None
    return record


def _ifindex(address: Address) -> int:
    return address.ifindex


def _oif(route: Route) -> int | None:
    return route.oif


_CLASSES = {
    socket.AF_INET: (4, ipaddress.IPv4Address, ipaddress.IPv4Network, ipaddress.IPv4Interface),
    socket.AF_INET6: (16, ipaddress.IPv6Address, ipaddress.IPv6Network, ipaddress.IPv6Interface),
}


# Plain addresses (gateways, preferred sources, broadcasts) recur across
# routes: one immutable object each, built once. Bounded: emptied when full.
_ADDRESSES_KEPT = 4096
_addresses: dict[bytes, object] = {}


def _ip(family: int, raw: bytes):
    classes = _CLASSES.get(family)
    if classes is None or len(raw) != classes[0]:
        return None
    # The length fixes the family, so the bytes alone are the key.
    address = _addresses.get(raw)
    if address is None:
        if len(_addresses) >= _ADDRESSES_KEPT:
            _addresses.clear()
        address = _addresses[raw] = classes[1](int.from_bytes(raw, "big"))
    return address


def _prefixed(family: int, raw: bytes, length: int, which: int):
    """
    An interface (C{which} 3) or network (2) from raw bytes, built from the
    integer: ipaddress parses text otherwise, and that dominated decoding.
    """
    classes = _CLASSES.get(family)
    if classes is None or len(raw) != classes[0]:
        return None
    return classes[which]((int.from_bytes(raw, "big"), length))


# A route without RTA_DST is the default route: the all-zero network.
_ANY = {family: bytes(classes[0]) for family, classes in _CLASSES.items()}


def _mac(raw: bytes | None) -> str | None:
    if not raw:
        return None
    return mac_text(raw)


def _link(data: bytes, offset: int, end: int) -> Link | None:
    family, _, index, flags, _ = _ifinfomsg.unpack_from(data, offset)
    if family != socket.AF_UNSPEC:
        # AF_BRIDGE port messages share the link group; they are not links.
        return None
    attrs = _attributes(data, offset + _ifinfomsg.size, end)
    operstate = attrs.get(IFLA_OPERSTATE)
    mtu = attrs.get(IFLA_MTU)
    kind = None
    linkinfo = attrs.get(IFLA_LINKINFO)
    if linkinfo:
        raw_kind = _attributes(linkinfo, 0, len(linkinfo)).get(IFLA_INFO_KIND)
        kind = _string(raw_kind) if raw_kind else None
    return Link(
        ifindex=index,
        name=_string(attrs.get(IFLA_IFNAME, b"")),
        admin_up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        operstate=OPERSTATES[operstate[0]] if operstate and operstate[0] < len(OPERSTATES) else "UNKNOWN",
        mac=_mac(attrs.get(IFLA_ADDRESS)),
        mtu=_u32.unpack(mtu)[0] if mtu else 0,
        flags=flags,
        kind=kind,
    )


def _address(data: bytes, offset: int, end: int, names: Mapping[int, str]) -> Address | None:
    family, prefixlen, flags, scope, index = _ifaddrmsg.unpack_from(data, offset)
    attrs = _attributes(data, offset + _ifaddrmsg.size, end)
    interface = _prefixed(family, attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS) or b"", prefixlen, 3)
    if interface is None:
        return None
    peer = None
    if IFA_LOCAL in attrs and IFA_ADDRESS in attrs and attrs[IFA_ADDRESS] != attrs[IFA_LOCAL]:
        peer = _ip(family, attrs[IFA_ADDRESS])
    broadcast = _ip(family, attrs[IFA_BROADCAST]) if IFA_BROADCAST in attrs else None
    label = _string(attrs[IFA_LABEL]) if IFA_LABEL in attrs else None
    if IFA_FLAGS in attrs:
        flags = _u32.unpack(attrs[IFA_FLAGS])[0]
    valid = preferred = None
    if IFA_CACHEINFO in attrs:
        preferred, valid = _cacheinfo.unpack_from(attrs[IFA_CACHEINFO])
        preferred = None if preferred == _FOREVER else preferred
        valid = None if valid == _FOREVER else valid
    return Address(
        ifindex=index,
        interface=interface,
        peer=peer,
        broadcast=broadcast,
        label=label,
        scope=scope,
        flags=flags,
        valid_lifetime=valid,
        preferred_lifetime=preferred,
        ifname=names.get(index),
    )


def _route(data: bytes, offset: int, end: int, names: Mapping[int, str]) -> Route | None:
    family, dst_len, _, tos, table, protocol, scope, kind, flags = _rtmsg.unpack_from(data, offset)
    if flags & RTM_F_CLONED or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    attrs = _attributes(data, offset + _rtmsg.size, end)
    get = attrs.get
    destination = _prefixed(family, get(RTA_DST, _ANY[family]), dst_len, 2)
    if destination is None:
        return None
    raw_oif, raw_table, raw_metric = get(RTA_OIF), get(RTA_TABLE), get(RTA_PRIORITY)
    gateway, source, multipath = get(RTA_GATEWAY), get(RTA_PREFSRC), get(RTA_MULTIPATH)
    oif = _i32.unpack(raw_oif)[0] if raw_oif is not None else None
    return Route(
        family=family,
        destination=destination,
        table=_u32.unpack(raw_table)[0] if raw_table is not None else table,
        metric=_u32.unpack(raw_metric)[0] if raw_metric is not None else 0,
        gateway=_ip(family, gateway) if gateway is not None else None,
        oif=oif,
        source=_ip(family, source) if source is not None else None,
        protocol=protocol,
        scope=scope,
        type=kind,
        tos=tos,
        nexthops=tuple(_nexthops(family, multipath)) if multipath is not None else (),
        ifname=names.get(oif),
    )


def _nexthops(family: int, raw: bytes) -> Iterator[tuple]:
    offset = 0
    while offset + _rtnexthop.size <= len(raw):
        length, _, hops, ifindex = _rtnexthop.unpack_from(raw, offset)
        if length < _rtnexthop.size:
            return
        attrs = _attributes(raw, offset + _rtnexthop.size, offset + length)
        yield (_ip(family, attrs[RTA_GATEWAY]) if RTA_GATEWAY in attrs else None, ifindex, hops + 1)
        offset += (length + 3) & ~3


_ADDRESS_OR_ROUTE = frozenset((RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE))


def decode_fast(
    data: bytes, names: Mapping[int, str] = {}, known: Mapping[bytes, object] = _NOTHING_KNOWN
) -> Iterator[NetlinkMessage]:
    """
    Decode every message in one datagram; truncated trailing bytes are
    ignored (the kernel never sends them).
    """
    offset = 0
    size = len(data)
    unpack = _header.unpack_from
    while offset + HEADER_SIZE <= size:
        length, kind, flags, seq, pid = unpack(data, offset)
        if length < HEADER_SIZE or offset + length > size:
            return
        body_offset = offset + HEADER_SIZE
        end = offset + length
        if kind in _ADDRESS_OR_ROUTE:
            route = kind == RTM_NEWROUTE or kind == RTM_DELROUTE
            raw = data[body_offset:end]
            body = _remembered(known, raw, names, _oif if route else _ifindex) if known else None
            if body is None:
                body = (_route if route else _address)(data, body_offset, end, names)
            yield NetlinkMessage(kind, flags, seq, pid, body, raw)
        elif kind == RTM_NEWLINK or kind == RTM_DELLINK:
            yield NetlinkMessage(kind, flags, seq, pid, _link(data, body_offset, end))
        elif kind == NLMSG_ERROR and length >= 20:
            yield NetlinkMessage(kind, flags, seq, pid, error_body(data, body_offset, end, flags))
        else:
            yield NetlinkMessage(kind, flags, seq, pid, None)
        offset += (length + 3) & ~3


def decode_pyroute2(
    data: bytes, names: Mapping[int, str] = {}, known: Mapping[bytes, object] = _NOTHING_KNOWN
) -> Iterator[NetlinkMessage]:
    """
    The same as L{decode_fast}, parsed by pyroute2's marshal.
    """
    offset = 0
    for msg in _marshal().parse(data):
        header = msg["header"]
        kind = header["type"]
        length = header["length"]
        raw = b""
        body: object = None
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            raw = data[offset + HEADER_SIZE:offset + length]
            body = _remembered(known, raw, names, _ifindex) or _pyroute2_address(msg, names)
        elif kind in (RTM_NEWROUTE, RTM_DELROUTE):
            raw = data[offset + HEADER_SIZE:offset + length]
            body = _remembered(known, raw, names, _oif) or _pyroute2_route(msg, names)
        elif kind in (RTM_NEWLINK, RTM_DELLINK):
            body = _pyroute2_link(msg)
        elif kind == NLMSG_ERROR:
            error = header.get("error")
            code = (getattr(error, "code", None) or getattr(error, "errno", 0)) if error is not None else 0
            body = ErrorBody(abs(code), None)
        yield NetlinkMessage(kind, header["flags"], header["sequence_number"], header["pid"], body, raw)
        offset += (length + 3) & ~3


_marshal_instance = None


def _marshal():
    global _marshal_instance
    if _marshal_instance is None:
        from pyroute2.netlink.rtnl.marshal import MarshalRtnl

        _marshal_instance = MarshalRtnl()
    return _marshal_instance


def _pyroute2_attrs(msg) -> dict:
    return {name: value for name, value in msg["attrs"]}


def _pyroute2_link(msg) -> Link | None:
    if msg["family"] != socket.AF_UNSPEC:
        return None
    attrs = _pyroute2_attrs(msg)
    flags = msg["flags"]
    info = attrs.get("IFLA_LINKINFO")
    return Link(
        ifindex=msg["index"],
        name=attrs.get("IFLA_IFNAME", ""),
        admin_up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        operstate=attrs.get("IFLA_OPERSTATE", "UNKNOWN"),
        mac=attrs.get("IFLA_ADDRESS"),
        mtu=attrs.get("IFLA_MTU", 0),
        flags=flags,
        kind=info.get_attr("IFLA_INFO_KIND") if info is not None else None,
    )


def _pyroute2_address(msg, names) -> Address | None:
    attrs = _pyroute2_attrs(msg)
    text = attrs.get("IFA_LOCAL") or attrs.get("IFA_ADDRESS")
    if text is None:
        return None
    peer = None
    if "IFA_LOCAL" in attrs and "IFA_ADDRESS" in attrs and attrs["IFA_LOCAL"] != attrs["IFA_ADDRESS"]:
        peer = ipaddress.ip_address(attrs["IFA_ADDRESS"])
    cache = attrs.get("IFA_CACHEINFO")
    valid = preferred = None
    if cache is not None:
        valid = None if cache["ifa_valid"] == _FOREVER else cache["ifa_valid"]
        preferred = None if cache["ifa_preferred"] == _FOREVER else cache["ifa_preferred"]
    return Address(
        ifindex=msg["index"],
        interface=ipaddress.ip_interface(f"{text}/{msg['prefixlen']}"),
        peer=peer,
        broadcast=ipaddress.ip_address(attrs["IFA_BROADCAST"]) if "IFA_BROADCAST" in attrs else None,
        label=attrs.get("IFA_LABEL"),
        scope=msg["scope"],
        flags=attrs.get("IFA_FLAGS", msg["flags"]),
        valid_lifetime=valid,
        preferred_lifetime=preferred,
        ifname=names.get(msg["index"]),
    )


def _pyroute2_route(msg, names) -> Route | None:
    family = msg["family"]
    if msg["flags"] & RTM_F_CLONED or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    attrs = _pyroute2_attrs(msg)
    zero = "0.0.0.0" if family == socket.AF_INET else "::"
    oif = attrs.get("RTA_OIF")
    nexthops = ()
    if "RTA_MULTIPATH" in attrs:
        nexthops = tuple(
            (
                ipaddress.ip_address(nh.get_attr("RTA_GATEWAY")) if nh.get_attr("RTA_GATEWAY") else None,
                nh["oif"],
                nh["hops"] + 1,
            )
            for nh in attrs["RTA_MULTIPATH"]
        )
    return Route(
        family=family,
        destination=ipaddress.ip_network(f"{attrs.get('RTA_DST', zero)}/{msg['dst_len']}"),
        table=attrs.get("RTA_TABLE", msg["table"]),
        metric=attrs.get("RTA_PRIORITY", 0),
        gateway=ipaddress.ip_address(attrs["RTA_GATEWAY"]) if "RTA_GATEWAY" in attrs else None,
        oif=oif,
        source=ipaddress.ip_address(attrs["RTA_PREFSRC"]) if "RTA_PREFSRC" in attrs else None,
        protocol=msg["proto"],
        scope=msg["scope"],
        type=msg["type"],
        tos=msg["tos"],
        nexthops=nexthops,
        ifname=names.get(oif) if oif is not None else None,
    )


DECODERS: dict[str, Decoder] = {"fast": decode_fast, "pyroute2": decode_pyroute2}
