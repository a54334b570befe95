# -*- test-case-name: tests.unit.test_client_rawsocket -*-
"""
The client's sockets.

Receiving: before the client has an address, a server may unicast the OFFER
and ACK to the offered address at layer 2, which a UDP socket would never
see. So replies are read from an C{AF_PACKET} socket bound to the one
interface with a classic BPF filter (C{SO_ATTACH_FILTER}) that passes only
unfragmented IPv4 UDP to port 68, as dhclient and udhcpc do.

Sending: a broadcast from a client that holds no address (C{ciaddr} 0:
DISCOVER, the REQUEST of SELECTING and INIT-REBOOT, DECLINE) goes out of the
packet socket with IP and UDP headers built here (L{frames.udp_frame}) and
source 0.0.0.0, as
RFC 2131 section 4.1 requires and udhcpc and dhclient do: the interface may
still carry an address (the expired lease while it is being removed, or the
last run's after a crash) that the kernel would otherwise put as the source.
Everything else goes through a UDP socket bound to C{0.0.0.0:68} with
C{SO_BINDTODEVICE} and C{SO_BROADCAST}, which routes unicast RENEWING
requests. Its own receive queue is drained and ignored.

The UDP checksum of received frames is not verified: on veth and with
checksum offload a locally generated frame reaches a packet socket with the
checksum not yet filled in (the dhclient LPF bug); the DHCP codec checks the
payload itself.
"""

from __future__ import annotations

# _socket, the C module, rather than socket.py, which turns every constant
# into an enum when imported (~3 ms of the client's early path) and adds
# nothing these sockets use.
import _socket
import array
import struct
from ipaddress import IPv4Address

from dhcpsuite.dhcp4 import frames
from dhcpsuite.dhcp4.constants import CLIENT_PORT, SERVER_PORT
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.packet import Message, decode_message

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path imports neither typing nor socket.py
    import socket
    from typing import Any

_ZERO = IPv4Address(0)
_ETHERNET_HEADER = 14

ETH_P_IP = 0x0800
SO_ATTACH_FILTER = 26
SO_BINDTODEVICE = getattr(_socket, "SO_BINDTODEVICE", 25)
PACKET_OUTGOING = 4
BROADCAST = "255.255.255.255"

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
    returned only so it stays alive across the call. (An C{array} rather
    than C{ctypes} for the buffer: importing C{ctypes} costs the early
    client path several milliseconds.)
    """
    code = array.array("B", bpf_program(instructions))
    fprog = struct.pack("@HP", len(instructions), code.buffer_info()[0])
    sock.setsockopt(_socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return code


def open_packet_socket(ifname: str) -> socket.socket:
    # Filter before bind, so nothing unfiltered is queued in between.
    sock = _socket.socket(_socket.AF_PACKET, _socket.SOCK_DGRAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC, 0)
    try:
        attach_filter(sock)
        sock.bind((ifname, ETH_P_IP))
    except BaseException:
        sock.close()
        raise
    return sock


def open_send_socket(ifname: str, port: int = CLIENT_PORT) -> socket.socket:
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_BROADCAST, 1)
        sock.setsockopt(_socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode() + b"\0")
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 1)  # we never read it
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


# What recvfrom on an AF_PACKET socket gives as the address: interface
# name, protocol, packet type, hardware type, hardware address.
PacketAddress = tuple[str, int, int, int, bytes]


def discard(data: bytes, address: PacketAddress) -> None:
    pass


def open_sockets(ifname: str) -> tuple[socket.socket, socket.socket]:
    """
    @return: the receiving packet socket and the sending UDP socket.
    """
    receive = open_packet_socket(ifname)
    try:
        send = open_send_socket(ifname)
    except BaseException:
        receive.close()
        raise
    return receive, send


def decode_reply(data: bytes, address: PacketAddress) -> tuple[Message | None, str | None, IPv4Address | None]:
    """
    A frame read from the packet socket as a DHCP message.

    @return: C{(message, None, IP source)}; C{(None, reason, None)} for a
        frame to drop and count; C{(None, None, None)} for our own outgoing
        frame, which the packet socket also sees.
    """
    if len(address) > 2 and address[2] == PACKET_OUTGOING:
        return None, None, None
    parsed = parse_udp(data)
    if parsed is None:
        return None, "not UDP to port 68", None
    try:
        return decode_message(parsed[2]), None, parsed[0]
    except DecodeError as e:
        return None, e.reason, None


def _broadcast_packet(message: Message, data: bytes) -> bytes:
    """
    The IPv4 packet (from the IP header on, as a C{SOCK_DGRAM} packet socket
    sends it; the kernel adds the link header) carrying C{data} from
    0.0.0.0:68 to 255.255.255.255:67, checksums filled in.
    """
    frame = frames.udp_frame(data, message.hardware_address, frames.BROADCAST_MAC, _ZERO,
                             IPv4Address(BROADCAST), CLIENT_PORT, SERVER_PORT)
    return frame[_ETHERNET_HEADER:]


def send_message(sock: socket.socket, message: Message, server: IPv4Address | None,
                 raw: socket.socket | None = None) -> None:
    """
    Broadcast C{message}, or unicast it to C{server}; when the unicast has
    no route (the address is not on the interface, e.g. C{configure = false}
    and no hook put it there), broadcast it instead.

    @param raw: the interface's packet socket: a broadcast with C{ciaddr}
        0 from an Ethernet client leaves through it with source 0.0.0.0.

    @raise OSError: the message could not be sent at all.
    """
    data = message.to_bytes()
    if server is None:
        if raw is not None and message.ciaddr == _ZERO and len(message.hardware_address) == 6:
            packet = _broadcast_packet(message, data)
            raw.sendto(packet, (raw.getsockname()[0], ETH_P_IP, 0, 0, frames.BROADCAST_MAC))
            return
        sock.sendto(data, (BROADCAST, SERVER_PORT))
        return
    try:
        sock.sendto(data, (str(server), SERVER_PORT))
    except OSError:
        sock.sendto(data, (BROADCAST, SERVER_PORT))
