# -*- test-case-name: tests.unit.test_ingest_checks -*-
"""
What an ingested lease must satisfy before it is put on an interface
(C{apply_to_interface = true}): any local process that can reach the
endpoint can push, so nothing it says is applied unchecked.

Pure functions of the decoded record; each refusal names a reason (a
counter name, C{rejected.<reason>}) and what was wrong.

v4, as a DHCP client would check what a server offers (dhclient-script and
systemd-networkd refuse the same): the address is unicast and neither the
network nor the broadcast address of its subnet; the prefix length is
1..32; every router is a unicast address on that subnet other than the
address itself; the MTU is at least 576 (RFC 791's minimum datagram every
host must accept, and RFC 2132's minimum for option 26) and at most 65535.
v6: the IA_NA address is a global or unique-local unicast address (not
multicast, loopback, unspecified, link-local or IPv4-mapped).
"""

from __future__ import annotations

import ipaddress

from dhcpsuite.ingest.pluginmsg import Lease4, Lease6

REASON_ADDRESS = "address-not-unicast"
REASON_PREFIX_LENGTH = "bad-prefix-length"
REASON_GATEWAY_NOT_UNICAST = "gateway-not-unicast"
REASON_GATEWAY_NOT_ON_LINK = "gateway-not-on-link"
REASON_MTU_TOO_SMALL = "mtu-too-small"
REASON_MTU_TOO_LARGE = "mtu-too-large"

MIN_MTU = 576
MAX_MTU = 65535

_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_MULTICAST = ipaddress.IPv4Network("224.0.0.0/4")
_RESERVED = ipaddress.IPv4Network("240.0.0.0/4")  # includes 255.255.255.255
_NOT_UNICAST_V4 = (_THIS_NETWORK, _LOOPBACK, _MULTICAST, _RESERVED)


class LeaseRefused(Exception):
    """
    The lease must not be applied (nor recorded as if it were).

    @ivar reason: a counter name (C{REASON_*}).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def _unicast_v4(address: ipaddress.IPv4Address) -> bool:
    return not any(address in network for network in _NOT_UNICAST_V4)


def check_v4(lease: Lease4) -> None:
    """
    @raise LeaseRefused: when C{lease} must not be applied.
    """
    address = lease.address
    if address is None or not _unicast_v4(address):
        raise LeaseRefused(REASON_ADDRESS, f"address {address} is not a unicast address")
    interface = lease.interface
    if interface is None:
        raise LeaseRefused(REASON_PREFIX_LENGTH, "no netmask")
    network = interface.network
    if not 1 <= network.prefixlen <= 32:
        raise LeaseRefused(REASON_PREFIX_LENGTH, f"prefix length {network.prefixlen} is not 1..32")
    # /31 (RFC 3021) and /32 have no network or broadcast address to avoid.
    if network.prefixlen <= 30 and address in (network.network_address, network.broadcast_address):
        raise LeaseRefused(REASON_ADDRESS, f"address {address} is the network or broadcast address of {network}")
    for router in lease.routers:
        if not _unicast_v4(router) or router == address:
            raise LeaseRefused(REASON_GATEWAY_NOT_UNICAST, f"gateway {router} is not a unicast address of another host")
        if router not in network or (network.prefixlen <= 30 and router in (network.network_address,
                                                                             network.broadcast_address)):
            raise LeaseRefused(REASON_GATEWAY_NOT_ON_LINK, f"gateway {router} is not on {network}")
    mtu = lease.mtu
    if mtu is not None:
        if mtu < MIN_MTU:
            raise LeaseRefused(REASON_MTU_TOO_SMALL, f"MTU {mtu} is below {MIN_MTU}")
        if mtu > MAX_MTU:
            raise LeaseRefused(REASON_MTU_TOO_LARGE, f"MTU {mtu} is above {MAX_MTU}")


def check_v6(lease: Lease6) -> None:
    """
    @raise LeaseRefused: when C{lease}'s IA_NA address must not be applied.
    """
    na = lease.ia_na
    if na is None:
        return
    address = na.address
    if (address.is_multicast or address.is_loopback or address.is_unspecified or address.is_link_local
            or address.ipv4_mapped is not None):
        raise LeaseRefused(REASON_ADDRESS, f"IA_NA address {address} is not a global or unique-local unicast address")
