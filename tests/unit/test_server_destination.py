"""
Tests for L{dhcpsuite.server.destination.reply_destination}: every branch of
RFC 2131 section 4.1's rules for where a server reply goes.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.dhcp4.constants import FLAG_BROADCAST, MessageType
from dhcpsuite.dhcp4.packet import Message
from dhcpsuite.server.destination import BROADCAST, Destination, reply_destination

A = IPv4Address
MAC = b"\x02\x00\x00\x00\x00\x01"
YIADDR = A("10.0.0.50")


def request(**kw) -> Message:
    fields = dict(op=1, xid=1, chaddr=MAC + b"\x00" * 10)
    fields.update(kw)
    return Message(**fields)


class ReplyDestinationTests(SynchronousTestCase):
    def test_relayed_goes_to_relay_port_67(self) -> None:
        for kind in (MessageType.OFFER, MessageType.ACK, MessageType.NAK):
            with self.subTest(kind=kind):
                self.assertEqual(
                    reply_destination(request(giaddr=A("10.1.0.1"), ciaddr=A("10.1.0.5"), flags=FLAG_BROADCAST), kind, YIADDR),
                    Destination(A("10.1.0.1"), 67),
                )

    def test_nak_broadcast(self) -> None:
        self.assertEqual(
            reply_destination(request(ciaddr=A("10.0.0.5")), MessageType.NAK),
            Destination(BROADCAST, 68),
        )
        self.assertEqual(reply_destination(request(), MessageType.NAK, YIADDR), Destination(BROADCAST, 68))

    def test_ciaddr_unicast(self) -> None:
        self.assertEqual(
            reply_destination(request(ciaddr=A("10.0.0.5"), flags=FLAG_BROADCAST), MessageType.ACK, A("10.0.0.5")),
            Destination(A("10.0.0.5"), 68),
        )

    def test_inform_ack_without_yiaddr(self) -> None:
        self.assertEqual(reply_destination(request(ciaddr=A("10.0.0.5")), MessageType.ACK), Destination(A("10.0.0.5"), 68))

    def test_broadcast_flag(self) -> None:
        self.assertEqual(reply_destination(request(flags=FLAG_BROADCAST), MessageType.OFFER, YIADDR), Destination(BROADCAST, 68))

    def test_no_yiaddr_broadcast(self) -> None:
        self.assertEqual(reply_destination(request(), MessageType.ACK), Destination(BROADCAST, 68))

    def test_l2_unicast_with_hardware_address(self) -> None:
        d = reply_destination(request(), MessageType.OFFER, YIADDR)
        self.assertEqual(d, Destination(YIADDR, 68, MAC))
        self.assertFalse(d.is_broadcast)

    def test_non_ethernet_broadcast(self) -> None:
        self.assertEqual(reply_destination(request(htype=6), MessageType.OFFER, YIADDR), Destination(BROADCAST, 68))

    def test_non_six_byte_hardware_broadcast(self) -> None:
        self.assertEqual(reply_destination(request(hlen=8), MessageType.OFFER, YIADDR), Destination(BROADCAST, 68))

    def test_is_broadcast(self) -> None:
        self.assertTrue(Destination(BROADCAST, 68).is_broadcast)
        self.assertFalse(Destination(A("10.0.0.1"), 68).is_broadcast)

    def test_relayed_inform_goes_to_ciaddr(self) -> None:
        """
        RFC 2131 4.3.5: the ACK to an INFORM goes "directly to the address
        given in the ciaddr field", relayed or not; Kea and dhcpd do so. To
        the relay it would be forwarded to yiaddr, 0.0.0.0.
        """
        inform = request(giaddr=A("10.1.0.1"), ciaddr=A("10.1.0.5"))
        inform.options[53] = bytes((MessageType.INFORM,))
        self.assertEqual(reply_destination(inform, MessageType.ACK), Destination(A("10.1.0.5"), 68))
        inform.ciaddr = A("0.0.0.0")
        self.assertEqual(reply_destination(inform, MessageType.ACK), Destination(A("10.1.0.1"), 67))

    def test_all_zero_hardware_address_broadcast(self) -> None:
        # Never an ARP entry and a frame for MAC 00:00:00:00:00:00.
        self.assertEqual(reply_destination(request(chaddr=bytes(16)), MessageType.OFFER, YIADDR), Destination(BROADCAST, 68))
