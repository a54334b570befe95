# -*- test-case-name: tests.unit.test_dhcp4_frames -*-
"""
Ethernet frames around a UDP datagram, built by hand: the Ethernet header,
an IPv4 header and a UDP header, both checksums computed here (nothing is
left to the kernel or to checksum offload, which a packet socket bypasses).

Used to send DHCP replies on a packet socket, as Kea's raw mode and ISC
dhcpd do, so that a reply to a client without an address depends on no
neighbour (ARP) entry.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

ETH_P_IP = 0x0800
BROADCAST_MAC = b"\xff" * 6
# Enough for one link: a reply never crosses a router on this path.
DEFAULT_TTL = 64

_ETHERNET = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_IPPROTO_UDP = 17
_MAX_UDP_PAYLOAD = 0xFFFF - 20 - 8


def internet_checksum(data: bytes) -> int:
    """
    The ones' complement of the ones' complement sum of 16-bit words
    (RFC 1071), an odd length padded with a zero byte.
    """
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(
    payload: bytes,
    source_mac: bytes,
    destination_mac: bytes,
    source: IPv4Address,
    destination: IPv4Address,
    source_port: int,
    destination_port: int,
    ttl: int = DEFAULT_TTL,
) -> bytes:
    """
    One Ethernet II frame carrying C{payload} in UDP over IPv4 (no options,
    not fragmented, identification 0 as the DF bit is set).

    @raise ValueError: a MAC that is not 6 bytes, or a payload too long for
        one IPv4 datagram.
    """
    if len(source_mac) != 6 or len(destination_mac) != 6:
        raise ValueError("MAC addresses must be 6 bytes")
    if len(payload) > _MAX_UDP_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes does not fit one IPv4 datagram")
    udp_length = 8 + len(payload)
    src, dst = source.packed, destination.packed
    # The UDP checksum covers a pseudo-header, the UDP header and the payload.
    pseudo = src + dst + struct.pack("!BBH", 0, _IPPROTO_UDP, udp_length)
    udp_checksum = internet_checksum(pseudo + _UDP.pack(source_port, destination_port, udp_length, 0) + payload)
    # RFC 768: a computed zero is sent as all ones (zero means "no checksum").
    udp = _UDP.pack(source_port, destination_port, udp_length, udp_checksum or 0xFFFF)
    total_length = 20 + udp_length
    header = _IPV4.pack(0x45, 0, total_length, 0, 0x4000, ttl, _IPPROTO_UDP, 0, src, dst)
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return _ETHERNET.pack(destination_mac, source_mac, ETH_P_IP) + header + udp + payload
