"""
Hook environment (udhcpc-compatible), the argv[1] mapping, ordering and the
SIGTERM / SIGKILL timeouts, with a Clock and a fake spawnProcess.
"""

from ipaddress import IPv4Address, IPv4Network

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client import machine as m
from dhcpsuite.client.hooks import HookRunner, hook_environment, udhcpc_actions
from dhcpsuite.client.lease import Lease
from dhcpsuite.client.testing import FakeSpawn, reply_to
from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.dhcp4.options import ClasslessRoute
from dhcpsuite.dhcp4.packet import Message

MAC = bytes.fromhex("020000000001")


def lease(options=None):
    ack = reply_to(Message(op=1, xid=5, chaddr=MAC), MessageType.ACK, yiaddr="10.0.0.10", lease_time=600,
                   options=options)
    return Lease.from_ack(ack, 0.0, 0.0)


class EnvironmentTests(SynchronousTestCase):
    def test_udhcpc_variables(self):
        env = hook_environment("wan0", m.BOUND, lease({
            Option.ROUTER: [IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")],
            Option.DOMAIN_NAME_SERVER: [IPv4Address("10.0.0.53"), IPv4Address("10.0.0.54")],
            Option.DOMAIN_NAME: "example.net",
            Option.HOST_NAME: "gw",
            Option.BROADCAST_ADDRESS: IPv4Address("10.0.0.255"),
            Option.INTERFACE_MTU: 1492,
            Option.NTP_SERVERS: [IPv4Address("10.0.0.123")],
            Option.CLASSLESS_STATIC_ROUTE: [
                ClasslessRoute(IPv4Network("10.9.0.0/16"), IPv4Address("10.0.0.1")),
                ClasslessRoute(IPv4Network("0.0.0.0/0"), IPv4Address("10.0.0.1")),
            ],
            200: b"\x01\x02",
        }))
        self.assertEqual(env["interface"], "wan0")
        self.assertEqual(env["ip"], "10.0.0.10")
        self.assertEqual(env["subnet"], "255.255.255.0")
        self.assertEqual(env["mask"], "24")
        self.assertEqual(env["router"], "10.0.0.1 10.0.0.2")
        self.assertEqual(env["dns"], "10.0.0.53 10.0.0.54")
        self.assertEqual(env["domain"], "example.net")
        self.assertEqual(env["hostname"], "gw")
        self.assertEqual(env["lease"], "600")
        self.assertEqual(env["serverid"], "10.0.0.1")
        self.assertEqual(env["broadcast"], "10.0.0.255")
        self.assertEqual(env["mtu"], "1492")
        self.assertEqual(env["ntpsrv"], "10.0.0.123")
        self.assertEqual(env["staticroutes"], "10.9.0.0/16 10.0.0.1 0.0.0.0/0 10.0.0.1")
        self.assertEqual(env["opt200"], "0102")
        self.assertEqual(env["reason"], "BOUND")
        self.assertEqual(env["opt53"], "05")  # as udhcpc does

    def test_nak_environment(self):
        nak = reply_to(Message(op=1, xid=5, chaddr=MAC), MessageType.NAK, options={Option.MESSAGE: "wrong network"})
        env = hook_environment("wan0", m.NAK, None, nak)
        self.assertEqual(env["message"], "wrong network")
        self.assertNotIn("ip", env)

    def test_udhcpc_actions(self):
        self.assertEqual(udhcpc_actions(m.BOUND), ("bound",))
        self.assertEqual(udhcpc_actions(m.EXTEND), ("renew",))
        for event in (m.EXPIRE, m.DROP, m.RELEASE):
            self.assertEqual(udhcpc_actions(event), ("deconfig",))
        self.assertEqual(udhcpc_actions(m.NAK), ("nak",))
        self.assertEqual(udhcpc_actions(m.NAK, lease_removed=True), ("nak", "deconfig"))
        self.assertEqual(udhcpc_actions(m.LEASEFAIL), ("leasefail",))


class RunnerTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.spawn = FakeSpawn()
        self.runner = HookRunner("/hook", self.clock, spawn=self.spawn)

    def test_argv_and_environment(self):
        d = self.runner.run("bound", {"interface": "wan0", "ip": "10.0.0.10"})
        (process,) = self.spawn.processes
        self.assertEqual(process.argv, ["/hook", "bound"])
        self.assertEqual(process.env["ip"], "10.0.0.10")
        self.assertIn("PATH", process.env)
        process.end(0)
        self.assertEqual(self.successResultOf(d), 0)

    def test_one_at_a_time_in_order(self):
        first = self.runner.run("bound", {})
        second = self.runner.run("deconfig", {})
        self.assertEqual(self.spawn.actions, ["bound"])
        self.spawn.processes[0].end(0)
        self.assertEqual(self.spawn.actions, ["bound", "deconfig"])
        self.spawn.processes[1].end(3)
        self.assertEqual(self.successResultOf(first), 0)
        self.assertEqual(self.successResultOf(second), 3)

    def test_term_at_55_kill_at_58(self):
        d = self.runner.run("bound", {})
        (process,) = self.spawn.processes
        self.clock.advance(54.9)
        self.assertEqual(process.signals, [])
        self.clock.advance(0.1)
        self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(2.9)
        self.assertEqual(process.signals, ["TERM"])
        self.clock.advance(0.1)
        self.assertEqual(process.signals, ["TERM", "KILL"])
        self.assertEqual(self.successResultOf(d), -9)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_exit_cancels_timers(self):
        self.runner.run("bound", {})
        self.spawn.processes[0].end(0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_wait_idle(self):
        self.assertTrue(self.runner.wait_idle().called)
        self.runner.run("bound", {})
        self.runner.run("renew", {})
        idle = self.runner.wait_idle()
        self.spawn.processes[0].end(0)
        self.assertNoResult(idle)
        self.spawn.processes[1].end(0)
        self.successResultOf(idle)

    def test_spawn_failure_does_not_stall(self):
        def broken(*a, **kw):
            raise OSError(2, "No such file")

        runner = HookRunner("/missing", self.clock, spawn=broken)
        self.assertIsNone(self.successResultOf(runner.run("bound", {})))
        self.assertFalse(runner.busy)
        self.assertEqual(dict(runner.results), {"not-started": 1})

    def test_results_counted(self):
        for _ in range(3):
            self.runner.run("bound", {})
        self.spawn.processes[0].end(0)
        self.spawn.processes[1].end(2)
        self.clock.advance(58)
        self.assertEqual(dict(self.runner.results), {"ok": 1, "failed": 1, "killed": 1})
