# -*- test-case-name: tests.unit.test_ingest_sp -*-
"""
nanomsg's SP-over-TCP mapping (C{rfc/sp-tcp-mapping-01.txt}) and its IPC
mapping (the same over a UNIX stream socket, each length preceded by a
message-type byte, 1 for a normal message, as nanomsg's C{sipc.c} and nng's
C{ipc} transport send it) for the pipeline pattern: the 8-byte protocol
header, the length framing, a pure receive-side framer, and a blocking PUSH
sender for the plugins.

Standard library only (the plugins import it). The Twisted protocol that
uses L{PullFramer} is in L{dhcpsuite.ingest.protocol}.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Callable

SP_MAGIC = b"\0SP\0"
PROTOCOL_PUSH = 0x0050  # NN_PUSH = NN_PROTO_PIPELINE * 16 + 0
PROTOCOL_PULL = 0x0051  # NN_PULL = NN_PROTO_PIPELINE * 16 + 1
HEADER_SIZE = 8
LENGTH_SIZE = 8
# The largest PLUGIN_MSG is 1720 bytes; 4 KiB leaves room for a grown
# layout while keeping what one stalled connection can hold small
# (nanomsg's own NN_RCVMAXSIZE default, 1 MiB, is for arbitrary payloads).
DEFAULT_MAX_MESSAGE_SIZE = 4096
DEFAULT_ADDRESS = "tcp://127.0.0.1:50324"  # RDK-B's DHCP_MANAGER_ADDR

# The two SP transports the endpoint and the plugins speak.
TRANSPORT_TCP = "tcp"
TRANSPORT_IPC = "ipc"
IPC_MESSAGE_NORMAL = 1  # NN_SIPC_MSG_NORMAL; nng sends and expects the same
IPC_PREFIX_SIZE = 1 + 8

_LENGTH = struct.Struct(">Q")

# Why a peer's header was refused (counter names).
HEADER_BAD_MAGIC = "bad-magic"
HEADER_WRONG_PROTOCOL = "wrong-protocol"
HEADER_BAD_RESERVED = "bad-reserved"
# Why a stream was closed after the header (counter names).
REASON_OVERSIZE = "oversize"
REASON_BAD_MESSAGE_TYPE = "bad-message-type"


def header(protocol: int) -> bytes:
    """
    @return: the 8-byte header an endpoint of C{protocol} sends first.
    """
    return SP_MAGIC + struct.pack(">H", protocol) + b"\0\0"


PUSH_HEADER = header(PROTOCOL_PUSH)
PULL_HEADER = header(PROTOCOL_PULL)


def check_header(data: bytes, expected_peer: int) -> str | None:
    """
    Check a peer's 8-byte header as nng does (and the RFC asks): magic,
    the one protocol that may talk to us, and zero reserved bytes.

    @return: L{None} when acceptable, else a reason (C{HEADER_*}).
    """
    if data[:4] != SP_MAGIC:
        return HEADER_BAD_MAGIC
    if data[4:6] != struct.pack(">H", expected_peer):
        return HEADER_WRONG_PROTOCOL
    if data[6:8] != b"\0\0":
        return HEADER_BAD_RESERVED
    return None


def frame(payload: bytes, transport: str = TRANSPORT_TCP) -> bytes:
    """
    @return: C{payload} as one SP message: the 8-byte big-endian length
        first, preceded over IPC by the message-type byte.
    """
    length = _LENGTH.pack(len(payload))
    if transport == TRANSPORT_IPC:
        return bytes((IPC_MESSAGE_NORMAL,)) + length + payload
    return length + payload


class FramingError(Exception):
    """
    The stream broke the protocol; the connection must be closed.

    @ivar reason: a counter name.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


class PullFramer:
    """
    The receive side of an SP PUSH->PULL stream (TCP or IPC), fed bytes as
    they come.

    First the peer's header is checked; then each length-prefixed message is
    handed to C{on_message(buffer, offset, size)} without being copied out of
    the read it arrived in; every complete message in a read is framed in
    one loop. Only a header, length prefix or message split across reads is
    kept, in one C{bytearray} that grows in place (a stream of tiny reads
    costs one byte of memory per byte held, not an object per read) and is
    copied out once when complete.

    @param on_message: called for each complete message with the buffer
        it lies in, its offset and its size (the buffer holds other messages
        too: slice what you keep).
    @param max_message_size: a length above this raises L{FramingError}.
    @param transport: L{TRANSPORT_TCP} (8-byte length) or L{TRANSPORT_IPC}
        (a message-type byte, which must be 1, then the 8-byte length).
    """

    __slots__ = ("_on_message", "_max", "_expected", "_handshaken", "_pending", "_need", "_in_body", "_ipc",
                 "_prefix", "messages")

    def __init__(self, on_message: Callable[[bytes, int, int], None], max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 expected_peer: int = PROTOCOL_PUSH, transport: str = TRANSPORT_TCP) -> None:
        self._on_message = on_message
        self._max = max_message_size
        self._handshaken = False
        self._pending = bytearray()
        self._ipc = transport == TRANSPORT_IPC
        self._prefix = IPC_PREFIX_SIZE if self._ipc else LENGTH_SIZE
        self._need = HEADER_SIZE
        self._in_body = False
        self.messages = 0
        self._expected = expected_peer

    @property
    def handshaken(self) -> bool:
        return self._handshaken

    @property
    def buffered(self) -> int:
        """
        How many received bytes wait for the rest of their header/message.
        """
        return len(self._pending)

    @property
    def in_message(self) -> bool:
        """
        Whether a message has begun (part of its length prefix or of its
        body has arrived) and is not complete yet.
        """
        return self._handshaken and (self._in_body or bool(self._pending))

    def discard(self) -> None:
        """
        Drop what is buffered (the connection is being closed).
        """
        self._pending = bytearray()

    def feed(self, data: bytes) -> None:
        """
        @raise FramingError: on a bad header, a bad message type or an
            oversized length; the caller closes the connection and feeds
            nothing more.
        """
        pos = 0
        pending = self._pending
        if pending:
            # Complete only the pending header, prefix or message from the
            # front of C{data}; the rest is framed in place.
            missing = self._need - len(pending)
            if len(data) < missing:
                pending += data
                return
            pending += memoryview(data)[:missing]
            unit = bytes(pending)
            # clear() gives the memory back at once (a stalled peer's
            # buffer must not outlive its message).
            pending.clear()
            self._scan(unit, 0)
            pos = missing
        self._scan(data, pos)

    def _scan(self, data: bytes, pos: int) -> None:
        end = len(data)
        if not self._handshaken:
            if end - pos < HEADER_SIZE:
                self._keep(data, pos, end)
                return
            head = data[pos:pos + HEADER_SIZE]
            reason = check_header(head, self._expected)
            if reason is not None:
                raise FramingError(reason, f"peer header {head.hex()}")
            self._handshaken = True
            pos += HEADER_SIZE
            self._need = self._prefix
        on_message = self._on_message
        count = 0
        if self._in_body:
            need = self._need
            if end - pos < need:
                self._keep(data, pos, end)
                return
            on_message(data, pos, need)
            count = 1
            pos += need
            self._in_body = False
            self._need = self._prefix
        unpack_length = _LENGTH.unpack_from
        limit = self._max
        prefix = self._prefix
        ipc = self._ipc
        try:
            # One pass per message: its prefix, then (when all of it is
            # here) the message itself.
            while end - pos >= prefix:
                if ipc:
                    if data[pos] != IPC_MESSAGE_NORMAL:
                        raise FramingError(REASON_BAD_MESSAGE_TYPE, f"IPC message type {data[pos]}")
                    pos += 1
                size = unpack_length(data, pos)[0]
                if size > limit:
                    raise FramingError(REASON_OVERSIZE, f"message length {size} is more than {limit}")
                pos += LENGTH_SIZE
                if end - pos < size:
                    self._need = size
                    self._in_body = True
                    break
                # (A zero size is legal SP: an empty message.)
                on_message(data, pos, size)
                count += 1
                pos += size
        finally:
            self.messages += count
        if pos < end:
            self._keep(data, pos, end)

    def _keep(self, data: bytes, pos: int, end: int) -> None:
        self._pending += memoryview(data)[pos:end]


# ---- the PUSH sender (plugins) ----------------------------------------------

def parse_address(address: str) -> tuple[str, object]:
    """
    @param address: a nanomsg address: C{tcp://HOST:PORT} (IPv6 hosts in
        brackets) or C{ipc:///PATH} (a UNIX socket; a relative path is
        relative to the working directory, as in nanomsg).
    @return: C{(transport, target)}: C{(TRANSPORT_TCP, (host, port))} or
        C{(TRANSPORT_IPC, path)}.
    @raise ValueError: for anything else.
    """
    if address.startswith("ipc://"):
        path = address[len("ipc://"):]
        if not path or "\0" in path:
            raise ValueError(f"{address!r} is not an ipc://PATH address")
        return TRANSPORT_IPC, path
    if not address.startswith("tcp://"):
        raise ValueError(f"{address!r} is not a tcp://HOST:PORT or ipc://PATH address")
    host, sep, port = address[len("tcp://"):].rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not a tcp://HOST:PORT address")
    return TRANSPORT_TCP, (host.strip("[]"), int(port))


def _connect(transport: str, target, timeout: float) -> socket.socket:
    if transport == TRANSPORT_IPC:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(target)
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection(target, timeout=timeout)


def push_once(transport: str, target, payload: bytes, timeout: float = 1.0) -> None:
    """
    Connect as an SP PUSH peer, exchange headers, send one message, close.

    @param transport: L{TRANSPORT_TCP} or L{TRANSPORT_IPC}.
    @param target: C{(host, port)} or a socket path, as L{parse_address}
        gives them.
    @raise OSError: on a connection problem or a refused handshake.
    """
    with _connect(transport, target, timeout) as sock:
        sock.sendall(PUSH_HEADER)
        received = b""
        while len(received) < HEADER_SIZE:
            chunk = sock.recv(HEADER_SIZE - len(received))
            if not chunk:
                raise ConnectionError("peer closed the connection during the SP handshake")
            received += chunk
        reason = check_header(received, PROTOCOL_PULL)
        if reason is not None:
            raise ConnectionError(f"SP handshake refused: {reason} ({received.hex()})")
        sock.sendall(frame(payload, transport))
        # An orderly close: the PULL side sends nothing after its header, so
        # nothing unread can turn this close into a reset that loses the data.
        sock.shutdown(socket.SHUT_WR)
        # Then wait (within the timeout) for the receiver to close its side:
        # nanomsg's IPC receiver drops a message whose sender is gone before
        # it has taken it (its TCP receiver and ours do not).
        try:
            while sock.recv(64):
                pass
        except socket.timeout:
            pass


def push(address: str, payload: bytes, attempts: int = 5, delay: float = 1.0, timeout: float = 1.0,
         sleep: Callable[[float], None] = time.sleep, send: Callable = push_once) -> bool:
    """
    Send one message, retrying like RDK-B's plugins (C{attempts} tries,
    C{delay} seconds apart).

    @return: whether it was sent.
    """
    transport, target = parse_address(address)
    for attempt in range(attempts):
        try:
            send(transport, target, payload, timeout)
            return True
        except OSError:
            if attempt + 1 < attempts:
                sleep(delay)
    return False
