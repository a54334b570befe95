# -*- test-case-name: tests.unit.test_ingest_checks -*-
"""
What an ingested lease must satisfy before it is applied: each hostile value
seen in the attack (multicast, broadcast, loopback and 0.0.0.0 addresses, a
0.0.0.0 gateway, an off-link default route, MTU 68) is refused with its
reason; ordinary leases pass.

The reference for the MTU is Debian's /sbin/dhclient-script, which ignores
a server's MTU of 576 and below ("so that broken MTUs are ignored"); busybox
udhcpc's default.script applies any value. We refuse below 576, RFC 791's
datagram size every host must accept (RFC 2132 allows option 26 down to 68,
which is what the attack used).
"""

from ipaddress import IPv4Address, IPv6Address

import attrs
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.ingest import checks
from dhcpsuite.ingest.checks import LeaseRefused, check_v4, check_v6
from tests.unit.test_ingest_pluginmsg import v4_lease, v6_lease


def v4(address="10.0.0.5", netmask="255.255.255.0", routers=("10.0.0.1",), mtu=1500):
    return v4_lease(address=IPv4Address(address), netmask=None if netmask is None else IPv4Address(netmask),
                    routers=tuple(IPv4Address(r) for r in routers), mtu=mtu)


class V4Tests(SynchronousTestCase):
    def refused(self, lease) -> str:
        return self.assertRaises(LeaseRefused, check_v4, lease).reason

    def test_ordinary_leases_pass(self):
        for lease in (v4(), v4(mtu=None), v4(mtu=576), v4(mtu=9000), v4(routers=()),
                      v4("100.64.1.2", "255.192.0.0", ("100.64.0.1",)),
                      v4("192.0.2.1", "255.255.255.254", ("192.0.2.0",)),  # RFC 3021 /31
                      v4("198.51.100.7", "255.255.255.255", ()),  # /32 without a router
                      v4(routers=("10.0.0.1", "10.0.0.254"))):
            check_v4(lease)

    def test_addresses_that_are_not_unicast(self):
        for address, netmask in (("224.0.0.1", "255.255.255.0"), ("239.1.2.3", "255.0.0.0"),
                                 ("255.255.255.255", "255.255.255.0"), ("127.0.0.2", "255.0.0.0"),
                                 ("0.0.0.0", "255.255.255.0"), ("0.1.2.3", "255.0.0.0"),
                                 ("240.0.0.1", "255.255.255.0"),
                                 ("10.0.0.255", "255.255.255.0"),  # the subnet's broadcast
                                 ("10.0.0.0", "255.255.255.0")):  # the subnet's network address
            self.assertEqual(self.refused(v4(address, netmask, ())), checks.REASON_ADDRESS, address)

    def test_prefix_length(self):
        self.assertEqual(self.refused(v4(netmask="0.0.0.0", routers=())), checks.REASON_PREFIX_LENGTH)
        self.assertEqual(self.refused(v4(netmask=None, routers=())), checks.REASON_PREFIX_LENGTH)

    def test_gateways(self):
        for routers, reason in ((("0.0.0.0",), checks.REASON_GATEWAY_NOT_UNICAST),
                                (("10.0.0.5",), checks.REASON_GATEWAY_NOT_UNICAST),  # the address itself
                                (("224.0.0.9",), checks.REASON_GATEWAY_NOT_UNICAST),
                                (("10.0.0.1", "192.168.66.1"), checks.REASON_GATEWAY_NOT_ON_LINK),
                                (("10.0.1.1",), checks.REASON_GATEWAY_NOT_ON_LINK),
                                (("10.0.0.255",), checks.REASON_GATEWAY_NOT_ON_LINK)):
            self.assertEqual(self.refused(v4(routers=routers)), reason, routers)

    def test_mtu(self):
        for mtu in (0, 68, 575):
            self.assertEqual(self.refused(v4(mtu=mtu)), checks.REASON_MTU_TOO_SMALL, mtu)
        self.assertEqual(self.refused(v4(mtu=65536)), checks.REASON_MTU_TOO_LARGE)


class V6Tests(SynchronousTestCase):
    def test_ordinary_passes(self):
        check_v6(v6_lease())
        check_v6(v6_lease(ia_na=None))
        check_v6(v6_lease(ia_na=attrs.evolve(v6_lease().ia_na, address=IPv6Address("fd00::5"))))

    def test_not_unicast(self):
        for text in ("ff02::1", "::1", "::", "fe80::1", "::ffff:10.0.0.1"):
            lease = v6_lease(ia_na=attrs.evolve(v6_lease().ia_na, address=IPv6Address(text)))
            self.assertEqual(self.assertRaises(LeaseRefused, check_v6, lease).reason, checks.REASON_ADDRESS, text)
