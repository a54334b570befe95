# -*- test-case-name: tests.unit.test_client_rawsocket -*-
"""
The client's sockets.

Receiving: before the client has an address, a server may unicast the OFFER
and ACK to the offered address at layer 2, which a UDP socket would never
see. So replies are read from an C{AF_PACKET} socket bound to the one
interface with a classic BPF filter (C{SO_ATTACH_FILTER}) that passes only
unfragmented IPv4 UDP to port 68, as dhclient and udhcpc do.

Sending: a UDP socket bound to C{0.0.0.0:68} with C{SO_BINDTODEVICE} and
C{SO_BROADCAST}; the kernel builds the IP/UDP headers (source 0.0.0.0 until
the interface has an address) and routes unicast RENEWING requests. Its own
receive queue is drained and ignored.

The UDP checksum of received frames is not verified: on veth and with
checksum offload a locally generated frame reaches a packet socket with the
checksum not yet filled in (the dhclient LPF bug); the DHCP codec checks the
payload itself.
"""

from __future__ import annotations

import errno
import socket
import struct
from ipaddress import IPv4Address
from typing import Any, Callable

from twisted.internet import abstract
from twisted.logger import Logger

from dhcpsuite.dhcp4.constants import CLIENT_PORT

ETH_P_IP = 0x0800
SO_ATTACH_FILTER = 26
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
PACKET_OUTGOING = 4

# Classic BPF: unfragmented IPv4 UDP with destination port 68. A SOCK_DGRAM
# packet socket hands the filter the packet from the IP header on.
_BPF = (
    (0x30, 0, 0, 9),  # ldb [9]            ; IP protocol
    (0x15, 0, 6, 17),  # jeq #17, +0, drop  ; UDP
    (0x28, 0, 0, 6),  # ldh [6]            ; flags + fragment offset
    (0x45, 4, 0, 0x1FFF),  # jset #0x1fff, drop ; a fragment
    (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf)   ; IP header length
    (0x48, 0, 0, 2),  # ldh [x+2]          ; UDP destination port
    (0x15, 0, 1, CLIENT_PORT),  # jeq #68, accept, drop
    (0x06, 0, 0, 0x40000),  # accept
    (0x06, 0, 0, 0),  # drop
)


def bpf_program(instructions: tuple = _BPF) -> bytes:
    return b"".join(struct.pack("=HBBI", *insn) for insn in instructions)


def attach_filter(sock: socket.socket, instructions: tuple = _BPF) -> Any:
    """
    Attach a classic BPF program. The kernel copies it; the buffer is
    returned only so it stays alive across the call.
    """
    import ctypes

    code = bpf_program(instructions)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(instructions), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buffer


def open_packet_socket(ifname: str) -> socket.socket:
    # Filter before bind, so nothing unfiltered is queued in between.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
    try:
        attach_filter(sock)
        sock.bind((ifname, ETH_P_IP))
    except BaseException:
        sock.close()
        raise
    return sock


def open_send_socket(ifname: str, port: int = CLIENT_PORT) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode() + b"\0")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # we never read it
        sock.bind(("0.0.0.0", port))
    except BaseException:
        sock.close()
        raise
    return sock


def parse_udp(packet: bytes) -> tuple[IPv4Address, int, bytes] | None:
    """
    An IPv4 packet (from the IP header on) to C{(source, source port,
    payload)}, or L{None} when it is not a well-formed UDP datagram to port
    68.
    """
    if len(packet) < 28 or packet[0] >> 4 != 4:
        return None
    header_length = (packet[0] & 0x0F) * 4
    total_length = struct.unpack_from("!H", packet, 2)[0]
    if header_length < 20 or packet[9] != 17 or total_length > len(packet) or total_length < header_length + 8:
        return None
    source_port, destination_port, udp_length = struct.unpack_from("!HHH", packet, header_length)
    if destination_port != CLIENT_PORT or udp_length < 8 or header_length + udp_length > total_length:
        return None
    payload = packet[header_length + 8: header_length + udp_length]
    return IPv4Address(packet[12:16]), source_port, payload


class SocketReader(abstract.FileDescriptor):
    """
    Hands every datagram read from C{sock} to C{on_packet(data, address)};
    reads at most C{max_reads} per reactor turn.
    """

    log = Logger()
    max_reads = 64

    def __init__(self, sock: socket.socket, on_packet: Callable[[bytes, Any], None], reactor: Any = None) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self.socket = sock
        self._on_packet = on_packet
        self.connected = 1

    def fileno(self) -> int:
        return self.socket.fileno() if self.socket is not None else -1

    def doRead(self) -> None:
        for _ in range(self.max_reads):
            try:
                data, address = self.socket.recvfrom(65535)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    return
                self.log.warn("receive error: {error}", error=e)
                return
            try:
                self._on_packet(data, address)
            except Exception:
                self.log.failure("packet handler failed")

    def close(self) -> None:
        if self.socket is not None:
            self.stopReading()
            self.socket.close()
            self.socket = None
            self.connected = 0

    def logPrefix(self) -> str:
        return "dhcp4-client-socket"


def discard(data: bytes, address: Any) -> None:
    pass
