"""
The codec against real captures in C{tests/vectors/dhcp4/} (see its
README.md): every file decodes, has the message type its name says,
re-encodes to the same message, and a few fields match the README table.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.dhcp4.packet import Message, decode_message
from dhcpsuite.hexbytes import mac_text

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors", "dhcp4")
A = IPv4Address

# From README.md's table: file -> (chaddr, selected fields).
KNOWN = {
    "dhclient-01-discover.bin": ("02:00:00:00:01:01", {"prl": [1, 28, 2, 3, 15, 6, 12, 42, 26, 121], "host": "vector-dhclient", "size": 300}),
    "dnsmasq-02-offer.bin": ("02:00:00:00:01:01", {"yiaddr": A("10.77.0.43"), "server_id": A("10.77.0.1"), "lease": 120, "t1": 5, "t2": 90}),
    "dhclient-05-request.bin": ("02:00:00:00:01:01", {"ciaddr": A("10.77.0.43"), "absent": [50, 54]}),
    "udhcpc-08-discover.bin": ("02:00:00:00:02:02", {"prl": [1, 3, 6, 12, 15, 28, 42, 121], "client_id": b"\x01\x02\x00\x00\x00\x02\x02", "max_size": 576, "size": 301}),
    "udhcpc-10-request.bin": ("02:00:00:00:02:02", {"requested": A("10.77.0.91"), "server_id": A("10.77.0.1")}),
    "dhcpcd-15-inform.bin": ("02:00:00:00:03:03", {"prl": [1, 3, 6, 15, 28, 33, 42, 51], "ciaddr": A("10.77.0.3"), "max_size": 1472, "raw": {145: 1}}),
    "dnsmasq-16-ack.bin": ("02:00:00:00:03:03", {"absent": [51, 58, 59], "ciaddr": A("10.77.0.3")}),
    "perfdhcp-17-discover.bin": ("00:0c:01:02:03:04", {"giaddr": A("10.77.0.2"), "hops": 1, "size": 262}),
    "dnsmasq-20-ack.bin": ("00:0c:01:02:03:04", {"yiaddr": A("10.77.0.246"), "giaddr": A("10.77.0.2")}),
}


def vector_files() -> list[str]:
    if not os.path.isdir(VECTORS):
        return []
    return sorted(name for name in os.listdir(VECTORS) if name.endswith(".bin"))


def load(name: str) -> bytes:
    with open(os.path.join(VECTORS, name), "rb") as f:
        return f.read()


class VectorTests(SynchronousTestCase):
    def test_there_are_vectors(self) -> None:
        self.assertTrue(vector_files(), f"no .bin captures in {VECTORS}")

    def test_known_files_exist(self) -> None:
        self.assertTrue(set(KNOWN) <= set(vector_files()), sorted(set(KNOWN) - set(vector_files())))

    def test_every_vector_decodes_with_its_type(self) -> None:
        for name in vector_files():
            with self.subTest(name=name):
                m = decode_message(load(name))
                expected = MessageType[name.rsplit("-", 1)[1][: -len(".bin")].upper()]
                self.assertEqual(m.message_type, expected)
                self.assertEqual(m.op, 2 if expected in (MessageType.OFFER, MessageType.ACK, MessageType.NAK) else 1)

    def test_every_vector_round_trips(self) -> None:
        for name in vector_files():
            with self.subTest(name=name):
                once = decode_message(load(name))
                data = once.to_bytes()
                self.assertEqual(decode_message(data), once)
                # Re-encoding with the receiver's size limit changes nothing
                # either: none of these needs overload.
                self.assertEqual(decode_message(once.to_bytes(576)), once)

    def test_every_known_option_decodes(self) -> None:
        for name in vector_files():
            m = decode_message(load(name))
            for code in m.options:
                with self.subTest(name=name, code=code):
                    m.option(code)

    def test_known_fields(self) -> None:
        for name, (chaddr, fields) in KNOWN.items():
            with self.subTest(name=name):
                data = load(name)
                m = decode_message(data)
                self.assertEqual(mac_text(m.hardware_address), chaddr)
                self.check_fields(m, data, fields)

    def check_fields(self, m: Message, data: bytes, fields: dict) -> None:
        for key, value in fields.items():
            if key == "prl":
                self.assertEqual(m.option(Option.PARAMETER_REQUEST_LIST), value)
            elif key == "host":
                self.assertEqual(m.option(Option.HOST_NAME), value)
            elif key == "size":
                self.assertEqual(len(data), value)
            elif key == "server_id":
                self.assertEqual(m.option(Option.SERVER_ID), value)
            elif key == "requested":
                self.assertEqual(m.option(Option.REQUESTED_ADDRESS), value)
            elif key == "lease":
                self.assertEqual(m.option(Option.LEASE_TIME), value)
            elif key == "t1":
                self.assertEqual(m.option(Option.RENEWAL_TIME), value)
            elif key == "t2":
                self.assertEqual(m.option(Option.REBINDING_TIME), value)
            elif key == "client_id":
                self.assertEqual(m.option(Option.CLIENT_ID), value)
            elif key == "max_size":
                self.assertEqual(m.option(Option.MAX_MESSAGE_SIZE), value)
            elif key == "absent":
                for code in value:
                    self.assertNotIn(code, m.options)
            elif key == "raw":
                for code, length in value.items():
                    self.assertEqual(len(m.options[code]), length)
            elif key == "hops":
                self.assertEqual(m.hops, value)
            else:
                self.assertEqual(getattr(m, key), value)

    def test_offer_classless_route(self) -> None:
        m = decode_message(load("dnsmasq-02-offer.bin"))
        routes = m.option(Option.CLASSLESS_STATIC_ROUTE)
        self.assertEqual(len(routes), 1)
        self.assertEqual(str(routes[0].destination), "10.99.0.0/16")
        self.assertEqual(routes[0].gateway, A("10.77.0.254"))
        self.assertEqual(m.option(Option.DOMAIN_NAME), "example.lan")
