"""
The one driver of the client machine (L{dhcpsuite.client.driver}) that the
early path and the agent share: every action type has a handler in both,
and an applied lease is told by a field of its action, not by identity.
"""

from __future__ import annotations

import typing

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client import driver
from dhcpsuite.client.config import InterfaceConfig
from dhcpsuite.client.core import machine as m
from dhcpsuite.client.core.machine import Configure, Event
from dhcpsuite.client.early import EarlyInterface
from dhcpsuite.client.testing import FakeClock, FakeSockets
from dhcpsuite.dhcp4.constants import MessageType
from tests.unit.test_client_agent import MAC, AgentHarness


class ActionTableTests(SynchronousTestCase):
    def test_action_types_are_the_machines_actions(self):
        self.assertEqual(set(typing.get_args(m.Action)), set(driver.ACTION_TYPES))

    def test_the_agent_handles_every_action_type(self):
        h = AgentHarness(self)
        self.assertEqual(set(h.agent.handlers()), set(driver.ACTION_TYPES))

    def test_the_early_path_handles_every_action_type(self):
        from twisted.internet.testing import MemoryReactorClock

        sockets = FakeSockets()
        receive, send = sockets("wan0")
        interface = EarlyInterface(InterfaceConfig(name="wan0"), 1500, receive, send, FakeClock(MemoryReactorClock()))
        self.assertEqual(set(interface.handlers()), set(driver.ACTION_TYPES))

    def test_every_deadline_has_a_handler(self):
        """
        L{ClientMachine.tick} runs the lease timers through one method and
        the others from a table: between them, every L{Deadline}.
        """
        transaction = set(m.ClientMachine._TRANSACTION_TIMERS)
        self.assertEqual(transaction | set(m.LEASE_TIMERS), set(m.Deadline))
        self.assertEqual(transaction & set(m.LEASE_TIMERS), set())


class AppliedConfigureTests(SynchronousTestCase):
    """
    A L{Configure} the early path applied (C{applied=True}) still reaches
    the registry, the lease file and the hook, but not the configurator a
    second time; one equal in every other field is applied in full.
    """

    def bound_lease(self):
        h = AgentHarness(self)
        h.bind()
        return h.agent.machine.bound

    def configure(self, applied):
        lease = self.bound_lease()
        h = AgentHarness(self)
        h.start()
        before = list(h.configurator.calls)
        h.agent.carry_out(Configure(lease, Event.BOUND, applied=applied))
        h.reactor.advance(0)
        return h, [c for c in h.configurator.calls if c not in before]

    def test_applied_skips_the_configurator(self):
        h, calls = self.configure(applied=True)
        self.assertEqual([c for c in calls if c[0] == "add_address"], [])
        self.assertIsNotNone(h.registry.lease("wan0", 4))
        self.assertIn("bound", h.spawn.actions)

    def test_not_applied_calls_the_configurator(self):
        h, calls = self.configure(applied=False)
        self.assertEqual([c[0] for c in calls if c[0] == "add_address"], ["add_address"])
        self.assertIsNotNone(h.registry.lease("wan0", 4))


class FrameTests(SynchronousTestCase):
    def test_a_drop_is_counted_and_logged_once(self):
        """
        The shared step: a frame that does not decode is counted by reason
        and logged once per reason, on either path.
        """
        from twisted.logger import globalLogPublisher

        logged = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        h = AgentHarness(self)
        h.start()
        for _ in range(3):
            h.agent._packet_received(b"\x45" + b"\0" * 10, ("wan0", 0x800, 0, 1, b""))
        self.assertEqual(h.agent.drops, {"not UDP to port 68": 3})
        lines = [e for e in logged if "dropping a malformed reply" in e.get("log_format", "")]
        self.assertEqual(len(lines), 1)
        self.assertEqual(h.agent.status()["drops"]["not UDP to port 68"], 3)
        self.assertEqual(h.last_sent()[0].message_type, MessageType.DISCOVER)
        self.assertEqual(h.agent.machine.settings.mac, MAC)
