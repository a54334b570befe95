# -*- test-case-name: tests.unit.test_netlink_decode -*-
"""
Netlink framing: attributes and the body of an C{NLMSG_ERROR} (the numbers
are in L{dhcpsuite.netlink.constants}). No records (L{dhcpsuite.netlink.decode} turns messages into
L{dhcpsuite.netlink.events}): the blocking configurator of the client's
early path needs only this, and importing the records costs ~25 ms.
"""

from __future__ import annotations

import struct
from dhcpsuite.netlink.constants import HEADER as header  # noqa: F401  (the early path's framing)
from dhcpsuite.netlink.constants import NLA_TYPE_MASK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSGERR_ATTR_MSG
from dhcpsuite.records import Record

_rtattr = struct.Struct("=HH")
_u32 = struct.Struct("=I")
_i32 = struct.Struct("=i")


class ErrorBody(Record):
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
        found[kind & NLA_TYPE_MASK] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return found


def _string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def error_body(data: bytes, offset: int, end: int, flags: int) -> ErrorBody:
    code = -_i32.unpack_from(data, offset)[0]
    text = None
    if flags & NLM_F_ACK_TLVS and offset + 20 <= end:
        echoed = 16 if flags & NLM_F_CAPPED else _u32.unpack_from(data, offset + 4)[0]
        raw = _attributes(data, offset + 4 + ((echoed + 3) & ~3), end).get(NLMSGERR_ATTR_MSG)
        text = _string(raw) if raw else None
    return ErrorBody(code, text)
