# -*- test-case-name: tests.unit.test_server_destination -*-
"""
Where a server reply goes (RFC 2131 section 4.1), as one pure function.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import attrs

from dhcpsuite.dhcp4.constants import CLIENT_PORT, HTYPE_ETHERNET, SERVER_PORT, MessageType
from dhcpsuite.dhcp4.packet import Message

BROADCAST = IPv4Address("255.255.255.255")
_ZERO = IPv4Address(0)


@attrs.frozen
class Destination:
    """
    @ivar hardware: set for an L2 unicast to a client that has no address
        yet: the reply goes to C{address} at this link-layer address, which
        the sender must put in the neighbour table first (or fall back to
        broadcast).
    """

    address: IPv4Address
    port: int
    hardware: bytes | None = None

    @property
    def is_broadcast(self) -> bool:
        return self.address == BROADCAST


def reply_destination(request: Message, reply_type: int, yiaddr: IPv4Address = _ZERO) -> Destination:
    if request.giaddr != _ZERO:
        if request.ciaddr != _ZERO and request.message_type == MessageType.INFORM:
            # RFC 2131 4.3.5: "directly to the address given in ciaddr", even
            # when relayed (a relay would forward it to yiaddr, 0 here).
            return Destination(request.ciaddr, CLIENT_PORT)
        return Destination(request.giaddr, SERVER_PORT)
    if reply_type == MessageType.NAK:
        return Destination(BROADCAST, CLIENT_PORT)
    if request.ciaddr != _ZERO:
        return Destination(request.ciaddr, CLIENT_PORT)
    if request.broadcast or yiaddr == _ZERO:
        return Destination(BROADCAST, CLIENT_PORT)
    if request.htype == HTYPE_ETHERNET and request.hlen == 6 and any(request.hardware_address):
        return Destination(yiaddr, CLIENT_PORT, request.hardware_address)
    return Destination(BROADCAST, CLIENT_PORT)
