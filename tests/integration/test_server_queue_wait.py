"""
The server's UDP port reports how long each datagram waited in the kernel's
receive queue (SO_TIMESTAMPNS), which is what lets an overloaded server shed
stale DISCOVERs (see ServerProtocol.stampedDatagramReceived). On loopback:
no root, namespace or peer needed.
"""

from __future__ import annotations

import socket
import time

from twisted.internet.testing import MemoryReactor

from dhcpsuite.server.sockets import adopt_stamped_port


class Recorder:
    def __init__(self) -> None:
        self.received: list[tuple[bytes, float]] = []

    def makeConnection(self, transport) -> None:
        self.transport = transport

    def doStart(self) -> None:
        pass

    def doStop(self) -> None:
        pass

    def stampedDatagramReceived(self, data: bytes, addr: tuple, waited: float) -> None:
        self.received.append((data, waited))


def test_port_reports_time_waited_in_the_receive_queue() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    address = sock.getsockname()
    recorder = Recorder()
    reactor = MemoryReactor()
    port = adopt_stamped_port(reactor, sock.fileno(), recorder, 65535)
    sock.close()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # The kernel turns receive timestamping on for the host through
        # deferred work: a datagram that arrives before that carries none and
        # is stamped when read. A long-running server only sees this for its
        # first datagrams; the measurement starts once stamps are taken.
        deadline = time.monotonic() + 5
        while True:
            sender.sendto(b"warm-up", address)
            time.sleep(0.05)
            port.doRead()
            stamped = recorder.received[-1][1] >= 0.04
            recorder.received.clear()
            if stamped or time.monotonic() > deadline:
                break
        sender.sendto(b"old", address)
        time.sleep(0.3)
        sender.sendto(b"new", address)
        time.sleep(0.02)
        port.doRead()
    finally:
        sender.close()
        port.socket.close()
    [(first, old), (second, new)] = recorder.received
    assert (first, second) == (b"old", b"new")
    assert 0.3 <= old < 2.0
    assert 0.0 <= new < 0.3
