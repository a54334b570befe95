# -*- test-case-name: tests.unit.test_ingest_sp -*-
"""
nanomsg's SP-over-TCP mapping (C{rfc/sp-tcp-mapping-01.txt}) for the
pipeline pattern: the 8-byte protocol header, the 64-bit length framing, a
pure receive-side framer, and a blocking PUSH sender for the plugins.

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
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024  # nanomsg's NN_RCVMAXSIZE default
DEFAULT_ADDRESS = "tcp://127.0.0.1:50324"  # RDK-B's DHCP_MANAGER_ADDR

_LENGTH = struct.Struct(">Q")

# Why a peer's header was refused (counter names).
HEADER_BAD_MAGIC = "bad-magic"
HEADER_WRONG_PROTOCOL = "wrong-protocol"
HEADER_BAD_RESERVED = "bad-reserved"


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


def frame(payload: bytes) -> bytes:
    """
    @return: C{payload} as one SP/TCP message (8-byte big-endian length first).
    """
    return _LENGTH.pack(len(payload)) + payload


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
    The receive side of an SP/TCP PUSH->PULL stream, fed bytes as they come.

    First the peer's header is checked; then each length-prefixed message is
    handed to C{on_message(buffer, offset, size)} without being copied out of
    the buffer it arrived in; every complete message in a read is framed in
    one loop. A partial message is kept as a list of chunks and joined once
    when complete, and only it: the read that completes it is not copied, so
    a large message arriving in many reads costs linear, not quadratic,
    copying, and a stream of small ones costs no copy beyond the one message
    split by each read boundary.

    @param on_message: called for each complete message with the buffer
        it lies in, its offset and its size (the buffer holds other messages
        too: slice what you keep).
    @param max_message_size: a length above this raises L{FramingError}.
    """

    __slots__ = ("_on_message", "_max", "_expected", "_handshaken", "_chunks", "_have", "_need", "_in_body", "messages")

    def __init__(self, on_message: Callable[[bytes, int, int], None], max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 expected_peer: int = PROTOCOL_PUSH) -> None:
        self._on_message = on_message
        self._max = max_message_size
        self._handshaken = False
        self._chunks: list[bytes] = []
        self._have = 0
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
        return self._have

    def feed(self, data: bytes) -> None:
        """
        @raise FramingError: on a bad header or an oversized length; the
            caller closes the connection and feeds nothing more.
        """
        pos = 0
        if self._chunks:
            # Complete only the pending header, length or message from the
            # front of C{data}; the rest is framed in place (joining the
            # whole read would copy it all once per read).
            missing = self._need - self._have
            if len(data) < missing:
                self._chunks.append(data)
                self._have += len(data)
                return
            self._chunks.append(data[:missing] if missing < len(data) else data)
            pending = b"".join(self._chunks)
            self._chunks = []
            self._have = 0
            self._scan(pending, 0)
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
            self._need = LENGTH_SIZE
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
            self._need = LENGTH_SIZE
        unpack_length = _LENGTH.unpack_from
        limit = self._max
        try:
            # One pass per message: its length, then (when all of it is
            # here) the message itself.
            while end - pos >= LENGTH_SIZE:
                size = unpack_length(data, pos)[0]
                if size > limit:
                    raise FramingError("oversize", f"message length {size} is more than {limit}")
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
        self._chunks = [data[pos:end] if pos or end != len(data) else data]
        self._have = end - pos


# ---- the PUSH sender (plugins) ----------------------------------------------

def parse_address(address: str) -> tuple[str, int]:
    """
    @param address: a nanomsg TCP address, C{tcp://HOST:PORT} (IPv6 hosts in
        brackets).
    @raise ValueError: for anything else.
    """
    if not address.startswith("tcp://"):
        raise ValueError(f"{address!r} is not a tcp://HOST:PORT address")
    host, sep, port = address[len("tcp://"):].rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not a tcp://HOST:PORT address")
    return host.strip("[]"), int(port)


def push_once(host: str, port: int, payload: bytes, timeout: float = 1.0) -> None:
    """
    Connect as an SP PUSH peer, exchange headers, send one message, close.

    @raise OSError: on a connection problem or a refused handshake.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
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
        sock.sendall(frame(payload))
        # An orderly close: the PULL side sends nothing after its header, so
        # nothing unread can turn this close into a reset that loses the data.
        sock.shutdown(socket.SHUT_WR)


def push(address: str, payload: bytes, attempts: int = 5, delay: float = 1.0, timeout: float = 1.0,
         sleep: Callable[[float], None] = time.sleep, send: Callable = push_once) -> bool:
    """
    Send one message, retrying like RDK-B's plugins (C{attempts} tries,
    C{delay} seconds apart).

    @return: whether it was sent.
    """
    host, port = parse_address(address)
    for attempt in range(attempts):
        try:
            send(host, port, payload, timeout)
            return True
        except OSError:
            if attempt + 1 < attempts:
                sleep(delay)
    return False
