"""
The packet parsing and BPF program of the client's packet socket (no socket
is opened).
"""

import struct
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.shell import arp
from dhcpsuite.client.system.rawsocket import _BPF, bpf_program, parse_udp
from dhcpsuite.client.testing import ip_udp


def run_bpf(program, packet):
    """
    A tiny classic-BPF interpreter for the instructions our filter uses.
    """
    a = x = 0
    pc = 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x30:
            a = packet[k]
        elif code == 0x28:
            a = struct.unpack_from("!H", packet, k)[0]
        elif code == 0xB1:
            x = 4 * (packet[k] & 0x0F)
        elif code == 0x48:
            a = struct.unpack_from("!H", packet, x + k)[0]
        elif code == 0x15:
            pc += jt if a == k else jf
        elif code == 0x45:
            pc += jt if a & k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(hex(code))
        pc += 1


class ParseTests(SynchronousTestCase):
    def test_udp_to_68(self):
        self.assertEqual(parse_udp(ip_udp(b"hello", source="10.0.0.1")), (IPv4Address("10.0.0.1"), 67, b"hello"))

    def test_trailing_padding_ignored(self):
        self.assertEqual(parse_udp(ip_udp(b"hello") + b"\0" * 10)[2], b"hello")

    def test_rejects(self):
        self.assertIsNone(parse_udp(b""))
        self.assertIsNone(parse_udp(ip_udp(b"x", destination_port=67)))
        self.assertIsNone(parse_udp(ip_udp(b"hello")[:30]))
        packet = bytearray(ip_udp(b"hello"))
        packet[9] = 6
        self.assertIsNone(parse_udp(bytes(packet)))
        packet = bytearray(ip_udp(b"hello"))
        packet[0] = 0x65
        self.assertIsNone(parse_udp(bytes(packet)))


class FilterTests(SynchronousTestCase):
    def test_program_encoding(self):
        self.assertEqual(len(bpf_program()), 8 * len(_BPF))

    def test_accepts_dhcp_reply(self):
        self.assertTrue(run_bpf(_BPF, ip_udp(b"x" * 300)))

    def test_drops_other_port_protocol_fragment(self):
        self.assertEqual(run_bpf(_BPF, ip_udp(b"x", destination_port=67)), 0)
        tcp = bytearray(ip_udp(b"x"))
        tcp[9] = 6
        self.assertEqual(run_bpf(_BPF, bytes(tcp)), 0)
        fragment = bytearray(ip_udp(b"x"))
        fragment[6:8] = b"\x20\x10"
        self.assertEqual(run_bpf(_BPF, bytes(fragment)), 0)


class ArpTests(SynchronousTestCase):
    mac = bytes.fromhex("020000000001")
    other = bytes.fromhex("020000000002")
    address = IPv4Address("10.0.0.10")

    def packet(self, sha, spa, tpa, oper=arp.REPLY):
        return arp._ARP.pack(1, 0x0800, 6, 4, oper, sha, IPv4Address(spa).packed, b"\0" * 6, IPv4Address(tpa).packed)

    def test_probe_packet(self):
        packet = arp.probe_packet(self.mac, self.address)
        self.assertEqual(len(packet), 28)
        self.assertEqual(packet[14:18], b"\0\0\0\0")
        self.assertEqual(packet[24:28], self.address.packed)

    def test_reply_from_owner_is_conflict(self):
        self.assertTrue(arp.is_conflict(self.packet(self.other, "10.0.0.10", "0.0.0.0"), self.mac, self.address))

    def test_other_probe_is_conflict(self):
        self.assertTrue(arp.is_conflict(self.packet(self.other, "0.0.0.0", "10.0.0.10", arp.REQUEST), self.mac,
                                        self.address))

    def test_own_packets_and_unrelated(self):
        self.assertFalse(arp.is_conflict(arp.probe_packet(self.mac, self.address), self.mac, self.address))
        self.assertFalse(arp.is_conflict(self.packet(self.other, "10.0.0.11", "10.0.0.1"), self.mac, self.address))
        self.assertFalse(arp.is_conflict(b"short", self.mac, self.address))


class SourceZeroSendTests(SynchronousTestCase):
    """
    Broadcasts before the client holds an address leave through the packet
    socket with IP source 0.0.0.0 (RFC 2131 section 4.1) and correct IP and
    UDP checksums (the kernel fills in neither for a packet socket, and a
    server's UDP socket drops a datagram with a bad one).
    """

    def test_packet_checksums(self):
        from dhcpsuite.client.system.rawsocket import _broadcast_packet
        from dhcpsuite.dhcp4.frames import internet_checksum
        from dhcpsuite.dhcp4.packet import Message

        payload = bytes(range(251))  # odd length
        packet = _broadcast_packet(Message(op=1, xid=1, chaddr=b"\x02" * 6), payload)
        self.assertEqual(packet[0], 0x45)
        self.assertEqual(internet_checksum(packet[:20]), 0)
        pseudo = bytes(4) + b"\xff" * 4 + struct.pack("!BBH", 0, 17, len(packet) - 20)
        self.assertEqual(internet_checksum(pseudo + packet[20:]), 0)
        self.assertEqual((packet[12:16], packet[16:20]), (bytes(4), b"\xff" * 4))
        self.assertEqual(struct.unpack_from("!HH", packet, 20), (68, 67))
        self.assertEqual(packet[28:], payload)

    def test_which_socket(self):
        from dhcpsuite.client.system.rawsocket import send_message
        from dhcpsuite.client.testing import FakeSocket, sent_message
        from dhcpsuite.dhcp4.packet import Message

        udp, raw = FakeSocket(), FakeSocket()
        send_message(udp, Message(op=1, xid=1, chaddr=b"\x02" * 6), None, raw)
        send_message(udp, Message(op=1, xid=2, chaddr=b"\x02" * 6, ciaddr=IPv4Address("10.0.0.10")), None, raw)
        send_message(udp, Message(op=1, xid=3, chaddr=b"\x02" * 6, ciaddr=IPv4Address("10.0.0.10")),
                     IPv4Address("10.0.0.1"), raw)
        ((frame, address),) = raw.sent
        self.assertEqual(address, ("wan0", 0x0800, 0, 0, b"\xff" * 6))
        message, destination, source = sent_message(frame, address)
        self.assertEqual((message.xid, destination, source), (1, ("255.255.255.255", 67), IPv4Address(0)))
        self.assertEqual([(sent_message(*s)[0].xid, s[1]) for s in udp.sent],
                         [(2, ("255.255.255.255", 67)), (3, ("10.0.0.1", 67))])
