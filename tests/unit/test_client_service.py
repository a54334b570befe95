"""
The manager and the service: agents started, driven and stopped by netlink
link events (carrier, MAC, removal); the boottime timers.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile

from twisted.internet import defer
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.client.shell.agent import ClientAgent
from dhcpsuite.client.shell.deadline_timers import ReactorTimer, SystemClock, timerfd_create, timerfd_settime
from dhcpsuite.client.config import parse_client_config
from dhcpsuite.client.core.machine import State
from dhcpsuite.client.shell.service import ClientService, make_client_service
from dhcpsuite.client.testing import FakeClock, FakeSockets, FakeSpawn, ip_udp, reply_to
from dhcpsuite.config import Section
from dhcpsuite.control.metrics import render_metrics
from dhcpsuite.daemon import Daemon
from dhcpsuite.dhcp4.constants import MessageType
from dhcpsuite.dhcp4.packet import Message
from dhcpsuite.interfaces import IClock, IComponentHealth, INetlinkListener
from dhcpsuite.netlink.events import Link, LinkAdded, LinkChanged, LinkRemoved
from dhcpsuite.netlink.testing import RecordingConfigurator


class FakeNetlink:
    def __init__(self):
        self.listeners = []

    def add_listener(self, listener, replay=True):
        self.listeners.append(listener)

    def remove_listener(self, listener):
        self.listeners.remove(listener)

    def emit(self, event):
        for listener in list(self.listeners):
            listener.netlink_event(event)


def link(name="wan0", carrier=True, mac="02:00:00:00:00:01", index=5):
    return Link(ifindex=index, name=name, admin_up=True, carrier=carrier, operstate="UP" if carrier else "DOWN",
                mac=mac, mtu=1500, flags=0)


class ServiceTests(SynchronousTestCase):
    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.clock = FakeClock(self.reactor)
        self.netlink = FakeNetlink()
        self.sockets = FakeSockets()
        self.state_dir = tempfile.mkdtemp(prefix="dhcpsuite-client-svc-")
        self.addCleanup(shutil.rmtree, self.state_dir, True)
        cfg = parse_client_config(Section({"interface": [
            {"name": "wan0", "arp_probe": False, "initial_delay": 0.0},
            {"name": "wan1", "arp_probe": False, "initial_delay": 0.0},
        ]}, "client"))

        def agent(interface, reactor, **kw):
            return ClientAgent(interface, reactor, open_sockets=self.sockets, spawn=FakeSpawn(True),
                               rng=random.Random(2), **kw)

        self.service = make_client_service(
            cfg, self.state_dir, configurator=RecordingConfigurator(), netlink=self.netlink,
            reactor=self.reactor, clock=self.clock, agent_factory=agent, sysfs=self.sysfs(),
        )
        self.service.privilegedStartService()
        self.service.startService()
        self.manager = self.service.manager

    def sysfs(self):
        """
        A fake /sys/class/net where only wan1 exists (carrier down).
        """
        root = os.path.join(self.state_dir, "sys")
        os.makedirs(os.path.join(root, "wan1"))
        for name, value in (("address", "02:00:00:00:00:02"), ("mtu", "1500"), ("carrier", "0")):
            with open(os.path.join(root, "wan1", name), "w") as f:
                f.write(value + "\n")
        return root

    def tearDown(self):
        if self.service.running:
            self.service.stopService()

    def test_existing_interface_starts_without_waiting_for_netlink(self):
        agent = self.agent("wan1")
        self.assertTrue(agent.running)
        self.assertFalse(agent.machine.carrier)
        self.assertEqual(self.sockets.send.sent, [])
        self.netlink.emit(LinkAdded(link("wan1", carrier=True, mac="02:00:00:00:00:02", index=6)))
        self.assertEqual(agent.machine.state, State.SELECTING)
        self.assertEqual(len(self.sockets.send.sent), 1)

    def agent(self, name="wan0"):
        return self.manager.agents[name]

    def test_interfaces(self):
        verifyObject(INetlinkListener, self.manager)
        verifyObject(IComponentHealth, self.service)
        self.assertIsInstance(self.service, ClientService)
        self.assertEqual(self.netlink.listeners, [self.manager])

    def test_agent_starts_when_link_appears(self):
        self.assertFalse(self.agent().running)
        self.netlink.emit(LinkAdded(link()))
        self.assertTrue(self.agent().running)
        self.assertEqual(self.agent().machine.state, State.SELECTING)
        self.netlink.emit(LinkAdded(link("other", index=9)))
        self.assertEqual(self.sockets.opened, 2)

    def test_two_interfaces(self):
        self.netlink.emit(LinkAdded(link()))
        self.netlink.emit(LinkChanged(link("wan1", mac="02:00:00:00:00:02", index=6),
                                      link("wan1", carrier=False, mac="02:00:00:00:00:02", index=6)))
        self.assertEqual(self.sockets.opened, 2)
        self.assertEqual({a.machine.state for a in self.manager.agents.values()}, {State.SELECTING})
        self.assertEqual(self.agent("wan1").machine.settings.mac, bytes.fromhex("020000000002"))

    def test_carrier_events(self):
        self.netlink.emit(LinkAdded(link()))
        machine = self.agent().machine
        self.netlink.emit(LinkChanged(link(carrier=False), link()))
        self.assertFalse(machine.carrier)
        self.netlink.emit(LinkChanged(link(), link(carrier=False)))
        self.assertTrue(machine.carrier)
        self.assertEqual(machine.history[-1].cause, "sending DISCOVER")
        self.assertEqual(machine.history[-2].cause, "carrier up")

    def test_mac_change(self):
        self.netlink.emit(LinkAdded(link()))
        self.netlink.emit(LinkChanged(link(mac="02:00:00:00:00:09"), link()))
        self.assertEqual(self.agent().machine.settings.mac, bytes.fromhex("020000000009"))

    def test_removed_interface_stops_agent_and_returns(self):
        self.netlink.emit(LinkAdded(link()))
        agent = self.agent()
        agent._feed(agent.machine.receive(self.offer_and_ack(agent), self.clock.monotonic()))
        self.assertIsNotNone(agent.machine.bound)
        calls = len(agent.configurator.calls)
        self.netlink.emit(LinkRemoved(link()))
        self.assertFalse(self.agent().running)
        # Nothing to remove from an interface that is gone.
        self.assertEqual(len(agent.configurator.calls), calls)
        self.netlink.emit(LinkAdded(link()))
        self.assertTrue(self.agent().running)

    def offer_and_ack(self, agent):
        from dhcpsuite.client.testing import reply_to
        from dhcpsuite.dhcp4.constants import MessageType
        from dhcpsuite.client.testing import sent_message

        discover = sent_message(*self.sockets.send.sent[-1])[0]
        agent._feed(agent.machine.receive(reply_to(discover, MessageType.OFFER), self.clock.monotonic()))
        request = sent_message(*self.sockets.send.sent[-1])[0]
        return reply_to(request, MessageType.ACK)

    def test_socket_failure_is_logged_not_fatal(self):
        def broken(ifname):
            raise PermissionError(1, "Operation not permitted")

        self.agent()._open_sockets = broken
        self.netlink.emit(LinkAdded(link()))
        self.assertFalse(self.agent().running)
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_drops_in_metrics_by_interface_and_reason(self):
        """
        Issue 16 item 20: what the client drops (frames the agent cannot
        decode, replies its machine does not take) is in /metrics by
        interface and reason, the same counts as the API's C{drops}.
        """
        self.netlink.emit(LinkAdded(link()))
        agent = self.agent()
        frame = ("wan0", 0x0800, 0, 1, b"")
        for _ in range(2):
            agent._packet_received(b"\x45" + b"\0" * 10, frame)
        stray = Message(op=1, xid=agent.machine.xid ^ 1, chaddr=agent.machine.settings.mac)
        agent._packet_received(ip_udp(reply_to(stray, MessageType.OFFER).to_bytes()), frame)
        text = render_metrics(Daemon(config=None, client=self.service)).decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        drops = {(s.labels["interface"], s.labels["reason"]): s.value
                 for s in families["dhcpsuite_client_drops"].samples if s.name.endswith("_total")}
        self.assertEqual(drops, {("wan0", "not UDP to port 68"): 2.0, ("wan0", "xid mismatch"): 1.0})
        self.assertEqual(self.service.agents_json()[0]["drops"], {"not UDP to port 68": 2, "xid mismatch": 1})

    def test_renew_and_status(self):
        self.netlink.emit(LinkAdded(link()))
        d = self.service.renew("wan0", timeout=2)
        self.reactor.advance(2)
        # No server answers: the caller's wait ends, the agent carries on.
        self.failureResultOf(d, defer.TimeoutError)
        self.failureResultOf(self.service.renew("nope"), KeyError)
        health = self.service.health()
        self.assertTrue(health["ok"])
        self.assertEqual(health["interfaces"]["wan0"]["state"], "SELECTING")

    def test_control_plane_view(self):
        # The page and dhcpsuite-ctl read these keys: the real service must give them all.
        from dhcpsuite.control import views

        self.netlink.emit(LinkAdded(link()))
        agents = {a["interface"]: a for a in self.service.agents_json()}
        self.assertEqual(sorted(agents), ["wan0", "wan1"])
        for agent in agents.values():
            self.assertTrue(set(views.CLIENT_KEYS) <= set(agent), agent)
        (row,) = [r for r in views.client_rows(list(agents.values())) if r[0] == "wan0"]
        self.assertEqual(row[1], "SELECTING")
        self.assertIsNotNone(row[5])  # the resend timer is armed
        self.assertEqual(sorted(self.service.interface_names()), ["wan0", "wan1"])

    def test_release_and_stop_through_the_api_stick(self):
        """
        Item 16.18: a link event (the MTU restore the release itself causes,
        a carrier bounce, the interface coming back) must not start an agent
        the API stopped (it did: RELEASE at +0.01 s, DISCOVER at +0.03 s).
        """
        self.netlink.emit(LinkAdded(link()))
        for action in ("release", "stop"):
            result = self.successResultOf(self.service.act("wan0", action, 5))
            self.assertEqual(result["outcome"], "stopped")
            sent = len(self.sockets.send.sent)
            self.netlink.emit(LinkChanged(link(), previous=link()))
            self.netlink.emit(LinkChanged(link(carrier=False), previous=link()))
            self.netlink.emit(LinkChanged(link(), previous=link(carrier=False)))
            self.netlink.emit(LinkRemoved(link()))
            self.netlink.emit(LinkAdded(link()))
            self.reactor.advance(1)
            self.assertFalse(self.agent().running, action)
            self.assertEqual(len(self.sockets.send.sent), sent, action)
            # Only a start starts it again (wan0 exists in this sysfs now).
            os.makedirs(os.path.join(self.manager.sysfs, "wan0"), exist_ok=True)
            for name, value in (("address", "02:00:00:00:00:01"), ("mtu", "1500"), ("carrier", "1")):
                with open(os.path.join(self.manager.sysfs, "wan0", name), "w") as f:
                    f.write(value + "\n")
            self.assertEqual(self.successResultOf(self.service.act("wan0", "start", 5))["outcome"], "started")
            self.assertTrue(self.agent().running)

    def test_stop(self):
        self.netlink.emit(LinkAdded(link()))
        d = self.service.stopService()
        self.successResultOf(d)
        self.assertEqual(self.netlink.listeners, [])
        self.assertFalse(self.agent().running)
        self.assertEqual(self.reactor.getDelayedCalls(), [])


class ClockTests(SynchronousTestCase):
    def test_system_clock(self):
        clock = SystemClock()
        verifyObject(IClock, clock)
        self.assertTrue(clock.monotonic() > 0)
        self.assertTrue(clock.wall() > 1e9)

    def test_reactor_timer_rechecks_boottime(self):
        reactor = MemoryReactorClock()
        clock = FakeClock(reactor)
        fired = []
        timer = ReactorTimer(lambda: fired.append(clock.monotonic()), reactor, clock)
        timer.arm(clock.monotonic() + 10)
        clock.set_wall(1000)  # the reactor's calls all run; boottime did not move
        self.assertEqual(fired, [])
        clock.advance(10)
        self.assertEqual(fired, [1010.0])
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_timerfd_fires_on_boottime(self):
        fd = timerfd_create()
        try:
            timerfd_settime(fd, SystemClock().monotonic() - 1)
            self.assertEqual(len(os.read(fd, 8)), 8)
            timerfd_settime(fd, None)
        finally:
            os.close(fd)
