# -*- test-case-name: tests.unit.test_client_rawsocket -*-
"""
IPv4 address conflict detection (RFC 5227) before a new lease is bound:
ARP probes (sender address 0.0.0.0) for the offered address; any ARP packet
that says another host uses it, or another host probing for it, is a
conflict.
"""

from __future__ import annotations

import random
import socket
import struct
from ipaddress import IPv4Address
from typing import Any, Callable

import attrs
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from dhcpsuite.client.shell.reader import SocketReader
from dhcpsuite.client.system.rawsocket import PacketAddress

ETH_P_ARP = 0x0806
_ARP = struct.Struct("!HHBBH6s4s6s4s")
REQUEST = 1
REPLY = 2
BROADCAST_MAC = b"\xff" * 6


@attrs.frozen
class ProbeTiming:
    """
    RFC 5227 section 1.1 constants.
    """

    wait: float = 1.0
    count: int = 3
    minimum: float = 1.0
    maximum: float = 2.0
    announce_wait: float = 2.0


def probe_packet(mac: bytes, address: IPv4Address) -> bytes:
    return _ARP.pack(1, 0x0800, 6, 4, REQUEST, mac, b"\0" * 4, b"\0" * 6, address.packed)


def is_conflict(packet: bytes, mac: bytes, address: IPv4Address) -> bool:
    """
    RFC 5227 section 2.1.1: a packet whose sender address is ours-to-be, or
    another host's probe for it.
    """
    if len(packet) < _ARP.size:
        return False
    _, ptype, hlen, plen, _, sha, spa, _, tpa = _ARP.unpack_from(packet)
    if ptype != 0x0800 or hlen != 6 or plen != 4 or sha == mac:
        return False
    if spa == address.packed:
        return True
    return spa == b"\0\0\0\0" and tpa == address.packed


class ArpProber:
    """
    Probes one address on one interface.

    @param open_socket: returns a non-blocking C{AF_PACKET} ARP socket on the
        interface (injectable for tests).
    """

    log = Logger()

    def __init__(
        self,
        ifname: str,
        mac: bytes,
        reactor: Any,
        timing: ProbeTiming = ProbeTiming(),
        rng: random.Random | None = None,
        open_socket: Callable[[str], Any] | None = None,
    ) -> None:
        self.ifname = ifname
        self.mac = mac
        self.reactor = reactor
        self.timing = timing
        self.rng = rng or random.Random()
        self._open = open_socket or open_arp_socket
        self._reader: SocketReader | None = None
        self._call: IDelayedCall | None = None
        self._result: defer.Deferred | None = None

    def probe(self, address: IPv4Address) -> defer.Deferred:
        """
        @return: a L{Deferred} firing with L{True} on conflict, L{False}
            after the probes and the announce wait passed quietly.
        """
        self.cancel()
        self._address = address
        self._sent = 0
        self._result = defer.Deferred()
        try:
            sock = self._open(self.ifname)
        except OSError as e:
            self.log.warn("{ifname}: ARP probe impossible ({error}); assuming no conflict", ifname=self.ifname, error=e)
            result, self._result = self._result, None
            result.callback(False)
            return result
        self._reader = SocketReader(sock, self._received, self.reactor)
        self._reader.startReading()
        self._call = self.reactor.callLater(self.rng.uniform(0, self.timing.wait), self._send)
        return self._result

    def _send(self) -> None:
        try:
            self._reader.socket.sendto(probe_packet(self.mac, self._address), (self.ifname, ETH_P_ARP, 0, 0, BROADCAST_MAC))
        except OSError as e:
            self.log.warn("{ifname}: ARP probe send failed: {error}", ifname=self.ifname, error=e)
        self._sent += 1
        if self._sent < self.timing.count:
            delay = self.rng.uniform(self.timing.minimum, self.timing.maximum)
            self._call = self.reactor.callLater(delay, self._send)
        else:
            self._call = self.reactor.callLater(self.timing.announce_wait, self._finish, False)

    def _received(self, data: bytes, address: PacketAddress) -> None:
        if self._result is not None and is_conflict(data, self.mac, self._address):
            self._finish(True)

    def _finish(self, conflict: bool) -> None:
        result, self._result = self._result, None
        self.cancel()
        if result is not None:
            result.callback(conflict)

    def cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._result = None


def open_arp_socket(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                         socket.htons(ETH_P_ARP))
    try:
        sock.bind((ifname, ETH_P_ARP))
    except BaseException:
        sock.close()
        raise
    return sock
