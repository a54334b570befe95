"""
A scripted DHCP relay agent that drives many clients' DORA exchanges over a
real UDP socket and records every ACK, so tests can check the server's
promises (an ACKed binding survives anything) against what was really sent.

Run inside a namespace as a program:
C{python -m tests.support.relayclient GIADDR SERVER COUNT SECONDS OUT.json [FIRST_MAC_INDEX]}.
It stops after COUNT ACKs, SECONDS, or SIGTERM, whichever comes first, and
writes C{{mac_hex: address}} for every ACK received.

SERVER may be several addresses, comma-separated: then it is a relay agent
with several helper addresses on a segment that several servers serve. Each
DISCOVER and each REQUEST goes to all of them; the first OFFER is taken
(as a client takes the first), and the REQUEST names its server, so the
others withdraw their offers.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time
from ipaddress import IPv4Address

from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.packet import Message, decode_message


def mac_for(index: int) -> bytes:
    return bytes((0x02, 0xD5)) + index.to_bytes(4, "big")


def build(kind: int, mac: bytes, xid: int, giaddr: IPv4Address, **options: bytes) -> bytes:
    message = Message(op=1, xid=xid, chaddr=mac + bytes(10), hops=1, giaddr=giaddr)
    message.options[int(Option.MESSAGE_TYPE)] = bytes((kind,))
    for code, raw in options.items():
        message.options[int(Option[code])] = raw
    return message.to_bytes()


_stop = False


def replies(sock: socket.socket, timeout: float) -> list[Message]:
    """
    The DHCP messages waiting on the non-blocking C{sock}, after waiting up
    to C{timeout} seconds for the first; undecodable datagrams are skipped.
    """
    found: list[Message] = []
    if not select.select([sock], [], [], timeout)[0]:
        return found
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return found
        try:
            found.append(decode_message(data))
        except DecodeError:
            continue


def _on_term(signum, frame) -> None:
    global _stop
    _stop = True


def run(giaddr: IPv4Address, server: str, count: int, seconds: float, first: int = 0, window: int = 64) -> dict[str, str]:
    """
    Keep up to C{window} exchanges in flight; retry an exchange whose
    reply has not come within a second (the server may be restarting).
    """
    servers = server.split(",")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((str(giaddr), 67))
    sock.setblocking(False)
    acked: dict[str, str] = {}
    pending: dict[int, tuple[int, str, float, IPv4Address | None]] = {}
    next_index = first
    deadline = time.monotonic() + seconds
    while len(acked) < count and time.monotonic() < deadline and not _stop:
        now = time.monotonic()
        while len(pending) < window and next_index - first < count:
            xid = 0x10000000 + next_index
            pending[xid] = (next_index, "discover", now, None)
            for each in servers:
                sock.sendto(build(MessageType.DISCOVER, mac_for(next_index), xid, giaddr), (each, 67))
            next_index += 1
        for xid, (index, phase, sent, offered) in list(pending.items()):
            if now - sent > 1.0:
                pending[xid] = (index, "discover", now, None)
                for each in servers:
                    sock.sendto(build(MessageType.DISCOVER, mac_for(index), xid, giaddr), (each, 67))
        for reply in replies(sock, 0.05):
            entry = pending.get(reply.xid)
            if entry is None:
                continue
            index, phase, _, _ = entry
            kind = reply.message_type
            if kind == MessageType.OFFER and phase == "discover":
                pending[reply.xid] = (index, "request", time.monotonic(), reply.yiaddr)
                server_id = reply.options[int(Option.SERVER_ID)]
                request = build(
                    MessageType.REQUEST, mac_for(index), reply.xid, giaddr,
                    SERVER_ID=server_id, REQUESTED_ADDRESS=reply.yiaddr.packed,
                )
                for each in servers:
                    sock.sendto(request, (each, 67))
            elif kind == MessageType.ACK and phase == "request":
                acked[mac_for(index).hex()] = str(reply.yiaddr)
                del pending[reply.xid]
            elif kind == MessageType.NAK:
                pending[reply.xid] = (index, "discover", 0.0, None)
    sock.close()
    return acked


def main(argv: list[str]) -> int:
    giaddr, server, count, seconds, out = argv[:5]
    first = int(argv[5]) if len(argv) > 5 else 0
    signal.signal(signal.SIGTERM, _on_term)
    acked = run(IPv4Address(giaddr), server, int(count), float(seconds), first)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(acked, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
