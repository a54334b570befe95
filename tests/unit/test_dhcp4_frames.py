"""
Tests for L{dhcpsuite.dhcp4.frames}: the Ethernet/IPv4/UDP frame a server
reply goes out in on a packet socket, checked against scapy's own build of
the same frame and against the client's independent IP/UDP parser.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.rawsocket import parse_udp
from dhcpsuite.dhcp4.frames import BROADCAST_MAC, internet_checksum, udp_frame

A = IPv4Address
SERVER_MAC = b"\x02\x00\x00\x00\x00\x01"
CLIENT_MAC = b"\x02\x00\x00\x00\x00\x02"


def scapy_frame(frame: bytes) -> bytes:
    """
    The same frame rebuilt by scapy with the checksums left to scapy.
    """
    parsed = Ether(frame)
    del parsed[IP].chksum
    del parsed[UDP].chksum
    return bytes(parsed.__class__(bytes(parsed)))


class ChecksumTests(SynchronousTestCase):
    def test_rfc1071_example(self) -> None:
        # RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
        self.assertEqual(internet_checksum(bytes.fromhex("0001f203f4f5f6f7")), ~0xDDF2 & 0xFFFF)

    def test_odd_length_padded(self) -> None:
        self.assertEqual(internet_checksum(b"\x01"), internet_checksum(b"\x01\x00"))

    def test_a_header_with_its_checksum_sums_to_zero(self) -> None:
        frame = udp_frame(b"x" * 300, SERVER_MAC, CLIENT_MAC, A("10.0.0.1"), A("10.0.0.10"), 67, 68)
        self.assertEqual(internet_checksum(frame[14:34]), 0)


class FrameTests(SynchronousTestCase):
    def test_unicast_frame_fields(self) -> None:
        payload = bytes(range(256)) + b"end"
        frame = udp_frame(payload, SERVER_MAC, CLIENT_MAC, A("10.0.0.1"), A("10.0.0.10"), 67, 68)
        parsed = Ether(frame)
        self.assertEqual((parsed.dst, parsed.src, parsed.type), ("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800))
        self.assertEqual((parsed[IP].src, parsed[IP].dst, parsed[IP].proto, parsed[IP].ttl), ("10.0.0.1", "10.0.0.10", 17, 64))
        self.assertEqual((parsed[UDP].sport, parsed[UDP].dport, parsed[UDP].len), (67, 68, len(payload) + 8))
        self.assertEqual(bytes(parsed[UDP].payload), payload)
        self.assertEqual(parse_udp(frame[14:]), (A("10.0.0.1"), 67, payload))

    def test_checksums_match_scapy(self) -> None:
        for payload in (b"", b"a", b"x" * 300, b"\xff" * 547):
            with self.subTest(size=len(payload)):
                frame = udp_frame(payload, SERVER_MAC, BROADCAST_MAC, A("192.168.1.1"), A("255.255.255.255"), 67, 68)
                self.assertEqual(frame, scapy_frame(frame))

    @settings(max_examples=100, deadline=None)
    @given(st.binary(max_size=1400), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(1, 65535))
    def test_any_payload_matches_scapy(self, payload: bytes, src: int, dst: int, port: int) -> None:
        frame = udp_frame(payload, SERVER_MAC, CLIENT_MAC, A(src), A(dst), 67, port)
        self.assertEqual(frame, scapy_frame(frame))

    def test_zero_checksum_sent_as_ones(self) -> None:
        # Find a payload whose UDP checksum computes to zero: adjust two bytes.
        base = udp_frame(b"\x00\x00", SERVER_MAC, CLIENT_MAC, A("10.0.0.1"), A("10.0.0.10"), 67, 68)
        checksum = int.from_bytes(base[40:42], "big")
        frame = udp_frame(checksum.to_bytes(2, "big"), SERVER_MAC, CLIENT_MAC, A("10.0.0.1"), A("10.0.0.10"), 67, 68)
        self.assertEqual(frame[40:42], b"\xff\xff")

    def test_bad_input_refused(self) -> None:
        self.assertRaises(ValueError, udp_frame, b"", b"\x00" * 5, CLIENT_MAC, A("10.0.0.1"), A("10.0.0.2"), 67, 68)
        self.assertRaises(ValueError, udp_frame, b"x" * 65508, SERVER_MAC, CLIENT_MAC, A("10.0.0.1"), A("10.0.0.2"), 67, 68)
