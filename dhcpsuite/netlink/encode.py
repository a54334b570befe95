# -*- test-case-name: tests.unit.test_netlink_configurator -*-
"""
Building rtnetlink requests (and, for the fakes and tests, kernel replies).

Plain C{struct} packing of the fixed headers and attributes; the unit tests
check the results by parsing them back with pyroute2.
"""

from __future__ import annotations

import struct

from dhcpsuite.netlink.constants import HEADER as _header
from dhcpsuite.netlink.constants import NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR


def attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((-length) % 4)


def u32_attribute(kind: int, value: int) -> bytes:
    return attribute(kind, struct.pack("=I", value))


def string_attribute(kind: int, value: str) -> bytes:
    return attribute(kind, value.encode() + b"\0")


def message(kind: int, flags: int, seq: int, body: bytes, pid: int = 0) -> bytes:
    return _header.pack(16 + len(body), kind, flags, seq, pid) + body


def ifinfomsg(index: int = 0, flags: int = 0, change: int = 0, family: int = 0, link_type: int = 0) -> bytes:
    return struct.pack("=BxHiII", family, link_type, index, flags, change)


def ifaddrmsg(family: int, prefixlen: int, index: int, flags: int = 0, scope: int = 0) -> bytes:
    return struct.pack("=BBBBI", family, prefixlen, flags, scope, index)


def rtmsg(
    family: int, dst_len: int = 0, table: int = 0, protocol: int = 0,
    scope: int = 0, kind: int = 0, flags: int = 0, tos: int = 0,
) -> bytes:
    return struct.pack("=BBBBBBBBI", family, dst_len, 0, tos, table, protocol, scope, kind, flags)


def ndmsg(family: int, ifindex: int, state: int, flags: int = 0, kind: int = 0) -> bytes:
    return struct.pack("=BxxxiHBB", family, ifindex, state, flags, kind)


def error_message(seq: int, errno: int, pid: int = 0, request: bytes = b"") -> bytes:
    """
    An C{NLMSG_ERROR} as the kernel answers C{request}: errno 0 is an ACK.
    """
    echoed = request[:16] if request else _header.pack(16, 0, 0, seq, pid)
    return message(NLMSG_ERROR, 0, seq, struct.pack("=i", -errno) + echoed, pid)


def done_message(seq: int, pid: int = 0) -> bytes:
    return message(NLMSG_DONE, NLM_F_MULTI, seq, struct.pack("=i", 0), pid)


def rewrite_header(data: bytes, seq: int, pid: int, add_flags: int = 0) -> bytes:
    """
    One message with its sequence number and port id replaced, as the kernel
    addresses a dump reply to the requester.
    """
    length, kind, flags, _, _ = _header.unpack_from(data)
    return _header.pack(length, kind, flags | add_flags, seq, pid) + data[16:length]
