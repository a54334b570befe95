# -*- test-case-name: tests.unit.test_client_agent -*-
"""
A client socket (L{dhcpsuite.client.system.rawsocket}) read by the reactor.
"""

from __future__ import annotations

import errno
import socket
from typing import Any, Callable

from twisted.internet import abstract
from twisted.logger import Logger


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
