"""
The agent (the Twisted shell) with a memory reactor, a fake clock, fake
sockets, the recording configurator, the lease registry and fake hooks: what
goes on the wire, to the configurator, the registry, the lease file and the
hook program; wall-clock jumps and suspend.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.client.shell.agent import ClientAgent
from dhcpsuite.client.config import InterfaceConfig
from dhcpsuite.client.core.machine import State
from dhcpsuite.client.system.persist import lease_path, parse_lease_text
from dhcpsuite.client.testing import FakeClock, FakeProber, FakeSockets, FakeSpawn, ip_udp, reply_to
from dhcpsuite.client.core.schedule import Schedule
from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.interfaces import IClock, IInterfaceConfigurator
from dhcpsuite.leases.registry import LeaseRegistry, RecordingLeaseListener
from dhcpsuite.netlink.testing import RecordingConfigurator

MAC = bytes.fromhex("020000000001")
YEAR = 365 * 86400.0


class AgentHarness:
    def __init__(self, test, state_dir=None, lease_time=600, **cfg):
        self.reactor = MemoryReactorClock()
        self.clock = FakeClock(self.reactor)
        self.sockets = FakeSockets()
        self.configurator = RecordingConfigurator()
        self.registry = LeaseRegistry(now=self.clock.wall)
        self.listener = RecordingLeaseListener()
        self.registry.add_listener(self.listener)
        self.spawn = FakeSpawn(auto_exit=cfg.pop("auto_exit", True))
        if state_dir is None:
            state_dir = tempfile.mkdtemp(prefix="dhcpsuite-client-test-")
            test.addCleanup(shutil.rmtree, state_dir, True)
        self.state_dir = state_dir
        cfg.setdefault("arp_probe", False)
        cfg.setdefault("script", "/hook")
        cfg.setdefault("schedule", Schedule(initial_delay=0.0, fuzz=0.0))
        self.cfg = InterfaceConfig(name="wan0", **cfg)
        self.lease_time = lease_time
        self.agent = ClientAgent(
            self.cfg, self.reactor, clock=self.clock, configurator=self.configurator, registry=self.registry,
            state_dir=self.state_dir, rng=random.Random(1), open_sockets=self.sockets, spawn=self.spawn,
            prober_factory=lambda *a, **kw: FakeProber(*a, result=cfg_probe_result[0], **kw),
        )

    def start(self, carrier=True):
        self.agent.start(MAC, carrier=carrier, mtu=1500)
        self.reactor.advance(0)

    def sent(self):
        return self.sockets.send.messages()

    def last_sent(self):
        return self.sent()[-1]

    def answer(self, kind, destination="10.0.0.10", **kw):
        request, _ = self.last_sent()
        kw.setdefault("lease_time", self.lease_time)
        kw.setdefault("options", {Option.ROUTER: [IPv4Address("10.0.0.1")]})
        reply = reply_to(request, kind, **kw)
        self.agent._packet_received(ip_udp(reply.to_bytes(), destination=destination), ("wan0", 0x0800, 0, 1, b""))

    def bind(self):
        self.start()
        self.answer(MessageType.OFFER)
        self.answer(MessageType.ACK)
        return self.agent.machine.bound


cfg_probe_result = [False]


class AgentBindTests(SynchronousTestCase):
    def setUp(self):
        self.h = AgentHarness(self)

    def tearDown(self):
        if self.h.agent.running:
            self.h.agent.stop()

    def test_fakes_provide_interfaces(self):
        verifyObject(IClock, self.h.clock)
        verifyObject(IInterfaceConfigurator, self.h.configurator)

    def test_discover_broadcast_from_port_68_socket(self):
        self.h.start()
        (message, address), = self.h.sent()
        self.assertEqual(message.message_type, MessageType.DISCOVER)
        self.assertEqual(address, ("255.255.255.255", 67))

    def test_bind_configures_records_persists_and_runs_hook(self):
        lease = self.h.bind()
        self.assertEqual(self.h.agent.machine.state, State.BOUND)
        (add,) = self.h.configurator.calls_to("add_address")
        self.assertEqual(add["ifname"], "wan0")
        self.assertEqual(add["interface"], IPv4Interface("10.0.0.10/24"))
        self.assertEqual(add["broadcast"], IPv4Address("10.0.0.255"))
        self.assertEqual(add["valid_lifetime"], 600)
        (route,) = self.h.configurator.calls_to("add_route")
        self.assertEqual(route["destination"], IPv4Network("0.0.0.0/0"))
        self.assertEqual(route["gateway"], IPv4Address("10.0.0.1"))
        self.assertEqual(route["ifname"], "wan0")
        (change,) = self.h.listener.changes
        self.assertEqual((change.interface, change.family, change.new, change.cause), ("wan0", 4, lease, "BOUND"))
        with open(lease_path(self.h.state_dir, "wan0")) as f:
            saved = parse_lease_text(f.read())
        self.assertEqual(saved["address"], "10.0.0.10")
        self.assertEqual(float(saved["expires_wall"]), lease.acquired_wall + 600)
        (process,) = self.h.spawn.processes
        self.assertEqual(process.argv, ["/hook", "bound"])
        self.assertEqual(process.env["ip"], "10.0.0.10")
        self.assertEqual(process.env["router"], "10.0.0.1")

    def test_address_before_hook(self):
        self.h.bind()
        self.assertEqual(self.h.configurator.calls[0][0], "add_address")

    def test_configure_false_leaves_interface_alone(self):
        h = AgentHarness(self, configure=False)
        h.bind()
        self.assertEqual(h.configurator.calls, [])
        self.assertEqual(h.spawn.actions, ["bound"])
        h.agent.stop()

    def test_mtu_and_classless_routes(self):
        from dhcpsuite.dhcp4.options import ClasslessRoute

        self.h.start()
        self.h.answer(MessageType.OFFER)
        self.h.answer(MessageType.ACK, options={
            Option.INTERFACE_MTU: 1400,
            Option.ROUTER: [IPv4Address("10.0.0.1")],
            Option.CLASSLESS_STATIC_ROUTE: [
                ClasslessRoute(IPv4Network("0.0.0.0/0"), IPv4Address("10.0.0.254")),
                ClasslessRoute(IPv4Network("10.0.0.254/32"), IPv4Address("0.0.0.0")),
            ],
        })
        self.assertEqual(self.h.configurator.calls_to("set_mtu"), [{"ifname": "wan0", "mtu": 1400}])
        routes = [(r["destination"], r["gateway"]) for r in self.h.configurator.calls_to("add_route")]
        self.assertEqual(routes, [
            (IPv4Network("10.0.0.254/32"), None),
            (IPv4Network("0.0.0.0/0"), IPv4Address("10.0.0.254")),
        ])
        self.h.configurator.reset()
        self.h.agent.stop(release=True)
        self.assertEqual(self.h.configurator.calls_to("set_mtu"), [{"ifname": "wan0", "mtu": 1500}])

    def test_garbage_dropped(self):
        self.h.start()
        self.h.agent._packet_received(b"\x45" + b"\0" * 10, ("wan0", 0x800, 0, 1, b""))
        self.h.agent._packet_received(ip_udp(b"\x02" * 20), ("wan0", 0x800, 0, 1, b""))
        self.assertEqual(self.h.agent.drops, {"not UDP to port 68": 1, "truncated": 1})
        self.assertEqual(self.h.agent.machine.state, State.SELECTING)

    def test_outgoing_ignored(self):
        self.h.start()
        request, _ = self.h.last_sent()
        offer = reply_to(request, MessageType.OFFER)
        self.h.agent._packet_received(ip_udp(offer.to_bytes()), ("wan0", 0x800, 4, 1, b""))
        self.assertEqual(self.h.agent.machine.state, State.SELECTING)


class AgentTimeTests(SynchronousTestCase):
    def setUp(self):
        self.h = AgentHarness(self)
        self.lease = self.h.bind()

    def tearDown(self):
        if self.h.agent.running:
            self.h.agent.stop()

    def test_renews_at_t1_unicast(self):
        self.h.clock.advance(299)
        self.assertEqual(self.h.agent.machine.state, State.BOUND)
        self.h.clock.advance(1)
        message, address = self.h.last_sent()
        self.assertEqual(self.h.agent.machine.state, State.RENEWING)
        self.assertEqual(address, ("10.0.0.1", 67))
        self.assertEqual(message.ciaddr, IPv4Address("10.0.0.10"))
        self.h.answer(MessageType.ACK)
        self.assertEqual(self.h.spawn.actions, ["bound", "renew"])
        self.assertEqual(self.h.listener.changes[-1].cause, "EXTEND")
        # The kernel's lifetimes are refreshed with the new lease.
        refreshed = self.h.configurator.calls_to("add_address")[-1]
        self.assertEqual((refreshed["valid_lifetime"], refreshed["preferred_lifetime"]), (600, 600))
        self.assertEqual(len(self.h.configurator.calls_to("add_address")), 2)

    def test_wall_clock_jump_a_year_expires_nothing(self):
        sent = len(self.h.sent())
        self.h.clock.set_wall(YEAR)
        self.assertEqual(self.h.agent.machine.state, State.BOUND)
        self.assertEqual(len(self.h.sent()), sent)
        self.assertEqual(self.h.configurator.calls_to("remove_address"), [])
        self.assertEqual(len(self.h.listener.changes), 1)
        # The deadlines still follow the boottime clock.
        self.h.clock.advance(299)
        self.assertEqual(self.h.agent.machine.state, State.BOUND)
        self.h.clock.advance(1)
        self.assertEqual(self.h.agent.machine.state, State.RENEWING)

    def test_wall_clock_set_back_changes_nothing(self):
        self.h.clock.set_wall(-YEAR)
        self.h.clock.advance(300)
        self.assertEqual(self.h.agent.machine.state, State.RENEWING)

    def test_suspend_shorter_than_t2(self):
        self.h.clock.suspend(400)
        self.assertEqual(self.h.agent.machine.state, State.RENEWING)

    def test_suspend_past_t2(self):
        self.h.clock.suspend(560)
        self.assertEqual(self.h.agent.machine.state, State.REBINDING)
        self.assertEqual(self.h.last_sent()[1], ("255.255.255.255", 67))

    def test_suspend_longer_than_lease_reverifies(self):
        self.h.clock.suspend(600 + 3600)
        machine = self.h.agent.machine
        self.assertEqual(machine.state, State.REBOOTING)
        self.assertEqual(self.h.configurator.calls_to("remove_address"),
                         [{"ifname": "wan0", "interface": IPv4Interface("10.0.0.10/24")}])
        self.assertEqual(self.h.listener.changes[-1].cause, "EXPIRE")
        message, address = self.h.last_sent()
        self.assertEqual(message.option(Option.REQUESTED_ADDRESS), IPv4Address("10.0.0.10"))
        self.assertEqual(address, ("255.255.255.255", 67))
        self.assertEqual(self.h.spawn.actions, ["bound", "deconfig"])
        self.h.answer(MessageType.ACK)
        self.assertEqual(machine.state, State.BOUND)
        self.assertEqual(self.h.spawn.actions, ["bound", "deconfig", "bound"])

    def test_expiry_without_server(self):
        self.h.clock.advance(600)
        self.assertEqual(self.h.agent.machine.state, State.SELECTING)
        self.assertEqual(self.h.spawn.actions, ["bound", "deconfig"])
        self.assertFalse(os.path.exists(lease_path(self.h.state_dir, "wan0")))
        self.assertEqual(self.h.registry.lease("wan0", 4), None)


class AgentTransactionTests(SynchronousTestCase):
    def setUp(self):
        self.h = AgentHarness(self)
        self.h.bind()

    def tearDown(self):
        if self.h.agent.running:
            self.h.agent.stop()

    def test_renew_joins_and_caller_timeout_is_separate(self):
        before = len(self.h.sent())
        impatient = self.h.agent.request_renew(timeout=5)
        patient = self.h.agent.request_renew()
        self.assertEqual(len(self.h.sent()), before + 1)
        self.h.clock.advance(5)
        self.failureResultOf(impatient, defer.TimeoutError)
        self.assertNoResult(patient)
        self.assertEqual(self.h.agent.machine.state, State.RENEWING)
        self.h.answer(MessageType.ACK)
        self.assertEqual(self.successResultOf(patient), "extended")

    def test_renew_nak(self):
        waiting = self.h.agent.request_renew(timeout=30)
        self.h.answer(MessageType.NAK)
        self.assertEqual(self.successResultOf(waiting), "nak")
        self.assertEqual(self.h.spawn.actions, ["bound", "nak", "deconfig"])
        self.assertEqual(self.h.agent.machine.state, State.SELECTING)
        self.assertEqual(self.h.reactor.getDelayedCalls().__len__(), 1)  # the resend timer only

    def test_unicast_failure_falls_back_to_broadcast(self):
        self.h.sockets.send.fail_unicast = True
        self.h.agent.request_renew()
        self.assertEqual(self.h.last_sent()[1], ("255.255.255.255", 67))


class AgentStopTests(SynchronousTestCase):
    def test_release_on_stop(self):
        h = AgentHarness(self, auto_exit=False, release_on_stop=True)
        h.bind()
        h.spawn.processes[0].end(0)
        h.configurator.reset()
        stopped = h.agent.stop()
        message, address = h.last_sent()
        self.assertEqual(message.message_type, MessageType.RELEASE)
        self.assertEqual(address, ("10.0.0.1", 67))
        self.assertEqual([c[0] for c in h.configurator.calls], ["remove_route", "remove_address"])
        self.assertFalse(os.path.exists(lease_path(h.state_dir, "wan0")))
        self.assertEqual(h.listener.changes[-1].cause, "RELEASE")
        # Shutdown waits for the running hook.
        self.assertNoResult(stopped)
        h.spawn.processes[-1].end(0)
        self.successResultOf(stopped)
        self.assertTrue(h.sockets.send.closed and h.sockets.receive.closed)
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_drop_keeps_lease_for_init_reboot(self):
        h = AgentHarness(self)
        lease = h.bind()
        h.agent.stop(release=False)
        self.assertNotEqual(h.sent()[-1][0].message_type, MessageType.RELEASE)
        self.assertTrue(os.path.exists(lease_path(h.state_dir, "wan0")))
        self.assertEqual(h.listener.changes[-1].cause, "DROP")
        # A new agent (a restart) starts in INIT-REBOOT with it.
        again = AgentHarness(self, state_dir=h.state_dir)
        again.clock.advance(10)
        again.start()
        message, address = again.last_sent()
        self.assertEqual(again.agent.machine.history[0].new, State.INIT_REBOOT)
        self.assertEqual(message.message_type, MessageType.REQUEST)
        self.assertEqual(message.option(Option.REQUESTED_ADDRESS), lease.address)
        again.answer(MessageType.NAK)
        self.assertEqual(again.agent.machine.state, State.SELECTING)
        again.agent.stop()


class AgentCarrierTests(SynchronousTestCase):
    def test_carrier_bounce_reverifies_at_once(self):
        h = AgentHarness(self)
        h.bind()
        h.agent.carrier_changed(False)
        self.assertFalse(h.agent.machine.verified)
        h.clock.advance(3)
        before = len(h.sent())
        h.agent.carrier_changed(True)
        self.assertEqual(len(h.sent()), before + 1)
        message, _ = h.last_sent()
        self.assertEqual(h.agent.machine.state, State.REBOOTING)
        self.assertEqual(message.option(Option.REQUESTED_ADDRESS), IPv4Address("10.0.0.10"))
        h.answer(MessageType.ACK)
        self.assertTrue(h.agent.machine.verified)
        self.assertEqual(h.spawn.actions, ["bound", "renew"])
        h.agent.stop()

    def test_start_without_carrier_sends_nothing_until_up(self):
        h = AgentHarness(self)
        h.start(carrier=False)
        self.assertEqual(h.sent(), [])
        h.agent.carrier_changed(True)
        self.assertEqual(h.last_sent()[0].message_type, MessageType.DISCOVER)
        h.agent.stop()


class AgentProbeTests(SynchronousTestCase):
    def tearDown(self):
        cfg_probe_result[0] = False

    def test_conflict_declines(self):
        cfg_probe_result[0] = True
        h = AgentHarness(self, arp_probe=True)
        h.start()
        h.answer(MessageType.OFFER)
        h.answer(MessageType.ACK)
        message, address = h.last_sent()
        self.assertEqual(message.message_type, MessageType.DECLINE)
        self.assertEqual(address, ("255.255.255.255", 67))
        self.assertEqual(h.configurator.calls, [])
        self.assertEqual(h.agent.machine.state, State.INIT)
        h.agent.stop()

    def test_clear_probe_binds(self):
        h = AgentHarness(self, arp_probe=True)
        h.start()
        h.answer(MessageType.OFFER)
        h.answer(MessageType.ACK)
        self.assertEqual(h.agent.machine.state, State.BOUND)
        self.assertEqual(FakeProber.instances[-1].probed, [IPv4Address("10.0.0.10")])
        h.agent.stop()
