"""
Hook environment (udhcpc-compatible), the argv[1] mapping, ordering and the
SIGTERM / SIGKILL timeouts, with a Clock and a fake spawnProcess.
"""

from ipaddress import IPv4Address, IPv4Network

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.core import machine as m
from dhcpsuite.client.shell.hooks import HookRunner, hook_environment, udhcpc_actions
from dhcpsuite.client.core.lease import Lease
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
        env = hook_environment("wan0", m.Event.BOUND, lease({
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
        env = hook_environment("wan0", m.Event.NAK, None, nak)
        self.assertEqual(env["message"], "wrong network")
        self.assertNotIn("ip", env)

    def test_udhcpc_actions(self):
        self.assertEqual(udhcpc_actions(m.Event.BOUND), ("bound",))
        self.assertEqual(udhcpc_actions(m.Event.EXTEND), ("renew",))
        for event in (m.Event.EXPIRE, m.Event.DROP, m.Event.RELEASE):
            self.assertEqual(udhcpc_actions(event), ("deconfig",))
        self.assertEqual(udhcpc_actions(m.Event.NAK), ("nak",))
        self.assertEqual(udhcpc_actions(m.Event.NAK, lease_removed=True), ("nak", "deconfig"))
        self.assertEqual(udhcpc_actions(m.Event.LEASEFAIL), ("leasefail",))


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


def _labels(*names):
    return b"".join(bytes([len(label)]) + label for label in names) + b"\0"


class HostileValueTests(SynchronousTestCase):
    """
    Values a rogue server sends for the hook. The reference is busybox
    udhcpc (networking/udhcp/dhcpc.c, its fix for CVE-2011-2716): options
    of type OPTION_STRING_HOST (hostname 12, domain 15, NIS domain 40, TFTP
    server 66) are checked label by label with good_hostname() and an
    invalid one is passed to the script as "bad"; tests/integration/
    test_client_hostile.py drives udhcpc itself with the same offer.
    """

    def environment(self, options, rejected=None):
        ack = reply_to(Message(op=1, xid=5, chaddr=MAC), MessageType.ACK, yiaddr="10.0.0.10", lease_time=600)
        for code, raw in options.items():
            ack.options[code] = raw
        return hook_environment("wan0", m.Event.BOUND, Lease.from_ack(ack, 0.0, 0.0), rejected=rejected)

    def test_shell_and_newline_injection_become_bad(self):
        rejected = []
        env = self.environment({
            Option.HOST_NAME: b"h;touch /tmp/x;$(reboot)",
            Option.DOMAIN_NAME: b"e.x\nnameserver 6.6.6.6",
            40: b"nis domain",
            Option.TFTP_SERVER_NAME: b"-oProxyCommand=x",
            Option.BOOTFILE_NAME: b"pxe`id`.0",
            Option.ROOT_PATH: b"/srv/root;rm -rf /",
        }, rejected)
        for name in ("hostname", "domain", "nisdomain", "tftp", "bootfile", "rootpath"):
            self.assertEqual(env[name], "bad", name)
        self.assertEqual(sorted(rejected), ["bootfile", "domain", "hostname", "nisdomain", "rootpath", "tftp"])

    def test_a_trailing_newline_is_bad(self):
        """
        udhcpc checks every character of a name; a "$" in a regular
        expression once let one trailing newline through.
        """
        rejected = []
        env = self.environment({
            Option.HOST_NAME: b"gw-1\n",
            Option.DOMAIN_NAME: b"corp.example.net\n",
            Option.ROOT_PATH: b"10.0.0.1:/srv/nfsroot\n",
        }, rejected)
        self.assertEqual((env["hostname"], env["domain"], env["rootpath"]), ("bad", "bad", "bad"))
        self.assertEqual(sorted(rejected), ["domain", "hostname", "rootpath"])

    def test_valid_names_and_paths_pass(self):
        rejected = []
        env = self.environment({
            Option.HOST_NAME: b"gw-1",
            Option.DOMAIN_NAME: b"corp.example.net.",
            40: b"nis_dom",
            Option.TFTP_SERVER_NAME: b"tftp.example.net",
            Option.BOOTFILE_NAME: b"boot\\x86\\wdsnbp.com",
            Option.ROOT_PATH: b"10.0.0.1:/srv/nfsroot",
        }, rejected)
        self.assertEqual(env["hostname"], "gw-1")
        self.assertEqual(env["domain"], "corp.example.net.")
        self.assertEqual(env["nisdomain"], "nis_dom")
        self.assertEqual(env["tftp"], "tftp.example.net")
        self.assertEqual(env["bootfile"], "boot\\x86\\wdsnbp.com")
        self.assertEqual(env["rootpath"], "10.0.0.1:/srv/nfsroot")
        self.assertEqual(rejected, [])

    def test_udhcpc_names_for_options_the_codec_has_no_type_for(self):
        """
        busybox udhcpc (networking/udhcp/common.c) exports options 9, 16,
        40, 41 and 249 by name though our codec has no value type for them;
        so do we (the names live in dhcp4.options.UDHCPC_NAMES), and an
        option in neither table goes as opt<code>=<hex>, as udhcpc's does.
        """
        env = self.environment({
            Option.LPR_SERVER: bytes([10, 0, 0, 9]),
            Option.SWAP_SERVER: bytes([10, 0, 0, 16]),
            Option.NIS_DOMAIN: b"nis.example",
            Option.NIS_SERVERS: bytes([10, 0, 0, 41, 10, 0, 0, 42]),
            Option.MS_CLASSLESS_STATIC_ROUTE: bytes([8, 10, 10, 0, 0, 1]),
            224: b"\x01\x02",
        })
        self.assertEqual(
            (env["lprsrv"], env["swapsrv"], env["nisdomain"], env["nissrv"], env["msstaticroutes"], env["opt224"]),
            ("10.0.0.9", "10.0.0.16", "nis.example", "10.0.0.41 10.0.0.42", "10.0.0.0/8 10.0.0.1", "0102"),
        )

    def test_label_rules(self):
        for bad in (b"-leading.example", b"a..b", b"a b", b"x" * 64 + b".net", b".", b"a.b\0c", b"caf\xc3\xa9"):
            self.assertEqual(self.environment({Option.HOST_NAME: bad})["hostname"], "bad", bad)
        # Trailing NULs are C padding, not part of the name.
        self.assertEqual(self.environment({Option.HOST_NAME: b"gw\0\0"})["hostname"], "gw")

    def test_header_fields_checked(self):
        ack = reply_to(Message(op=1, xid=5, chaddr=MAC), MessageType.ACK, lease_time=600)
        ack.sname = b"srv$(id)"
        ack.file = b"boot\nfile"
        env = hook_environment("wan0", m.Event.BOUND, Lease.from_ack(ack, 0.0, 0.0))
        self.assertEqual((env["sname"], env["boot_file"]), ("bad", "bad"))

    def test_free_text_has_no_control_bytes(self):
        nak = reply_to(Message(op=1, xid=5, chaddr=MAC), MessageType.NAK)
        nak.options[Option.MESSAGE] = b"wrong\r\n\x1b[2Jnet\0work"
        env = hook_environment("wan0", m.Event.NAK, None, nak)
        self.assertEqual(env["message"], "wrong???[2Jnet?work")

    def test_no_value_has_a_nul_or_control_byte(self):
        env = self.environment({
            Option.HOST_NAME: b"a\0b", Option.DOMAIN_NAME: b"\x1b[31m", Option.MESSAGE: b"m\0n",
            Option.ROOT_PATH: b"\0/x", 224: b"\0\n",
        })
        for key, value in env.items():
            self.assertNotRegex(value, "[\x00-\x1f\x7f]", key)

    def test_domain_search_is_udhcpc_search(self):
        # RFC 3397 section 2's example: compression pointer to "eng.apple.com".
        raw = _labels(b"eng", b"apple", b"com") + _labels(b"marketing")[:-1] + b"\xc0\x04"
        env = self.environment({Option.DOMAIN_SEARCH: raw})
        self.assertEqual(env["search"], "eng.apple.com marketing.apple.com")
        self.assertNotIn("opt119", env)

    def test_domain_search_hostile_or_malformed(self):
        for raw in (
            _labels(b"ok", b"net") + _labels(b"x\nnameserver 6.6.6.6"),
            b"\xc0\x00",  # points at itself
            b"\x03abc",  # runs past the end
            b"\x03abc\xc0\x05",  # points forward
        ):
            rejected = []
            self.assertEqual(self.environment({Option.DOMAIN_SEARCH: raw}, rejected)["search"], "bad", raw)
            self.assertEqual(rejected, ["search"])


class RunnerNulTests(SynchronousTestCase):
    def test_a_nul_in_a_value_does_not_stop_the_hook(self):
        """
        execve refuses an environment string with a NUL ("embedded null
        byte"); the runner replaces it so the hook still runs.
        """
        seen = []

        def spawn(protocol, executable, args, env=None, **kw):
            for key, value in env.items():
                if "\0" in key or "\0" in value:
                    raise ValueError("embedded null byte")
            seen.append(env)
            return FakeSpawn()(protocol, executable, args, env=env)

        clock = Clock()
        runner = HookRunner("/hook", clock, spawn=spawn)
        runner.run("bound", {"hostname": "a\0b"})
        self.assertEqual(seen[0]["hostname"], "a?b")
        self.assertEqual(dict(runner.results), {})
