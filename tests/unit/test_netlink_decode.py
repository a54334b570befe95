"""
Decoding golden kernel captures (tests/vectors/netlink/, see its README):
our struct decoder must agree with pyroute2's marshal on every message, and
the records must carry what the kernel said.
"""

from __future__ import annotations

import errno
import ipaddress
import os

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.netlink import events as e
from dhcpsuite.netlink.constants import NLMSG_ERROR, RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK
from dhcpsuite.netlink.decode import decode_fast, decode_pyroute2
from dhcpsuite.netlink.testing import load_capture

VECTORS = os.path.join(os.path.dirname(__file__), "..", "vectors", "netlink")


def capture(name: str) -> dict[str, list[bytes]]:
    return dict(load_capture(os.path.join(VECTORS, name)))


def messages(datagrams: list[bytes]):
    return [m for d in datagrams for m in decode_fast(d)]


class DecoderAgreementTests(SynchronousTestCase):
    def test_every_vector_decodes_the_same_with_pyroute2(self):
        count = 0
        for name in ("events.hex", "dump.hex", "replies.hex"):
            for step, datagrams in load_capture(os.path.join(VECTORS, name)):
                for data in datagrams:
                    ours = list(decode_fast(data))
                    theirs = list(decode_pyroute2(data))
                    self.assertEqual(len(ours), len(theirs), step)
                    for a, b in zip(ours, theirs):
                        if a.type == NLMSG_ERROR:
                            # pyroute2 does not read the extended-ACK text.
                            self.assertEqual(a.body.errno, b.body.errno, step)
                            self.assertEqual(a[:4], b[:4], step)
                        else:
                            self.assertEqual(a, b, step)
                        count += 1
        self.assertGreater(count, 75)

    def test_truncated_input_is_ignored(self):
        data = capture("events.hex")["ip addr add 192.0.2.10/24 dev gv0"][0]
        self.assertEqual(list(decode_fast(data[:10])), [])
        self.assertEqual(list(decode_fast(data[:-4])), [])


class KnownBodyTests(SynchronousTestCase):
    """
    A body the caller already decoded (the table's C{known}) is not decoded
    again, unless the interface name it was decoded with has changed.
    """

    def setUp(self):
        self.datagrams = capture("events.hex")["ip addr add 192.0.2.10/24 dev gv0"]

    def test_known_bodies_give_the_known_record(self):
        for decoder in (decode_fast, decode_pyroute2):
            index = next(decoder(self.datagrams[0])).body.ifindex
            names = {index: "gv0"}
            first = [m for d in self.datagrams for m in decoder(d, names)]
            self.assertEqual({m.body.ifname for m in first}, {"gv0"})
            known = {m.raw: m.body for m in first if m.body is not None}
            self.assertEqual(len(known), 4)
            again = [m for d in self.datagrams for m in decoder(d, names, known)]
            self.assertEqual(again, first)
            for old, new in zip(first, again):
                self.assertIs(new.body, old.body)

    def test_a_renamed_interface_is_decoded_again(self):
        for decoder in (decode_fast, decode_pyroute2):
            first = [m for d in self.datagrams for m in decoder(d, {})]
            index = first[0].body.ifindex
            known = {m.raw: m.body for m in first if m.body is not None}
            again = [m for d in self.datagrams for m in decoder(d, {index: "wan0"}, known)]
            self.assertEqual([m.body.ifname for m in first], [None] * 4)
            self.assertEqual([m.body.ifname for m in again], ["wan0"] * 4)


class SharedAddressTests(SynchronousTestCase):
    def test_routes_share_one_object_per_source_address(self):
        """
        The local, prefix and broadcast routes of an address all carry it as
        their preferred source: one object, not three.
        """
        datagrams = capture("events.hex")["ip addr add 192.0.2.10/24 dev gv0"]
        sources = [m.body.source for d in datagrams for m in decode_fast(d) if isinstance(m.body, e.Route)]
        self.assertEqual([str(s) for s in sources], ["192.0.2.10"] * 3)
        self.assertIs(sources[0], sources[1])
        self.assertIs(sources[0], sources[2])

    def test_the_shared_addresses_are_bounded(self):
        from dhcpsuite.netlink import decode

        for n in range(decode._ADDRESSES_KEPT + 10):
            self.assertEqual(int(decode._ip(2, n.to_bytes(4, "big"))), n)
            self.assertLessEqual(len(decode._addresses), decode._ADDRESSES_KEPT)
        self.assertIsNone(decode._ip(10, bytes(4)))


class RecordTests(SynchronousTestCase):
    def setUp(self):
        self.steps = capture("events.hex")

    def test_link_added(self):
        found = messages(self.steps["ip link add gv0 type veth peer name gv1"])
        self.assertEqual([m.type for m in found], [RTM_NEWLINK, RTM_NEWLINK])
        links = {m.body.name: m.body for m in found}
        self.assertEqual(set(links), {"gv0", "gv1"})
        self.assertEqual(links["gv0"].kind, "veth")
        self.assertFalse(links["gv0"].admin_up)
        self.assertEqual(links["gv0"].mtu, 1500)

    def test_link_mac_admin_carrier_mtu(self):
        mac = messages(self.steps["ip link set gv0 address 02:00:00:00:00:01"])[0].body
        self.assertEqual(mac.mac, "02:00:00:00:00:01")
        up = messages(self.steps["ip link set gv0 up"])[0].body
        self.assertEqual((up.admin_up, up.carrier, up.operstate), (True, False, "LOWERLAYERDOWN"))
        peer_up = [m.body for m in messages(self.steps["ip link set gv1 up"]) if m.type == RTM_NEWLINK]
        self.assertIn(("gv0", True, True, "UP"), [(l.name, l.admin_up, l.carrier, l.operstate) for l in peer_up])
        mtu = messages(self.steps["ip link set gv0 mtu 1400"])[0].body
        self.assertEqual(mtu.mtu, 1400)

    def test_ipv4_address_added_with_routes(self):
        found = messages(self.steps["ip addr add 192.0.2.10/24 dev gv0"])
        address = found[0].body
        self.assertEqual(found[0].type, RTM_NEWADDR)
        self.assertEqual(address.interface, ipaddress.ip_interface("192.0.2.10/24"))
        self.assertEqual((address.family, address.prefix_length, address.label), (2, 24, "gv0"))
        self.assertEqual(address.broadcast, None)
        self.assertEqual((address.valid_lifetime, address.preferred_lifetime), (None, None))
        routes = {(str(m.body.destination), m.body.table) for m in found[1:]}
        self.assertEqual(routes, {("192.0.2.10/32", 255), ("192.0.2.255/32", 255), ("192.0.2.0/24", 254)})

    def test_lifetimes(self):
        address = messages(self.steps["ip addr change 192.0.2.10/24 dev gv0 valid_lft 3600 preferred_lft 1800"])[0].body
        self.assertEqual((address.valid_lifetime, address.preferred_lifetime), (3600, 1800))

    def test_ipv6_address(self):
        found = [m for m in messages(self.steps["ip addr add 2001:db8::10/64 dev gv0 nodad"]) if m.type == RTM_NEWADDR]
        self.assertEqual(found[0].body.interface, ipaddress.ip_interface("2001:db8::10/64"))
        self.assertEqual(found[0].body.family, 10)

    def test_route_with_gateway_metric_and_table(self):
        route = messages(self.steps["ip route add 198.51.100.0/24 via 192.0.2.1 dev gv0 metric 50"])[0].body
        self.assertEqual(
            (str(route.destination), str(route.gateway), route.metric, route.table, route.protocol),
            ("198.51.100.0/24", "192.0.2.1", 50, 254, 3),
        )
        table100 = messages(self.steps["ip route add 203.0.113.0/24 dev gv0 table 100"])[0].body
        self.assertEqual((table100.table, table100.gateway, table100.scope), (100, None, 253))
        removed = messages(self.steps["ip route del 198.51.100.0/24 via 192.0.2.1 dev gv0 metric 50"])[0]
        self.assertEqual(removed.type, RTM_DELROUTE)
        self.assertEqual(removed.body, route)

    def test_removals(self):
        found = messages(self.steps["ip addr del 192.0.2.10/24 dev gv0"])
        self.assertEqual(found[0].type, RTM_DELADDR)
        gone = messages(self.steps["ip link del gv0"])
        self.assertEqual([m.body.name for m in gone if m.type == RTM_DELLINK], ["gv0", "gv1"])

    def test_errors_and_ext_ack(self):
        replies = capture("replies.hex")
        [enodev] = messages(next(v for k, v in replies.items() if "ifindex 9999" in k))
        self.assertEqual((enodev.type, enodev.seq, enodev.body.errno), (NLMSG_ERROR, 11, errno.ENODEV))
        self.assertEqual(enodev.body.text, "ipv4: Device not found")
        [link] = messages(next(v for k, v in replies.items() if "'gv0'" in k))
        self.assertEqual((link.seq, link.body.name), (12, "gv0"))


class JSONTests(SynchronousTestCase):
    def test_event_to_json(self):
        address = e.Address(ifindex=3, interface=ipaddress.ip_interface("10.0.0.2/24"), ifname="eth0")
        self.assertEqual(
            e.to_json(e.AddressAdded(address)),
            {
                "event": "address_added",
                "address": {
                    "ifindex": 3, "interface": "10.0.0.2/24", "peer": None, "broadcast": None, "label": None,
                    "scope": 0, "flags": 0, "valid_lifetime": None, "preferred_lifetime": None,
                    "ifname": "eth0", "family": "inet",
                },
            },
        )

    def test_lifetimes_are_not_compared(self):
        one = e.Address(ifindex=3, interface=ipaddress.ip_interface("10.0.0.2/24"), valid_lifetime=10)
        two = e.Address(ifindex=3, interface=ipaddress.ip_interface("10.0.0.2/24"), valid_lifetime=9)
        self.assertEqual(one, two)
