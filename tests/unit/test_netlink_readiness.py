"""
Readiness: transitions only, once each, debounced when asked.
"""

from __future__ import annotations

import ipaddress

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dhcpsuite.interfaces import INetlinkListener, IReadinessListener
from dhcpsuite.netlink import events as e
from dhcpsuite.netlink.readiness import ReadinessTracker
from dhcpsuite.netlink.table import InterfaceTable


@implementer(IReadinessListener)
class Recorder:
    def __init__(self):
        self.seen = []

    def readiness_changed(self, ifname, ready):
        self.seen.append((ifname, ready))


def link(admin=True, carrier=True, index=2, name="eth0", mtu=1500):
    return e.Link(index, name, admin, carrier, "UP" if carrier else "DOWN", "02:00:00:00:00:01", mtu, 0)


def address(text, index=2):
    return e.Address(ifindex=index, interface=ipaddress.ip_interface(text))


class ReadinessTests(SynchronousTestCase):
    def setUp(self):
        self.table = InterfaceTable()
        self.clock = Clock()
        self.tracker = ReadinessTracker(self.table, self.clock)
        self.recorder = Recorder()
        verifyObject(INetlinkListener, self.tracker)
        verifyObject(IReadinessListener, self.recorder)
        self.tracker.add_listener(self.recorder)

    def apply(self, events):
        for event in events:
            self.tracker.netlink_event(event)

    def test_admin_carrier_and_subnet(self):
        self.assertFalse(self.tracker.watch("eth0", subnet="10.0.0.0/24"))
        self.apply(self.table.put_link(link(carrier=False)))
        self.apply(self.table.put_address(address("10.0.0.1/24")))
        self.assertEqual(self.recorder.seen, [])
        self.apply(self.table.put_link(link()))
        self.assertEqual(self.recorder.seen, [("eth0", True)])
        self.apply(self.table.put_link(link(mtu=1400)))  # still ready: no news
        self.apply(self.table.put_address(address("10.9.0.1/24")))
        self.assertEqual(self.recorder.seen, [("eth0", True)])
        self.apply(self.table.remove_address(address("10.0.0.1/24")))
        self.assertEqual(self.recorder.seen, [("eth0", True), ("eth0", False)])
        self.assertFalse(self.tracker.is_ready("eth0"))
        self.apply(self.table.put_address(address("10.0.0.7/24")))
        self.apply(self.table.put_link(link(admin=False)))
        self.apply(self.table.remove_link(2))
        self.assertEqual(self.recorder.seen, [("eth0", True), ("eth0", False), ("eth0", True), ("eth0", False)])

    def test_without_subnet_and_other_interfaces_ignored(self):
        self.apply(self.table.put_link(link()))
        self.assertTrue(self.tracker.watch("eth0"))
        self.apply(self.table.put_link(link(carrier=False, index=3, name="eth1")))
        self.assertEqual(self.recorder.seen, [])
        self.assertTrue(self.tracker.is_ready("eth0"))
        self.assertFalse(self.tracker.is_ready("eth1"))

    def test_debounce_hides_flaps(self):
        self.apply(self.table.put_link(link()))
        self.tracker.watch("eth0", debounce=2.0)
        for _ in range(5):
            self.apply(self.table.put_link(link(carrier=False)))
            self.clock.advance(0.5)
            self.apply(self.table.put_link(link()))
            self.clock.advance(0.5)
        self.clock.advance(5)
        self.assertEqual(self.recorder.seen, [])
        self.apply(self.table.put_link(link(carrier=False)))
        self.clock.advance(1.9)
        self.assertEqual(self.recorder.seen, [])
        self.clock.advance(0.1)
        self.assertEqual(self.recorder.seen, [("eth0", False)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_rename_and_unwatch(self):
        self.apply(self.table.put_link(link(name="tmp0")))
        self.tracker.watch("eth0")
        self.apply(self.table.put_link(link(name="eth0")))
        self.assertEqual(self.recorder.seen, [("eth0", True)])
        self.tracker.unwatch("eth0")
        self.apply(self.table.put_link(link(carrier=False)))
        self.assertEqual(self.recorder.seen, [("eth0", True)])

    def test_failing_listener_logged(self):
        class Bad:
            def readiness_changed(self, ifname, ready):
                raise ValueError("bug")

        self.tracker.add_listener(Bad())
        self.tracker.watch("eth0")
        self.apply(self.table.put_link(link()))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(self.recorder.seen, [("eth0", True)])

    def test_renumbering_while_ready_is_said_again(self):
        self.apply(self.table.put_link(link()))
        self.apply(self.table.put_address(address("10.0.0.1/24")))
        self.assertTrue(self.tracker.watch("eth0", subnet="10.0.0.0/24", debounce=2.0))
        # An address outside the subnet, or the same one again: no news.
        self.apply(self.table.put_address(address("10.9.0.1/24")))
        self.apply(self.table.put_address(address("10.0.0.1/24")))
        self.assertEqual(self.recorder.seen, [])
        # Renumbered inside the subnet: told at once (not a flap, no debounce).
        self.apply(self.table.put_address(address("10.0.0.2/24")))
        self.apply(self.table.remove_address(address("10.0.0.1/24")))
        self.assertEqual(self.recorder.seen, [("eth0", True), ("eth0", True)])
        self.assertTrue(self.tracker.is_ready("eth0"))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # Losing the last address in the subnet is a transition again.
        self.apply(self.table.remove_address(address("10.0.0.2/24")))
        self.clock.advance(2)
        self.assertEqual(self.recorder.seen, [("eth0", True), ("eth0", True), ("eth0", False)])
