"""
Tests for L{dhcpsuite.server.sockets.StampedPort}'s read loop, with a
scripted socket: one C{doRead} drains the socket up to C{maxThroughput}
bytes and hands the burst over at once.
"""

from __future__ import annotations

import errno
import socket
import struct

from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.server.sockets import SO_TIMESTAMPNS, StampedPort


class ScriptedSocket:
    """
    recvmsg returns the queued datagrams, then fails with EAGAIN.
    """

    def __init__(self, datagrams: list[bytes], stamp: float | None = None) -> None:
        self.datagrams = list(datagrams)
        self.stamp = stamp

    def recvmsg(self, size: int, ancillary: int):
        if not self.datagrams:
            raise OSError(errno.EAGAIN, "no data")
        data = self.datagrams.pop(0)
        cmsg = []
        if self.stamp is not None:
            seconds = int(self.stamp)
            cmsg = [(socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("@qq", seconds, int((self.stamp - seconds) * 1e9)))]
        return data, cmsg, 0, ("10.0.0.2", 67)


class BurstProtocol:
    def __init__(self) -> None:
        self.bursts: list[list] = []

    def stampedDatagramsReceived(self, datagrams) -> None:
        self.bursts.append(list(datagrams))


class OneByOneProtocol:
    def __init__(self) -> None:
        self.received: list = []

    def stampedDatagramReceived(self, data, addr, waited) -> None:
        self.received.append(data)
        if data == b"bad":
            raise RuntimeError("protocol bug")


def port_with(protocol, datagrams: list[bytes], max_throughput: int = 1000, stamp: float | None = None) -> StampedPort:
    port = StampedPort(0, protocol, reactor=MemoryReactor())
    port.socket = ScriptedSocket(datagrams, stamp)
    port.maxThroughput = max_throughput
    return port


class StampedPortTests(SynchronousTestCase):
    def test_one_read_hands_over_one_burst(self) -> None:
        protocol = BurstProtocol()
        port = port_with(protocol, [b"a" * 100, b"b" * 100, b"c" * 100])
        port.doRead()
        self.assertEqual([[d for d, _, _ in burst] for burst in protocol.bursts], [[b"a" * 100, b"b" * 100, b"c" * 100]])
        self.assertEqual(protocol.bursts[0][0][1], ("10.0.0.2", 67))
        # Nothing read: no empty burst.
        port.doRead()
        self.assertEqual(len(protocol.bursts), 1)

    def test_max_throughput_ends_a_burst(self) -> None:
        """
        A burst ends after C{maxThroughput} bytes, so the reactor gets to
        commit completions (which release ACKs) between bursts.
        """
        protocol = BurstProtocol()
        port = port_with(protocol, [b"x" * 300] * 5, max_throughput=600)
        port.doRead()
        port.doRead()
        port.doRead()
        self.assertEqual([len(burst) for burst in protocol.bursts], [2, 2, 1])

    def test_receive_timestamps_give_the_wait(self) -> None:
        import time

        protocol = BurstProtocol()
        port = port_with(protocol, [b"late"], stamp=time.time() - 2.0)
        port.doRead()
        [[(_, _, waited)]] = protocol.bursts
        self.assertTrue(1.9 < waited < 10, waited)

    def test_protocol_without_bursts_gets_each_datagram(self) -> None:
        """
        A protocol that only has C{stampedDatagramReceived} gets the burst
        datagram by datagram, and one failing costs only itself.
        """
        protocol = OneByOneProtocol()
        port = port_with(protocol, [b"one", b"bad", b"three"])
        port.doRead()
        self.assertEqual(protocol.received, [b"one", b"bad", b"three"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
