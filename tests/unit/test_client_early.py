"""
The client's early path (L{dhcpsuite.client.early}): the pure machine driven
by a plain loop before Twisted is imported, and the agent adopting it where
it stands. Fake sockets, a fake clock and a fake sysfs; the real kernel and
a real server are in C{tests/integration/test_client_early.py}.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from ipaddress import IPv4Address, IPv4Interface

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client import early
from dhcpsuite.client.shell.agent import ClientAgent
from dhcpsuite.client.config import ClientConfig, InterfaceConfig
from dhcpsuite.client.core.lease_calls import lease_calls
from dhcpsuite.client.core.machine import Configure, Probe, State, TransactionDone
from dhcpsuite.client.system.persist import lease_path
from dhcpsuite.client.testing import FakeClock, FakeSockets, FakeSpawn, ip_udp, reply_to
from dhcpsuite.client.core.schedule import Schedule
from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.leases.registry import LeaseRegistry
from dhcpsuite.netlink.testing import RecordingConfigurator

MAC_TEXT = "02:00:00:00:00:07"
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeServer:
    """
    The C{wait} of L{early.acquire}: answers each DISCOVER with an OFFER and
    each REQUEST with an ACK (or nothing, when C{silent}), queued on the
    receive socket; advances the clock by the timeout when nothing is
    readable.
    """

    def __init__(self, sockets: FakeSockets, clock: FakeClock, silent: bool = False, lease_time: int = 600) -> None:
        self.sockets = sockets
        self.clock = clock
        self.silent = silent
        self.lease_time = lease_time
        self.answered = 0
        self.waits = 0

    def __call__(self, readable: list, timeout: float) -> list:
        self.waits += 1
        sent = self.sockets.send.messages()
        if not self.silent and self.answered < len(sent):
            request, _ = sent[self.answered]
            self.answered = len(sent)
            kind = {MessageType.DISCOVER: MessageType.OFFER, MessageType.REQUEST: MessageType.ACK}[request.message_type]
            reply = reply_to(request, kind, lease_time=self.lease_time,
                             options={Option.ROUTER: [IPv4Address("10.0.0.1")]})
            self.sockets.receive.queue(ip_udp(reply.to_bytes(), destination="10.0.0.10"))
            return [self.sockets.receive]
        self.clock.advance(timeout)
        return []


class RaisingConfigurator:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def add_address(self, **arguments):
        self.calls.append("add_address")
        raise OSError("refused")

    def add_route(self, **arguments):
        self.calls.append("add_route")

    def close(self) -> None:
        pass


class EarlyHarness:
    def __init__(self, test: SynchronousTestCase, carrier: str = "1", present: bool = True, **cfg) -> None:
        self.sysfs = tempfile.mkdtemp(prefix="dhcpsuite-sysfs-")
        self.state_dir = tempfile.mkdtemp(prefix="dhcpsuite-early-")
        test.addCleanup(shutil.rmtree, self.sysfs, True)
        test.addCleanup(shutil.rmtree, self.state_dir, True)
        if present:
            os.mkdir(os.path.join(self.sysfs, "wan0"))
            for name, value in (("address", MAC_TEXT), ("mtu", "1500"), ("carrier", carrier)):
                with open(os.path.join(self.sysfs, "wan0", name), "w") as f:
                    f.write(value + "\n")
        cfg.setdefault("arp_probe", False)
        cfg.setdefault("schedule", Schedule(initial_delay=0.0, fuzz=0.0))
        self.cfg = ClientConfig((InterfaceConfig(name="wan0", **cfg),))
        self.reactor = MemoryReactorClock()
        self.clock = FakeClock(self.reactor)
        self.sockets = FakeSockets()
        self.configurator = RecordingConfigurator()
        self.configurator.close = lambda: None
        self.server = FakeServer(self.sockets, self.clock)

    def acquire(self, budget: float = 2.0, configurator=None) -> dict:
        configurator = configurator if configurator is not None else self.configurator
        return early.acquire(
            self.cfg, self.state_dir, budget, clock=self.clock, rng=random.Random(3), sysfs=self.sysfs,
            open_sockets=self.sockets, configurator_factory=lambda: configurator, wait=self.server,
        )


class AcquireTests(SynchronousTestCase):
    def test_binds_and_applies_the_lease_before_the_reactor(self):
        h = EarlyHarness(self)
        (interface,) = h.acquire().values()
        self.assertEqual(interface.machine.state, State.BOUND)
        self.assertTrue(interface.done)
        self.assertEqual([m.message_type for m, _ in h.sockets.send.messages()],
                         [MessageType.DISCOVER, MessageType.REQUEST])
        self.assertEqual(interface.sent, 2)
        lease = interface.machine.bound
        self.assertEqual(lease.interface, IPv4Interface("10.0.0.10/24"))
        expected = lease_calls("wan0", lease, h.clock.monotonic(), 1500, None)
        self.assertEqual([(name, args) for name, args in h.configurator.calls],
                         [(call.method, {**_defaults(call.method), **call.arguments}) for call in expected])
        self.assertIsInstance(interface.applied, Configure)
        self.assertIn(interface.applied, interface.pending)
        self.assertEqual([a.outcome for a in interface.pending if isinstance(a, TransactionDone)], ["bound"])

    def test_the_configurator_opens_while_the_request_waits_for_its_ack(self):
        """
        Importing the netlink modules and opening the socket overlap the
        server's answer to the REQUEST rather than delay the DISCOVER or the
        REQUEST (dnsmasq offers within 0.2 ms).
        """
        h = EarlyHarness(self)
        sent_when_opened = []

        def factory():
            sent_when_opened.append([m.message_type for m, _ in h.sockets.send.messages()])
            return h.configurator

        early.acquire(h.cfg, h.state_dir, 2.0, clock=h.clock, rng=random.Random(3), sysfs=h.sysfs,
                      open_sockets=h.sockets, configurator_factory=factory, wait=h.server)
        self.assertEqual(sent_when_opened, [[MessageType.DISCOVER, MessageType.REQUEST]])
        self.assertEqual([name for name, _ in h.configurator.calls][:1], ["add_address"])

    def test_on_demand_opens_once_and_closes_only_what_it_opened(self):
        opened = []

        class Closing:
            closed = 0

            def close(self):
                self.closed += 1

        on_demand = early.OnDemand(lambda: opened.append(Closing()) or opened[-1])
        on_demand.close()
        self.assertEqual(opened, [])
        self.assertIs(on_demand(), on_demand())
        on_demand.close()
        self.assertEqual([c.closed for c in opened], [1])

    def test_arp_probe_is_left_to_the_reactor(self):
        h = EarlyHarness(self, arp_probe=True)
        (interface,) = h.acquire().values()
        self.assertEqual(interface.machine.state, State.REQUESTING)
        self.assertTrue(interface.done)
        self.assertIsInstance(interface.pending[-1], Probe)
        self.assertIsNone(interface.applied)
        self.assertEqual(h.configurator.calls, [])

    def test_budget_ends_the_loop_with_the_machine_where_it_stands(self):
        h = EarlyHarness(self)
        h.server.silent = True
        start = h.clock.monotonic()
        (interface,) = h.acquire(budget=1.5).values()
        self.assertEqual(interface.machine.state, State.SELECTING)
        self.assertFalse(interface.done)
        self.assertAlmostEqual(h.clock.monotonic() - start, 1.5, delta=1.0)
        self.assertGreater(interface.machine.next_deadline(), h.clock.monotonic())
        self.assertEqual(h.configurator.calls, [])

    def test_configure_false_binds_without_configuring(self):
        h = EarlyHarness(self, configure=False)
        (interface,) = h.acquire().values()
        self.assertEqual(interface.machine.state, State.BOUND)
        self.assertIsNone(interface.applied)
        self.assertEqual(h.configurator.calls, [])

    def test_absent_interface_or_no_carrier_is_left_to_the_reactor(self):
        self.assertEqual(EarlyHarness(self, present=False).acquire(), {})
        h = EarlyHarness(self, carrier="0")
        self.assertEqual(h.acquire(), {})
        self.assertEqual(h.sockets.opened, 0)

    def test_inform_interface_is_left_to_the_reactor(self):
        h = EarlyHarness(self, inform=IPv4Interface("10.0.0.50/24"))
        self.assertEqual(h.acquire(), {})

    def test_socket_error_is_left_to_the_reactor(self):
        h = EarlyHarness(self)

        def refuse(ifname):
            raise PermissionError(1, "Operation not permitted")

        self.assertEqual(early.acquire(h.cfg, h.state_dir, 1.0, clock=h.clock, sysfs=h.sysfs, open_sockets=refuse,
                                       configurator_factory=lambda: h.configurator, wait=h.server), {})

    def test_a_failing_configurator_call_is_logged_and_the_rest_still_run(self):
        h = EarlyHarness(self)
        configurator = RaisingConfigurator()
        (interface,) = h.acquire(configurator=configurator).values()
        self.assertEqual(configurator.calls, ["add_address", "add_route"])
        self.assertEqual(interface.machine.state, State.BOUND)

    def test_an_unexpected_error_gives_up_and_closes_the_sockets(self):
        h = EarlyHarness(self)

        def broken():
            raise RuntimeError("no netlink")

        result = early.acquire(h.cfg, h.state_dir, 1.0, clock=h.clock, sysfs=h.sysfs, open_sockets=h.sockets,
                               configurator_factory=broken, wait=h.server)
        self.assertEqual(result, {})
        self.assertTrue(h.sockets.receive.closed)
        self.assertTrue(h.sockets.send.closed)

    def test_malformed_frames_are_counted_and_skipped(self):
        h = EarlyHarness(self)
        server = h.server

        def garbage_first(readable, timeout):
            if server.waits == 0:
                h.sockets.receive.queue(b"\x45garbage")
            return server(readable, timeout)

        h.server = garbage_first
        (interface,) = h.acquire().values()
        self.assertEqual(interface.machine.state, State.BOUND)
        self.assertEqual(sum(interface.drops.values()), 1)


class AdoptTests(SynchronousTestCase):
    """
    The agent takes over: what the early path left (registry, lease file,
    hooks) is done, the applied address is not applied twice, and the lease
    timers run under the reactor.
    """

    def adopt(self, h: EarlyHarness, interface) -> tuple[ClientAgent, RecordingConfigurator, LeaseRegistry, FakeSpawn]:
        configurator = RecordingConfigurator()
        registry = LeaseRegistry(now=h.clock.wall)
        spawn = FakeSpawn(auto_exit=True)
        agent = ClientAgent(h.cfg.interfaces[0], h.reactor, clock=h.clock, configurator=configurator,
                            registry=registry, state_dir=h.state_dir, rng=random.Random(1),
                            open_sockets=h.sockets, spawn=spawn)
        agent.adopt(interface)
        self.addCleanup(lambda: agent.stop() if agent.running else None)
        h.reactor.advance(0)
        return agent, configurator, registry, spawn

    def test_bound_interface_is_recorded_persisted_and_hooked_but_not_reconfigured(self):
        h = EarlyHarness(self, script="/hook")
        (interface,) = h.acquire().values()
        agent, configurator, registry, spawn = self.adopt(h, interface)
        self.assertTrue(agent.running)
        self.assertIs(agent.machine, interface.machine)
        self.assertEqual(configurator.calls, [])
        self.assertEqual(registry.lease("wan0", 4), interface.machine.bound)
        self.assertTrue(os.path.exists(lease_path(h.state_dir, "wan0")))
        self.assertEqual(spawn.actions, ["bound"])
        self.assertEqual(agent.sent, 2)

    def test_renewal_after_adoption_goes_through_the_agent(self):
        h = EarlyHarness(self)
        (interface,) = h.acquire().values()
        agent, _, _, _ = self.adopt(h, interface)
        before = len(h.sockets.send.sent)
        h.clock.advance(301)  # T1 of a 600 s lease
        (request, address) = h.sockets.send.messages()[before]
        self.assertEqual(request.message_type, MessageType.REQUEST)
        self.assertEqual(address, ("10.0.0.1", 67))
        self.assertEqual(agent.machine.state, State.RENEWING)

    def test_probe_handed_over_runs_under_the_reactor(self):
        h = EarlyHarness(self, arp_probe=True)
        (interface,) = h.acquire().values()
        configurator = RecordingConfigurator()
        probes = []

        class Prober:
            def __init__(self, *args, **kwargs):
                pass

            def probe(self, address):
                from twisted.internet import defer

                probes.append(address)
                return defer.succeed(False)

            def cancel(self):
                pass

        agent = ClientAgent(h.cfg.interfaces[0], h.reactor, clock=h.clock, configurator=configurator,
                            rng=random.Random(1), open_sockets=h.sockets, prober_factory=Prober)
        agent.adopt(interface)
        self.addCleanup(agent.stop)
        self.assertEqual(probes, [IPv4Address("10.0.0.10")])
        self.assertEqual(agent.machine.state, State.BOUND)
        self.assertEqual([name for name, _ in configurator.calls], ["add_address", "add_route"])

    def test_unfinished_acquisition_carries_on_under_the_reactor(self):
        h = EarlyHarness(self)
        h.server.silent = True
        (interface,) = h.acquire(budget=1.0).values()
        agent, _, _, _ = self.adopt(h, interface)
        sent = len(h.sockets.send.sent)
        h.clock.advance(10)
        self.assertGreater(len(h.sockets.send.sent), sent)  # DISCOVER resent by the agent's timer
        self.assertEqual(agent.machine.state, State.SELECTING)

    def test_adopting_twice_is_refused(self):
        h = EarlyHarness(self)
        (interface,) = h.acquire().values()
        agent, _, _, _ = self.adopt(h, interface)
        self.assertRaises(RuntimeError, agent.adopt, interface)


# Packages the early path must not import, with what each costs a cold
# start here: Twisted and zope (~200 ms), ctypes, attrs (~40 ms with the
# inspect module it pulls in), argparse (~10 ms with shutil and gettext),
# tomllib (~15 ms with typing, re and datetime; dhcpsuite.tomlcache), json
# (only to read a lease file that exists), socket.py (~3 ms converting
# constants into enums; the C module _socket has all the early path uses),
# random (~0.9 ms with math, bisect and hashlib's SHA-512;
# dhcpsuite.client.system.urandom).
HEAVY_PACKAGES = ("twisted", "zope", "ctypes", "attr", "attrs", "inspect", "argparse", "shutil", "gettext",
                  "tomllib", "typing", "re", "datetime", "json", "socket", "selectors", "random", "math",
                  "hashlib", "_sha512")


class NoTwistedTests(SynchronousTestCase):
    def test_the_early_path_imports_neither_twisted_nor_zope(self):
        code = (
            "import sys\n"
            "from dhcpsuite import lazylog\n"
            "from dhcpsuite.config import load_config\n"
            "import dhcpsuite.client.early, dhcpsuite.client.config, dhcpsuite.netlink.blocking\n"
            "from dhcpsuite.client.__main__ import parse_arguments\n"
            "parse_arguments(['--config', 'x', '--early-timeout', '1'])\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_PACKAGES!r}))\n"
        )
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=REPOSITORY).stdout
        self.assertEqual(output.strip(), "[]")


def _defaults(method: str) -> dict:
    return {
        "add_address": {"broadcast": None, "valid_lifetime": None, "preferred_lifetime": None},
        "add_route": {"gateway": None, "ifname": None, "metric": None, "table": None, "source": None},
        "set_mtu": {},
    }[method]
