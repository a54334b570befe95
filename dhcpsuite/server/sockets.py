"""
The few socket operations the server needs beyond what Twisted offers: a UDP
socket bound to one interface, the interface's IPv4 address, and an ARP entry
so a reply can reach a client that has no address yet (as dnsmasq does).
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
import time
from ipaddress import IPv4Address
from typing import Any

from twisted.internet import udp
from twisted.logger import Logger

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
# Linux: the kernel's receive time of each datagram as a struct timespec.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
# recvmsg errors that end one doRead (as udp.Port's): nothing left, a signal, an ICMP error.
_READ_DONE = frozenset((errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ECONNREFUSED))
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


class StampedPort(udp.Port):
    """
    A UDP port that tells its protocol how long each datagram waited in the
    kernel's receive queue (C{SO_TIMESTAMPNS}), through
    C{protocol.stampedDatagramReceived(data, addr, waited)}: the queue a
    server behind its offered load grows (its receive buffer holds seconds
    of requests), invisible to the process otherwise.

    A datagram without a timestamp counts as not having waited.

    One C{doRead} drains the socket up to C{maxThroughput} bytes and hands
    the burst over at once, through C{protocol.stampedDatagramsReceived(
    [(data, addr, waited), ...])} when the protocol has it (the server
    answers a burst's ACKs after one commit), else datagram by datagram.
    """

    log = Logger()

    def doRead(self) -> None:
        burst: list[tuple[bytes, Any, float]] = []
        try:
            self._drain(burst)
        finally:
            if burst:
                self._deliver(burst)

    def _drain(self, burst: list[tuple[bytes, Any, float]]) -> None:
        read = 0
        recvmsg = self.socket.recvmsg
        while read < self.maxThroughput:
            try:
                data, ancillary, _, addr = recvmsg(self.maxPacketSize, _ANCILLARY)
            except OSError as se:
                if se.errno in _READ_DONE:
                    return
                raise
            read += len(data)
            waited = 0.0
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                    seconds, nanoseconds = _TIMESPEC.unpack_from(payload)
                    waited = time.time() - (seconds + nanoseconds * 1e-9)
            burst.append((data, addr, waited))

    def _deliver(self, burst: list[tuple[bytes, Any, float]]) -> None:
        protocol = self.protocol
        together = getattr(protocol, "stampedDatagramsReceived", None)
        if together is not None:
            try:
                together(burst)
            except BaseException:
                self.log.failure("Protocol failed on a read burst")
            return
        for data, addr, waited in burst:
            try:
                protocol.stampedDatagramReceived(data, addr, waited)
            except BaseException:
                self.log.failure("Protocol failed on a datagram")


def adopt_stamped_port(reactor: Any, fileno: int, protocol: Any, max_packet_size: int) -> StampedPort:
    """
    Like C{IReactorSocket.adoptDatagramPort}, with a L{StampedPort}: the
    socket is duplicated, the caller closes its own, and the port starts
    listening in C{reactor}. Asks the kernel for receive timestamps.
    """
    port = StampedPort._fromListeningDescriptor(reactor, fileno, socket.AF_INET, protocol, maxPacketSize=max_packet_size)
    port.startListening()
    # Before the reactor's first read: startListening only registers the reader.
    port.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return port


def adopt_port(reactor: Any, fileno: int, protocol: Any, max_packet_size: int) -> Any:
    """
    The reactor's own datagram port (no receive timestamps: every datagram
    counts as fresh).
    """
    return reactor.adoptDatagramPort(fileno, socket.AF_INET, protocol, max_packet_size)
