"""
The netlink configurator against the in-memory netlink system: requests as
the kernel would parse them (checked with pyroute2), ACK/error matching by
sequence number, idempotence, clear errors; and the recording fake.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import struct

from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.interfaces import IInterfaceConfigurator
from dhcpsuite.netlink.configurator import ConfiguratorError, NetlinkConfigurator
from dhcpsuite.netlink.testing import MemoryNetlinkSystem, RecordingConfigurator, load_capture

VECTORS = os.path.join(os.path.dirname(__file__), "..", "vectors", "netlink")
REPLIES = dict(load_capture(os.path.join(VECTORS, "replies.hex")))
GV0_LINK = next(v for k, v in REPLIES.items() if "'gv0'" in k)[0]  # ifindex 5


def parse(request: bytes):
    [msg] = MarshalRtnl().parse(request)
    return msg


class NetlinkConfiguratorTests(SynchronousTestCase):
    def setUp(self):
        self.clock = MemoryReactorClock()
        self.system = MemoryNetlinkSystem()
        self.system.links_by_name["gv0"] = GV0_LINK
        self.configurator = NetlinkConfigurator(reactor=self.clock, system=self.system, request_timeout=3)
        self.configurator.start()
        self.fd = self.configurator.fileno()
        verifyObject(IInterfaceConfigurator, self.configurator)

    def tearDown(self):
        self.configurator.stop()

    def pump(self):
        while self.system.sockets[self.fd].incoming:
            self.configurator.doRead()

    def last_request(self):
        return self.system.sockets[self.fd].sent[-1]

    def call(self, method, *args, answer=0, **kw):
        d = getattr(self.configurator, method)(*args, **kw)
        self.pump()  # name lookup, if any
        request = self.last_request()
        self.system.answer(self.fd, request, answer)
        self.pump()
        return d, parse(request)

    def test_add_address(self):
        d, msg = self.call(
            "add_address", "gv0", ipaddress.ip_interface("10.0.0.2/24"), valid_lifetime=600, preferred_lifetime=300
        )
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(msg["header"]["type"], 20)
        self.assertEqual((msg["index"], msg["prefixlen"], msg["family"]), (5, 24, 2))
        self.assertEqual(msg.get_attr("IFA_LOCAL"), "10.0.0.2")
        self.assertEqual(msg.get_attr("IFA_BROADCAST"), "10.0.0.255")
        cache = msg.get_attr("IFA_CACHEINFO")
        self.assertEqual((cache["ifa_valid"], cache["ifa_preferred"]), (600, 300))
        self.assertEqual(msg["header"]["flags"] & 0x505, 0x505)  # REQUEST|ACK|CREATE|REPLACE

    def test_add_existing_address_and_remove_absent_succeed(self):
        d, _ = self.call("add_address", "gv0", ipaddress.ip_interface("10.0.0.2/24"), answer=errno.EEXIST)
        self.assertIsNone(self.successResultOf(d))
        d, msg = self.call("remove_address", "gv0", ipaddress.ip_interface("10.0.0.2/24"), answer=errno.EADDRNOTAVAIL)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(msg["header"]["type"], 21)
        d, _ = self.call("remove_route", ipaddress.ip_network("10.1.0.0/16"), answer=errno.ESRCH)
        self.assertIsNone(self.successResultOf(d))

    def test_route(self):
        d, msg = self.call(
            "add_route", ipaddress.ip_network("198.51.100.0/24"), gateway=ipaddress.ip_address("10.0.0.1"),
            ifname="gv0", metric=20, table=1000, source=ipaddress.ip_address("10.0.0.2"),
        )
        self.successResultOf(d)
        self.assertEqual(msg["header"]["type"], 24)
        self.assertEqual(msg["dst_len"], 24)
        self.assertEqual(
            [msg.get_attr(n) for n in ("RTA_DST", "RTA_GATEWAY", "RTA_OIF", "RTA_PRIORITY", "RTA_PREFSRC", "RTA_TABLE")],
            ["198.51.100.0", "10.0.0.1", 5, 20, "10.0.0.2", 1000],
        )
        d, msg = self.call("add_route", ipaddress.ip_network("0.0.0.0/0"), gateway=ipaddress.ip_address("10.0.0.1"))
        self.successResultOf(d)
        self.assertEqual((msg["dst_len"], msg.get_attr("RTA_DST"), msg.get_attr("RTA_TABLE")), (0, None, 254))

    def test_neighbour_and_mtu(self):
        d, msg = self.call("add_neighbour", "gv0", ipaddress.ip_address("10.0.0.9"), b"\x02\x00\x00\x00\x00\x09")
        self.successResultOf(d)
        self.assertEqual((msg["header"]["type"], msg["ifindex"]), (28, 5))
        self.assertEqual((msg.get_attr("NDA_DST"), msg.get_attr("NDA_LLADDR")), ("10.0.0.9", "02:00:00:00:00:09"))
        d, msg = self.call("set_mtu", "gv0", 1400)
        self.successResultOf(d)
        self.assertEqual((msg["index"], msg.get_attr("IFLA_MTU")), (5, 1400))

    def test_kernel_error_fails_with_errno_and_message(self):
        d, _ = self.call("add_address", "gv0", ipaddress.ip_interface("10.0.0.2/24"), answer=errno.EPERM)
        error = self.failureResultOf(d, ConfiguratorError).value
        self.assertEqual(error.errno, errno.EPERM)
        self.assertEqual(str(error), "add_address(ifname='gv0', interface=10.0.0.2/24): Operation not permitted (EPERM)")

    def test_kernel_ext_ack_text_is_kept(self):
        d = self.configurator.add_address("gv0", ipaddress.ip_interface("10.0.0.2/24"))
        self.pump()
        seq = struct.unpack_from("=I", self.last_request(), 8)[0]
        [reply] = next(v for k, v in REPLIES.items() if "ifindex 9999" in k)
        self.system.sockets[self.fd].incoming.append(reply[:8] + struct.pack("=I", seq) + reply[12:])
        self.pump()
        error = self.failureResultOf(d, ConfiguratorError).value
        self.assertEqual(error.errno, errno.ENODEV)
        self.assertIn("No such device: ipv4: Device not found", str(error))

    def test_no_such_device(self):
        d = self.configurator.set_mtu("nope0", 1400)
        self.pump()
        error = self.failureResultOf(d, ConfiguratorError).value
        self.assertEqual(error.errno, errno.ENODEV)
        self.assertIn("no such device 'nope0'", str(error))

    def test_bad_prefix_fails_before_sending(self):
        d = self.configurator.add_route("10.0.0.1/24")
        error = self.failureResultOf(d, ConfiguratorError).value
        self.assertEqual(error.errno, errno.EINVAL)
        self.assertIn("'10.0.0.1/24' is not a network", str(error))
        self.assertEqual(self.system.sockets[self.fd].sent, [])

    def test_interface_name_required(self):
        d = self.configurator.set_mtu(None, 1400)
        self.assertIn("an interface name is required", str(self.failureResultOf(d, ConfiguratorError).value))

    def test_replies_matched_by_sequence_number(self):
        first = self.configurator.add_route(ipaddress.ip_network("10.1.0.0/16"))
        second = self.configurator.add_route(ipaddress.ip_network("10.2.0.0/16"))
        one, two = self.system.sockets[self.fd].sent
        self.system.answer(self.fd, two, errno.EINVAL)
        self.system.answer(self.fd, one, 0)
        self.pump()
        self.successResultOf(first)
        self.assertEqual(self.failureResultOf(second, ConfiguratorError).value.errno, errno.EINVAL)

    def test_timeout_and_stop(self):
        d = self.configurator.add_route(ipaddress.ip_network("10.1.0.0/16"))
        self.clock.advance(3)
        self.assertEqual(self.failureResultOf(d, ConfiguratorError).value.errno, errno.ETIMEDOUT)
        pending = self.configurator.add_route(ipaddress.ip_network("10.1.0.0/16"))
        self.configurator.stop()
        self.assertEqual(self.failureResultOf(pending, ConfiguratorError).value.errno, errno.ESHUTDOWN)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.system.closed, [self.fd])
        late = self.configurator.set_mtu("gv0", 1400)
        self.assertEqual(self.failureResultOf(late, ConfiguratorError).value.errno, errno.ENOTCONN)


class RecordingConfiguratorTests(SynchronousTestCase):
    def test_records_and_succeeds(self):
        fake = RecordingConfigurator()
        verifyObject(IInterfaceConfigurator, fake)
        interface = ipaddress.ip_interface("10.0.0.2/24")
        self.assertIsNone(self.successResultOf(fake.add_address("eth0", interface, valid_lifetime=60)))
        self.successResultOf(fake.add_route(ipaddress.ip_network("0.0.0.0/0"), gateway=ipaddress.ip_address("10.0.0.1")))
        self.assertEqual(fake.calls[0], ("add_address", {
            "ifname": "eth0", "interface": interface, "broadcast": None, "valid_lifetime": 60, "preferred_lifetime": None,
        }))
        self.assertEqual(fake.calls_to("add_route")[0]["gateway"], ipaddress.ip_address("10.0.0.1"))

    def test_can_fail(self):
        fake = RecordingConfigurator()
        fake.fail("set_mtu", errno.ENODEV, times=1)
        error = self.failureResultOf(fake.set_mtu("eth9", 1400), ConfiguratorError).value
        self.assertEqual((error.errno, str(error)), (errno.ENODEV, "set_mtu(ifname='eth9', mtu=1400): No such device (ENODEV)"))
        self.successResultOf(fake.set_mtu("eth9", 1400))
        self.assertEqual(len(fake.calls), 2)
        self.assertRaises(ValueError, fake.fail, "frobnicate", errno.EIO)
