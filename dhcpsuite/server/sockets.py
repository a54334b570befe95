"""
The few socket operations the server needs beyond what Twisted offers: a UDP
socket bound to one interface, the interface's IPv4 address, and an ARP entry
so a reply can reach a client that has no address yet (as dnsmasq does).
"""

from __future__ import annotations

import fcntl
import socket
import struct
from ipaddress import IPv4Address

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SIOCGIFADDR = 0x8915
SIOCSARP = 0x8955
ATF_COM = 0x02
ARPHRD_ETHER = 1


def open_interface_socket(ifname: str, port: int) -> socket.socket:
    """
    A non-blocking UDP socket on C{0.0.0.0:port} that only sees C{ifname}'s
    traffic (several interfaces each get one; broadcast requests carry no
    address that would tell them apart).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode() + b"\0")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind(("0.0.0.0", port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def interface_ipv4_address(ifname: str) -> IPv4Address | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16s16x", ifname.encode()[:15])
        try:
            result = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
        except OSError:
            return None
    return IPv4Address(result[20:24])


def add_arp_entry(fd: int, ifname: str, address: IPv4Address, mac: bytes) -> None:
    """
    Put C{address} -> C{mac} in the kernel's ARP table for C{ifname}.

    @raise OSError: when the kernel refuses.
    """
    protocol_address = struct.pack("=H2s4s8x", socket.AF_INET, b"\0\0", address.packed)
    hardware_address = struct.pack("=H14s", ARPHRD_ETHER, mac[:14])
    request = protocol_address + hardware_address + struct.pack("=i", ATF_COM) + b"\0" * 16 + struct.pack(
        "16s", ifname.encode()[:15]
    )
    fcntl.ioctl(fd, SIOCSARP, request)
