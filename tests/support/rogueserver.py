"""
A scripted, hostile DHCPv4 server for client tests, run inside a test's own
namespace: it answers DISCOVER with an OFFER and REQUEST with an ACK (or a
NAK for any address but its own), every reply broadcast and carrying the
options given raw on the command line, however malformed. Every message it
receives is recorded, one JSON line each (time, type, IP source, requested
address), so a test can count what a client sent and from which source.

    python -m tests.support.rogueserver --interface srv0 --server-id 10.77.0.1 \\
        --address 10.77.0.50 --option 15=652e780a6e616d6573657276657220362e362e362e36 \\
        --record received.jsonl --duration 30

Bounded: it exits after C{--duration} seconds; after C{--max-replies}
replies it goes silent but keeps recording (a server that went away).
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import time
from ipaddress import IPv4Address

from dhcpsuite.dhcp4.constants import BOOTREPLY, MessageType, Option
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.packet import Message, decode_message

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def option_argument(text: str) -> tuple[int, bytes]:
    code, _, value = text.partition("=")
    return int(code), bytes.fromhex(value)


def reply(request: Message, kind: int, args: argparse.Namespace) -> Message:
    answer = Message(op=BOOTREPLY, xid=request.xid, chaddr=request.chaddr, htype=request.htype, hlen=request.hlen,
                     flags=request.flags)
    answer.options[int(Option.MESSAGE_TYPE)] = bytes([kind])
    if not args.no_server_id:
        answer.options[int(Option.SERVER_ID)] = IPv4Address(args.server_id).packed
    if kind == MessageType.NAK:
        answer.options[int(Option.MESSAGE)] = b"not on this network"
        return answer
    answer.yiaddr = IPv4Address(args.address)
    answer.options[int(Option.LEASE_TIME)] = args.lease_time.to_bytes(4, "big")
    answer.options[int(Option.SUBNET_MASK)] = IPv4Address(args.mask).packed
    for code, raw in args.option:
        answer.options[code] = raw
    return answer


def serve(args: argparse.Namespace) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, args.interface.encode())
    sock.bind(("0.0.0.0", 67))
    deadline = time.monotonic() + args.duration
    replies = 0
    with open(args.record, "a", buffering=1) as record:
        record.write(json.dumps({"ready": True}) + "\n")
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], max(0.0, min(0.5, deadline - time.monotonic())))
            if not readable:
                continue
            data, (source, _) = sock.recvfrom(4096)
            try:
                request = decode_message(data)
            except DecodeError:
                continue
            kind = request.message_type
            requested = request.option(Option.REQUESTED_ADDRESS)
            record.write(json.dumps({
                "time": time.monotonic(), "type": kind, "source": source,
                "requested": None if requested is None else str(requested), "ciaddr": str(request.ciaddr),
            }) + "\n")
            if kind == MessageType.DISCOVER:
                answer = reply(request, MessageType.OFFER, args)
            elif kind == MessageType.REQUEST:
                wanted = requested or request.ciaddr
                good = wanted == IPv4Address(args.address)
                answer = reply(request, MessageType.ACK if good else MessageType.NAK, args)
            else:
                continue
            if replies >= args.max_replies:
                continue
            sock.sendto(answer.to_bytes(), ("255.255.255.255", 68))
            replies += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interface", required=True)
    parser.add_argument("--server-id", required=True)
    parser.add_argument("--no-server-id", action="store_true", help="send no option 54")
    parser.add_argument("--address", required=True)
    parser.add_argument("--mask", default="255.255.0.0")
    parser.add_argument("--lease-time", type=int, default=600)
    parser.add_argument("--option", type=option_argument, action="append", default=[],
                        help="CODE=HEX, sent as is (repeatable)")
    parser.add_argument("--record", required=True)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--max-replies", type=int, default=10_000)
    serve(parser.parse_args())


if __name__ == "__main__":
    main()
