# -*- test-case-name: tests.unit.test_server_packetsocket -*-
"""
The server's L2 path: replies to clients on the link built as whole
Ethernet frames and written to an C{AF_PACKET} socket bound to the
interface, as Kea's raw mode and ISC dhcpd do.

A UDP socket can reach a client that has no address yet only through an
entry in the kernel's neighbour table; when that table is full the kernel
refuses the entry (ENOBUFS) and even drops a broadcast whose neighbour entry
it cannot create, without telling the sender. A frame on a packet socket goes
to the driver's queue with the MAC we give it, whatever the table holds.
Frames sent this way bypass the host's IP output path (routing, netfilter),
as they do for Kea and dhcpd.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address

from zope.interface import implementer

from dhcpsuite.dhcp4.constants import SERVER_PORT
from dhcpsuite.dhcp4.frames import udp_frame
from dhcpsuite.interfaces import ILinkSender

ARPHRD_ETHER = 1
# A small send buffer: a reply that cannot be queued is better sent by the
# fallback path at once than late.
SEND_BUFFER = 256 * 1024


@implementer(ILinkSender)
class PacketSocketSender:
    """
    @param sock: an C{AF_PACKET}/C{SOCK_RAW} socket bound to the interface.
    @param mac: the interface's own MAC, the frames' source.
    """

    def __init__(self, sock: socket.socket, mac: bytes) -> None:
        self.sock = sock
        self.mac = mac

    def send(self, payload: bytes, source: IPv4Address, destination: IPv4Address, port: int, mac: bytes) -> None:
        frame = udp_frame(payload, self.mac, mac, source, destination, SERVER_PORT, port)
        sent = self.sock.send(frame)
        if sent != len(frame):
            raise OSError(f"short write: {sent} of {len(frame)} bytes")

    def close(self) -> None:
        self.sock.close()


def open_packet_sender(ifname: str) -> PacketSocketSender:
    """
    A sender on C{ifname}. Protocol 0: the socket receives nothing, it only
    sends.

    @raise OSError: no C{CAP_NET_RAW}, no such interface, or the interface
        is not Ethernet.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.bind((ifname, 0))
        _, _, _, hatype, mac = sock.getsockname()
        if hatype != ARPHRD_ETHER or len(mac) != 6:
            raise OSError(f"{ifname} is not an Ethernet interface (hardware type {hatype})")
    except BaseException:
        sock.close()
        raise
    return PacketSocketSender(sock, mac)
