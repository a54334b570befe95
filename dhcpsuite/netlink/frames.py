# -*- test-case-name: tests.unit.test_netlink_decode -*-
"""
Netlink framing: message types and flags, attributes, and the body of an
C{NLMSG_ERROR}. No records (L{dhcpsuite.netlink.decode} turns messages into
L{dhcpsuite.netlink.events}): the blocking configurator of the client's
early path needs only this, and importing the records costs ~25 ms.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH = 28

NLM_F_MULTI = 0x2
NLM_F_DUMP_INTR = 0x10
NLM_F_REPLACE = 0x100
RTM_F_CLONED = 0x200


header = struct.Struct("=IHHII")
_rtattr = struct.Struct("=HH")
_u32 = struct.Struct("=I")
_i32 = struct.Struct("=i")


class ErrorBody(NamedTuple):
    """
    The body of an C{NLMSG_ERROR}: the positive errno (0 is an ACK) and the
    kernel's extended-ACK text when it sent one.
    """

    errno: int
    text: str | None = None


def _attributes(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    found = {}
    while offset + 4 <= end:
        length, kind = _rtattr.unpack_from(data, offset)
        if length < 4 or offset + length > end:
            break
        # The top bits are NLA_F_NESTED / NLA_F_NET_BYTEORDER.
        found[kind & 0x3FFF] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return found


def _string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200


def error_body(data: bytes, offset: int, end: int, flags: int) -> ErrorBody:
    code = -_i32.unpack_from(data, offset)[0]
    text = None
    if flags & NLM_F_ACK_TLVS and offset + 20 <= end:
        echoed = 16 if flags & NLM_F_CAPPED else _u32.unpack_from(data, offset + 4)[0]
        raw = _attributes(data, offset + 4 + ((echoed + 3) & ~3), end).get(1)
        text = _string(raw) if raw else None
    return ErrorBody(code, text)
