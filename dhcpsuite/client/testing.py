"""
Test doubles for the client: a controllable L{IClock}, fake sockets, a fake
C{spawnProcess}, a fake ARP prober and a scripted DHCP server that builds
replies for a machine's requests.
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from ipaddress import IPv4Address
from typing import Any

from twisted.internet import defer
from zope.interface import implementer

from dhcpsuite.dhcp4.constants import BOOTREPLY, CLIENT_PORT, SERVER_PORT, MessageType, Option
from dhcpsuite.dhcp4.packet import Message, decode_message
from dhcpsuite.interfaces import IClock

WALL_EPOCH = 1_800_000_000.0


@implementer(IClock)
class FakeClock:
    """
    Boottime and wall clocks over a reactor whose C{seconds()} is the wall
    clock (as Twisted's is).

    L{advance} is time passing (both clocks, timers fire); L{set_wall} is an
    administrator setting the wall clock (the reactor jumps, boottime does
    not); L{suspend} is the machine sleeping (both move, then every due
    timer fires at once on resume).
    """

    def __init__(self, reactor: Any, boottime: float = 1000.0, wall_offset: float = WALL_EPOCH) -> None:
        self.reactor = reactor
        self._boottime = boottime
        self._wall_offset = wall_offset

    def wall(self) -> float:
        return self.reactor.seconds() + self._wall_offset

    def monotonic(self) -> float:
        return self._boottime

    def advance(self, seconds: float, step: float = 1.0) -> None:
        left = seconds
        while left > 1e-9:
            chunk = min(step, left)
            self._boottime += chunk
            self.reactor.advance(chunk)
            left -= chunk

    def set_wall(self, delta: float) -> None:
        if delta >= 0:
            self.reactor.advance(delta)  # the reactor's time is the wall clock
        else:
            self._wall_offset += delta

    def suspend(self, seconds: float) -> None:
        self._boottime += seconds
        self.reactor.advance(seconds)


class FakeSocket:
    """
    Records C{sendto}; C{recvfrom} returns what L{queue} put there, then
    would block.
    """

    _next_fd = 1000

    def __init__(self) -> None:
        FakeSocket._next_fd += 1
        self._fd = FakeSocket._next_fd
        self.sent: list[tuple[bytes, tuple]] = []
        self.closed = False
        self.fail_unicast = False
        self.incoming: deque[tuple[bytes, tuple]] = deque()

    def fileno(self) -> int:
        return self._fd

    def getsockname(self) -> tuple:
        return ("wan0", 0x0800, 0, 1, b"")

    def sendto(self, data: bytes, address: tuple) -> int:
        if self.fail_unicast and address[0] != "255.255.255.255":
            raise OSError(errno.ENETUNREACH, "Network is unreachable")
        self.sent.append((data, address))
        return len(data)

    def queue(self, data: bytes, address: tuple = ("wan0", 0x0800, 0, 1, b"")) -> None:
        self.incoming.append((data, address))

    def recvfrom(self, size: int) -> tuple:
        if not self.incoming:
            raise BlockingIOError(errno.EAGAIN, "would block")
        return self.incoming.popleft()

    def close(self) -> None:
        self.closed = True

    def messages(self) -> list[tuple[Message, tuple]]:
        """
        What was sent, as C{(message, (destination, port))}; a frame sent
        from the packet socket is unwrapped from its IP and UDP headers.
        """
        return [sent_message(data, address)[:2] for data, address in self.sent]


def sent_message(data: bytes, address: tuple) -> tuple[Message, tuple, IPv4Address | None]:
    """
    C{(message, (destination, port), IP source)} of one C{sendto}: the IP
    source is L{None} for a UDP socket's (the kernel chooses it).
    """
    if len(address) != 5:
        return decode_message(data), address, None
    header = (data[0] & 0x0F) * 4
    destination_port = struct.unpack_from("!H", data, header + 2)[0]
    return (decode_message(data[header + 8:]), (str(IPv4Address(data[16:20])), destination_port),
            IPv4Address(data[12:16]))


class FakeSockets:
    """
    The C{open_sockets} of an agent: remembers the pair it handed out.
    """

    def __init__(self) -> None:
        self.receive: FakeSocket | None = None
        self.send: FakeSocket | None = None
        self.opened = 0

    def __call__(self, ifname: str) -> tuple[FakeSocket, FakeSocket]:
        self.opened += 1
        self.receive, self.send = FakeSocket(), FakeSocket()
        # One record for both, in the order sent (broadcasts before an
        # address leave through the packet socket).
        self.receive.sent = self.send.sent
        return self.receive, self.send


class FakeProcessTransport:
    def __init__(self, protocol: Any, argv: list[str], env: dict[str, str]) -> None:
        self.protocol = protocol
        self.argv = argv
        self.env = env
        self.signals: list[str] = []
        self.ended = False

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)
        if name == "KILL":
            self.end(None, signal=9)

    def end(self, code: int | None = 0, signal: int | None = None) -> None:
        from twisted.internet import error
        from twisted.python import failure

        if self.ended:
            return
        self.ended = True
        if code == 0 and signal is None:
            reason = error.ProcessDone(0)
        else:
            reason = error.ProcessTerminated(code, signal)
        self.protocol.processEnded(failure.Failure(reason))


class FakeSpawn:
    """
    A C{spawnProcess} that starts nothing; the test ends processes.
    """

    def __init__(self, auto_exit: bool = False) -> None:
        self.processes: list[FakeProcessTransport] = []
        self.auto_exit = auto_exit

    def __call__(self, protocol: Any, executable: str, args: list[str], env: dict[str, str] | None = None, **kw) -> Any:
        transport = FakeProcessTransport(protocol, list(args), dict(env or {}))
        self.processes.append(transport)
        if self.auto_exit:
            transport.end(0)
        return transport

    @property
    def actions(self) -> list[str]:
        return [p.argv[1] for p in self.processes]


class FakeProber:
    """
    An ARP prober whose result the test decides (C{result} L{None}: pending).
    """

    instances: list["FakeProber"] = []

    def __init__(self, ifname: str, mac: bytes, reactor: Any, rng: Any = None, result: bool | None = None) -> None:
        self.ifname = ifname
        self.mac = mac
        self.probed: list[IPv4Address] = []
        self.deferred: defer.Deferred | None = None
        self.result = result
        self.cancelled = False
        FakeProber.instances.append(self)

    def probe(self, address: IPv4Address) -> defer.Deferred:
        self.probed.append(address)
        self.deferred = defer.Deferred()
        if self.result is not None:
            self.deferred.callback(self.result)
        return self.deferred

    def cancel(self) -> None:
        self.cancelled = True


def reply_to(
    request: Message,
    kind: int,
    yiaddr: str = "10.0.0.10",
    server: str | None = "10.0.0.1",
    lease_time: int | None = 3600,
    options: dict[int, Any] | None = None,
) -> Message:
    """
    A server's reply to C{request} (same xid and chaddr).
    """
    reply = Message(
        op=BOOTREPLY,
        xid=request.xid,
        chaddr=request.chaddr,
        yiaddr=IPv4Address(yiaddr) if kind in (MessageType.OFFER, MessageType.ACK) and yiaddr else IPv4Address(0),
    )
    reply.set_option(Option.MESSAGE_TYPE, kind)
    if server is not None:
        reply.set_option(Option.SERVER_ID, IPv4Address(server))
    if lease_time is not None and kind in (MessageType.OFFER, MessageType.ACK):
        reply.set_option(Option.LEASE_TIME, lease_time)
    if kind in (MessageType.OFFER, MessageType.ACK):
        reply.set_option(Option.SUBNET_MASK, IPv4Address("255.255.255.0"))
    for code, value in (options or {}).items():
        reply.set_option(code, value)
    return reply


def ip_udp(payload: bytes, source: str = "10.0.0.1", destination: str = "255.255.255.255",
           source_port: int = SERVER_PORT, destination_port: int = CLIENT_PORT) -> bytes:
    """
    An IPv4 + UDP packet around C{payload} (checksums left zero), as a
    C{SOCK_DGRAM} packet socket returns it.
    """
    udp = struct.pack("!HHHH", source_port, destination_port, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
        IPv4Address(source).packed, IPv4Address(destination).packed,
    )
    return header + udp
