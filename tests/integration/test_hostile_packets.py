"""
One regression test per class of malformed input, sent over real sockets to
running daemons — the server (UDP to port 67) and the client (frames to port
68, including broken IP/UDP headers) — each dropped and counted by reason,
and a legitimate client served right after.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

from dhcpsuite.dhcp4.packet import Message
from tests.integration.conftest import TWISTD, Daemon, server_config, toml_document, wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair, udp_exchange

CTL = str(Path(sys.executable).with_name("dhcpsuite-ctl"))
MAC = bytes.fromhex("0200000000aa")


def valid(kind: int = 1, op: int = 1, **options: bytes) -> bytearray:
    message = Message(op=op, xid=0x5EED, chaddr=MAC + bytes(10))
    message.options[53] = bytes((kind,))
    for code, raw in options.items():
        message.options[int(code[1:])] = raw
    return bytearray(message.to_bytes())


def with_options(raw_options: bytes, header: bytes | None = None) -> bytes:
    """
    A header (with the magic cookie) followed by hand-made option bytes.
    """
    head = bytearray(valid()[:240] if header is None else header)
    return bytes(head) + raw_options


def overload_loop() -> bytes:
    packet = bytearray(with_options(bytes([53, 1, 1, 52, 1, 1, 255])))
    packet[108:113] = bytes([52, 1, 1, 255, 0])  # option 52 again, inside file
    return bytes(packet)


def bad_header(offset: int, value: int) -> bytes:
    packet = valid()
    packet[offset] = value
    return bytes(packet)


# (what, bytes, the drop reason the server must count, the client's; None:
# the codec sets the malformed option aside and the message decodes)
SERVER_CASES = [
    ("truncated", bytes(valid()[:100]), "truncated", "truncated"),
    ("no magic cookie", bytes(valid()[:236]) + b"\0\0\0\0" + bytes([53, 1, 1, 255]), "no-magic-cookie",
     "no-magic-cookie"),
    ("option length past the end", with_options(bytes([53, 1, 1, 12, 200]) + b"host"), "option-overrun",
     "option-overrun"),
    ("option without its length byte", with_options(bytes([53, 1, 1, 12])), "option-overrun", "option-overrun"),
    ("wrong fixed length (50 with 3 bytes)", with_options(bytes([53, 1, 1, 50, 3, 10, 0, 0, 255])), "bad-option",
     None),
    ("zero-length message type", with_options(bytes([53, 0, 255])), "bad-option", "bad-option"),
    ("unknown message type 99", with_options(bytes([53, 1, 99, 255])), "bad-option", "bad-option"),
    ("overload loop", overload_loop(), "overload-loop", "overload-loop"),
    ("bad overload value", with_options(bytes([53, 1, 1, 52, 1, 7, 255])), "bad-option", "bad-option"),
    ("bad op", bad_header(0, 7), "bad-header", "bad-header"),
    ("hlen over 16", bad_header(2, 200), "bad-header", "bad-header"),
    ("bad relay agent info", with_options(bytes([53, 1, 1, 82, 3, 1, 9, 0, 255])), "bad-option", None),
]

# Requests the server answers although something in them is off (RFC 1122
# section 1.2.2; Kea answers each, issue 12.6): (what, options after the
# header, the counter that records the ignored option, or None).
ANSWERED_CASES = [
    ("missing END, zero-padded", bytes([53, 1, 1, 12, 3]) + b"abc" + bytes(40), None),
    ("missing END, option 52 last (as dhcpd fills a reply)", bytes([53, 1, 1, 12, 3]) + b"abc" + bytes([52, 1, 1]),
     None),
    ("empty host name (12)", bytes([53, 1, 1, 12, 0, 255]), "malformed-option:12"),
    ("empty vendor class (60)", bytes([53, 1, 1, 60, 0, 255]), "malformed-option:60"),
    ("maximum message size 300 (57)", bytes([53, 1, 1, 57, 2, 1, 44, 255]), None),
    ("classless route past the end (121)", bytes([53, 1, 1, 121, 3, 24, 10, 0, 255]), "malformed-option:121"),
]


def control(ns, path: str) -> dict:
    fetch = f"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8067{path}').read().decode())"
    return json.loads(ns.run([sys.executable, "-c", fetch]).stdout)


def test_server_drops_every_malformed_class_and_serves_after(tmp_path, daemons, clients):
    require_root()
    require_programs("udhcpc")
    config = server_config(tmp_path / "state")
    config["control"] = {"listen": "tcp:8067:interface=127.0.0.1"}
    with VethPair(client_address="10.77.0.2/16") as pair:
        daemons.start(pair.server, config)
        expected: dict[str, int] = {}
        for what, payload, reason, _ in SERVER_CASES:
            replies = udp_exchange(pair.client, payload, ("10.77.0.2", 68), ("10.77.0.1", 67), timeout=0.2)
            assert replies == [], f"{what}: the server answered a malformed packet"
            expected[f"drop:{reason}"] = expected.get(f"drop:{reason}", 0) + 1
        def counted():
            found = control(pair.server, "/api/v1/server")
            return found if all(found.get(k) == v for k, v in expected.items()) else None

        try:
            counters = wait_until(counted, 5, f"the drop counters {expected}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {control(pair.server, '/api/v1/server')}") from None
        assert counters["received"] == len(SERVER_CASES)

        # Off, but answerable: each gets its OFFER (broadcast flag set, the
        # test socket does not own the chaddr), the bad option counted.
        header = valid()[:240]
        header[10] |= 0x80
        for what, options, counter in ANSWERED_CASES:
            replies = udp_exchange(pair.client, bytes(header) + options, ("0.0.0.0", 68), ("10.77.0.1", 67),
                                   timeout=3, device="cli0")
            assert [Message.from_bytes(data).message_type for _, data in replies] == [2], f"{what}: no OFFER"
        counters = control(pair.server, "/api/v1/server")
        for _, _, counter in ANSWERED_CASES:
            if counter is not None:
                assert counters.get(counter) == 1, (counter, counters)

        # Not malformed, but hostile: over-long client id (RFC 3396, 600
        # bytes) and a hostname of NULs are served, not crashed on. The
        # echoed identifier needs more than 576 bytes: option 57 says so.
        odd = valid(_61=b"\x00" + os.urandom(599), _12=b"\x00\x00\x00", _57=b"\x05\xdc")
        odd[10] |= 0x80  # broadcast flag: the test socket does not own the chaddr
        replies = udp_exchange(pair.client, bytes(odd), ("0.0.0.0", 68), ("10.77.0.1", 67), timeout=3, device="cli0")
        assert replies, "the server did not answer a long client id"

        pair.client.run(["ip", "addr", "flush", "dev", pair.client_if])
        client = clients.udhcpc(pair, "-q")
        client.wait_event({"bound"})


def ethernet_frame(ip_payload: bytes, ip_total: int | None = None, udp_length: int | None = None) -> bytes:
    """
    A broadcast Ethernet frame carrying UDP 67 -> 68 with hand-set lengths.
    """
    udp = struct.pack("!HHHH", 67, 68, udp_length if udp_length is not None else 8 + len(ip_payload), 0) + ip_payload
    total = ip_total if ip_total is not None else 20 + len(udp)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 17, 0, bytes([10, 77, 0, 1]), bytes(4) + b"")
    header = header[:16] + b"\xff\xff\xff\xff"
    checksum = 0
    for i in range(0, 20, 2):
        checksum += (header[i] << 8) | header[i + 1]
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    header = header[:10] + struct.pack("!H", ~checksum & 0xFFFF) + header[12:]
    return b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x08\x00" + header + udp


def test_client_drops_every_malformed_class_and_keeps_working(tmp_path, daemons):
    require_root()
    with VethPair() as pair:
        daemons.start(pair.server, server_config(tmp_path / "server-state"))
        config = {
            "state_dir": str(tmp_path / "client-state"),
            "client": {"interface": [{"name": "cli0", "arp_probe": False, "initial_delay": 0.0}]},
            "control": {"listen": "tcp:8067:interface=127.0.0.1"},
        }
        path = tmp_path / "client.toml"
        path.write_text(toml_document(config))
        client = Daemon(pair.client, [TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)],
                        tmp_path / "client.out")
        bound = lambda: next((a for a in pair.client.ipv4_addresses("cli0") if a.startswith("10.77.0.")), None)
        try:
            address = wait_until(bound, 15, "the client to bind")
        except AssertionError:
            raise AssertionError(client.output()) from None

        # Every malformed DHCP class, as a reply to port 68, plus broken IP/UDP lengths.
        frames = [ethernet_frame(payload) for _, payload, _, _ in SERVER_CASES]
        frames.append(ethernet_frame(bytes(valid(kind=2, op=2)), udp_length=4000))
        frames.append(ethernet_frame(bytes(valid(kind=2, op=2)), ip_total=30))
        script = (
            "import socket,sys\n"
            "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); s.bind(('srv0',0))\n"
            "for h in sys.argv[1:]: s.send(bytes.fromhex(h))\n"
        )
        pair.server.run([sys.executable, "-c", script, *[f.hex() for f in frames]])

        expected: dict[str, int] = {"not UDP to port 68": 2}
        for _, _, _, reason in SERVER_CASES:
            if reason is not None:
                expected[reason] = expected.get(reason, 0) + 1

        def drops():
            agents = control(pair.client, "/api/v1/clients")["clients"]
            found = agents[0]["drops"]
            return found if all(found.get(k, 0) >= v for k, v in expected.items()) else None

        try:
            wait_until(drops, 5, f"the client's drop counters {expected}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {control(pair.client, '/api/v1/clients')}") from None
        assert client.process.poll() is None and "Traceback" not in client.output(), client.output()

        # Still bound, and still working: a renewal goes through.
        assert bound() == address
        renewed = pair.client.run([CTL, "--json", "--timeout", "10", "renew", "cli0"], check=False)
        assert renewed.returncode == 0 and json.loads(renewed.stdout)["outcome"] == "extended", renewed
        assert client.stop() in (0, -15)
