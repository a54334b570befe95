"""
Tests for the lease import: L{dhcpsuite.migration.plan} (which foreign
leases become bindings and why the others do not), L{importer} (writing
them through L{ILeaseStore} and refusing a store the daemon holds) and the
ctl subcommand's report.

Kea's C{lease4-upload}/memfile import and dhcpd's own start-up read keep
every record they can parse; our import goes further and checks each one
against the new configuration, because a binding our server would NAK at
renewal is worse than none.
"""

from __future__ import annotations

import json
import os
import tempfile
from ipaddress import IPv4Address

import attrs
from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import parse_config_text
from dhcpsuite.control.cli import build_parser
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.migration import ctl
from dhcpsuite.migration.importer import ImportRefused, StoreKind, import_leases, processes_holding
from dhcpsuite.migration.leasefiles import LeaseFile, Unreadable
from dhcpsuite.migration.plan import SkipReason, clean_hostname, plan_import
from dhcpsuite.migration.records import ForeignLease

A = IPv4Address
NOW = 1_800_000_000.0
CONFIG = """
[server]
[[server.subnet]]
subnet = "10.77.0.0/16"
interface = "srv0"
pool = ["10.77.0.100-10.77.0.199"]
max_lease_time = 7200
[[server.subnet.reservation]]
mac = "02:00:00:00:00:09"
address = "10.77.0.9"
[[server.subnet.reservation]]
client_id = "ff:00:01"
address = "10.77.0.8"
"""


def server_config():
    return parse_config_text(CONFIG).section("server")


def foreign(n: int, address: str, expires: float | None = NOW + 600, **kw) -> ForeignLease:
    fields = dict(
        address=A(address), mac=bytes.fromhex(f"0200000000{n:02x}"), client_id=b"", expires=expires,
        hostname=f"h{n}", active=True, state="active", where=f"f:{n}",
    )
    fields.update(kw)
    return ForeignLease(**fields)


def store_with(*leases: Lease) -> MemoryLeaseStore:
    store = MemoryLeaseStore()
    for lease in leases:
        store.put(lease)
    return store


def reasons(plan) -> dict[str, str]:
    return {s.address: s.reason for s in plan.skipped}


class PlanTests(SynchronousTestCase):
    def test_bound_lease_imported(self):
        """
        An active lease in a pool becomes a BOUND binding with the old end
        time, keyed by option 61, or by hardware type 1 and the MAC (how our
        server keys a client that sends no option 61).
        """
        plan = plan_import(
            LeaseFile((foreign(1, "10.77.0.100"), foreign(2, "10.77.0.101", client_id=b"\x01abc"))),
            server_config(), MemoryLeaseStore(), NOW,
        )
        self.assertEqual(plan.skipped, ())
        leases = {i.lease.address: i.lease for i in plan.imported}
        self.assertEqual(
            leases[A("10.77.0.100")],
            Lease(A("10.77.0.100"), LeaseState.BOUND, b"\x01\x02\x00\x00\x00\x00\x01", bytes.fromhex("020000000001"), NOW + 600, "h1", NOW),
        )
        self.assertEqual(leases[A("10.77.0.101")].client_key, b"\x01abc")
        self.assertEqual(plan.counts(), {"imported": 2})

    def test_infinite_lease_capped(self):
        plan = plan_import(LeaseFile((foreign(1, "10.77.0.100", expires=None),)), server_config(), MemoryLeaseStore(), NOW)
        self.assertEqual(plan.imported[0].lease.expires, NOW + 7200)

    def test_each_skip_reason(self):
        """
        Every record not imported is reported with its reason and where it was.
        """
        held = Lease(A("10.77.0.110"), LeaseState.BOUND, b"\x01other", b"\x02" * 6, NOW + 60)
        source = LeaseFile(
            (
                foreign(1, "10.77.0.100", active=False, state="free"),
                foreign(2, "10.77.0.101", expires=NOW - 5),
                foreign(3, "10.99.0.1"),
                foreign(4, "10.77.0.50"),
                foreign(5, "10.77.0.9"),
                foreign(9, "10.77.0.102"),
                foreign(6, "10.77.0.110"),
                foreign(7, "10.77.0.111", mac=b""),
                foreign(8, "10.77.0.8", mac=bytes(6)),
            ),
            (Unreadable("f:99", "fd00::1", "dhcpv6-lease"),),
        )
        plan = plan_import(source, server_config(), store_with(held), NOW)
        self.assertEqual(plan.imported, ())
        self.assertEqual(
            reasons(plan),
            {
                "fd00::1": SkipReason.NOT_IPV4,
                "10.77.0.100": SkipReason.NOT_ACTIVE,
                "10.77.0.101": SkipReason.EXPIRED,
                "10.99.0.1": SkipReason.OUTSIDE_SUBNETS,
                "10.77.0.50": SkipReason.OUTSIDE_POOLS,
                "10.77.0.9": SkipReason.RESERVED_FOR_ANOTHER,
                "10.77.0.102": SkipReason.CLIENT_RESERVED_ELSEWHERE,
                "10.77.0.110": SkipReason.BOUND_TO_ANOTHER,
                "10.77.0.111": SkipReason.NO_CLIENT_IDENTITY,
                "10.77.0.8": SkipReason.RESERVED_FOR_ANOTHER,
            },
        )
        self.assertEqual(sum(plan.counts().values()), len(source.leases) + 1)

    def test_reserved_address_outside_pool_for_its_client(self):
        """
        A client's own reservation is imported even outside the pools: our
        server ACKs it there.
        """
        plan = plan_import(
            LeaseFile((foreign(9, "10.77.0.9"), foreign(1, "10.77.0.8", client_id=b"\xff\x00\x01"))),
            server_config(), MemoryLeaseStore(), NOW,
        )
        self.assertEqual(sorted(str(i.lease.address) for i in plan.imported), ["10.77.0.8", "10.77.0.9"])

    def test_one_binding_per_client(self):
        """
        A client with two addresses keeps the one that ends last.
        """
        plan = plan_import(
            LeaseFile((foreign(1, "10.77.0.100", expires=NOW + 900), foreign(1, "10.77.0.101", expires=NOW + 60))),
            server_config(), MemoryLeaseStore(), NOW,
        )
        self.assertEqual([str(i.lease.address) for i in plan.imported], ["10.77.0.100"])
        self.assertEqual(reasons(plan), {"10.77.0.101": SkipReason.CLIENT_HAS_LATER_LEASE})

    def test_same_binding_already_in_store(self):
        """
        Running the import twice changes nothing the second time.
        """
        store = MemoryLeaseStore()
        source = LeaseFile((foreign(1, "10.77.0.100"),))
        for entry in plan_import(source, server_config(), store, NOW).imported:
            store.put(entry.lease)
        again = plan_import(source, server_config(), store, NOW)
        self.assertEqual((again.imported, reasons(again)), ((), {"10.77.0.100": SkipReason.ALREADY_IN_STORE}))

    def test_client_already_bound_elsewhere(self):
        """
        A client that already holds another address from us keeps that one:
        one binding per client.
        """
        mine = Lease(A("10.77.0.150"), LeaseState.BOUND, b"\x01\x02\x00\x00\x00\x00\x01", bytes.fromhex("020000000001"), NOW + 60)
        plan = plan_import(LeaseFile((foreign(1, "10.77.0.100"),)), server_config(), store_with(mine), NOW)
        self.assertEqual(reasons(plan), {"10.77.0.100": SkipReason.CLIENT_BOUND_ELSEWHERE})
        lapsed = attrs.evolve(mine, expires=NOW - 1)
        self.assertEqual(len(plan_import(LeaseFile((foreign(1, "10.77.0.100"),)), server_config(), store_with(lapsed), NOW).imported), 1)

    def test_hostname_cleaned(self):
        self.assertEqual(clean_hostname("evil\x1b[31mhost<b>;rm -rf"), "evil31mhostbrm-rf")
        self.assertEqual(len(clean_hostname("a" * 1000)), 253)


class RecordingStore(MemoryLeaseStore):
    def __init__(self):
        super().__init__()
        self.calls = []

    def put(self, lease, durable=True):
        self.calls.append(("put", lease.address))
        super().put(lease, durable)

    def committed(self):
        self.calls.append(("committed",))
        return succeed(None)

    def close(self):
        self.calls.append(("close",))
        return succeed(None)


class ImporterTests(SynchronousTestCase):
    def test_writes_then_waits_for_commit(self):
        store = RecordingStore()
        kind = StoreKind(lambda config, state_dir, reactor: store, lambda config, state_dir: [])
        source = LeaseFile((foreign(1, "10.77.0.100"), foreign(2, "10.77.0.101", expires=NOW - 1)))
        plan = self.successResultOf(import_leases(source, server_config(), "/nonexistent", None, NOW, kind=kind))
        self.assertEqual(len(plan.imported), 1)
        self.assertEqual(store.calls, [("put", A("10.77.0.100")), ("committed",), ("close",)])

    def test_dry_run_writes_nothing(self):
        store = RecordingStore()
        kind = StoreKind(lambda config, state_dir, reactor: store, lambda config, state_dir: [])
        self.successResultOf(import_leases(LeaseFile((foreign(1, "10.77.0.100"),)), server_config(), "/x", None, NOW, True, kind))
        self.assertEqual(store.calls, [("close",)])

    def test_refuses_a_held_store(self):
        opened = []
        kind = StoreKind(lambda *a: opened.append(a), lambda config, state_dir: [4242])
        failure = self.failureResultOf(import_leases(LeaseFile(()), server_config(), "/x", None, NOW, kind=kind), ImportRefused)
        self.assertIn("in use by process 4242", str(failure.value))
        self.assertEqual(opened, [])

    def test_refuses_memory_store(self):
        config = parse_config_text(CONFIG.replace("[server]", '[server]\nlease_store = "memory"')).section("server")
        self.failureResultOf(import_leases(LeaseFile(()), config, "/x", None, NOW), ImportRefused)

    def test_processes_holding(self):
        """
        A process with the database open is found through /proc, as fuser
        finds it (this process itself does not count).
        """
        directory = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, directory)
        path = os.path.join(directory, "db")
        proc = os.path.join(directory, "proc")
        for pid, target in (("4242", path), ("77", "/elsewhere"), (str(os.getpid()), path), ("self", path)):
            os.makedirs(os.path.join(proc, pid, "fd"))
            os.symlink(target, os.path.join(proc, pid, "fd", "3"))
        self.addCleanup(__import__("shutil").rmtree, proc)
        self.assertEqual(processes_holding(path, proc), [4242])


class CtlTests(SynchronousTestCase):
    def test_subcommand_registered(self):
        args = build_parser().parse_args(["--json", "import-leases", "--from", "isc-dhcpd", "/var/lib/dhcp/dhcpd.leases", "--dry-run"])
        self.assertEqual((args.command, args.source, args.file, args.dry_run, args.json), ("import-leases", "isc-dhcpd", "/var/lib/dhcp/dhcpd.leases", True, True))

    def test_report(self):
        """
        Every record appears once, imported or skipped with its reason; a
        hostile value cannot reach the terminal as an escape sequence.
        """
        plan = plan_import(
            LeaseFile((foreign(1, "10.77.0.100"), foreign(2, "10.77.0.101", active=False, state="\x1b[2Jgone"))),
            server_config(), MemoryLeaseStore(), NOW,
        )
        text = ctl.render(plan, "dhcpd.leases", False, False)
        self.assertEqual(
            text.splitlines(),
            [
                "f:1: 10.77.0.100 02:00:00:00:00:01: imported into 10.77.0.0/16",
                "f:2: 10.77.0.101 02:00:00:00:00:02: skipped, not-active (state \\x1b[2Jgone)",
                "dhcpd.leases: imported 1, not-active 1",
            ],
        )
        data = json.loads(ctl.render(plan, "dhcpd.leases", True, True))
        self.assertEqual(data["counts"], {"imported": 1, "not-active": 1})
        self.assertEqual(data["skipped"][0]["reason"], "not-active")

    def capture_stderr(self) -> list[str]:
        errors: list[str] = []
        self.patch(ctl.sys, "stderr", type("E", (), {"write": lambda self, t: errors.append(t), "flush": lambda self: None})())
        return errors

    def write(self, data: bytes) -> str:
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        os.write(fd, data)
        os.close(fd)
        return path

    def test_exit_status_on_parse_error(self):
        """
        A bad lease file: exit 2 and the message names file:line.
        """
        path = self.write(b"1 02:00:00:00:00:01 10.0.0.1 h *\nbroken\n")
        config = self.write(CONFIG.encode())
        errors = self.capture_stderr()
        args = build_parser().parse_args(["import-leases", "--from", "dnsmasq", path, "--server-config", config])
        self.assertEqual(ctl.run(args), 2)
        self.assertIn(f"{path}:2: expected EXPIRY", "".join(errors))

    def test_configuration_required(self):
        """
        Without the daemon's configuration there is no store to import
        into: exit 2 rather than the embedded default's.
        """
        errors = self.capture_stderr()
        args = build_parser().parse_args(["import-leases", "--from", "kea", "/nonexistent.csv"])
        self.assertEqual(ctl.run(args), 2)
        self.assertIn("--server-config FILE", "".join(errors))
