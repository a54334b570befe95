"""
Tests for what the persistent stores share (L{dhcpsuite.leases.writebehind})
with a scripted backend, the backend table (L{dhcpsuite.leases.stores}) and
the C{[server.postgresql]} keys.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import ConfigError, parse_config_text
from dhcpsuite.leases import stores
from dhcpsuite.leases.lease import LeaseState
from dhcpsuite.leases.writebehind import Conflict, LeaseStoreError, WriteBehindStore, lease_row
from dhcpsuite.server.config import PostgreSQLConfig
from tests.unit.test_lease_stores import WAIT, ThreadCallReactor, lease

A = IPv4Address


class Unavailable(Exception):
    pass


class ScriptedBackend:
    """
    A database that fails while C{down} is set and refuses puts of the
    addresses in C{taken} (as another server's binding would).
    """

    description = "scripted"
    transient_errors = (Unavailable,)
    retry_first = 0.01
    retry_most = 0.05

    def __init__(self, rows=()) -> None:
        self.rows = {l.address: l for l in rows}
        self.down = threading.Event()
        self.taken: dict = {}
        self.connects = 0
        self.attempts = 0
        self.batches: list[tuple[list, list]] = []

    def load(self):
        return iter([lease_row(l) for l in self.rows.values()])

    def connect(self):
        self.attempts += 1
        if self.down.is_set():
            raise Unavailable("connection refused")
        self.connects += 1
        return object()

    def write(self, connection, upserts, deletes):
        if self.down.is_set():
            raise Unavailable("server closed the connection unexpectedly\nThis probably means...")
        self.batches.append((list(upserts), list(deletes)))
        conflicts = []
        for one in upserts:
            if one.address in self.taken:
                conflicts.append(Conflict(one, self.taken[one.address]))
            else:
                self.rows[one.address] = one
        for address in deletes:
            self.rows.pop(address, None)
        return conflicts

    def close(self, connection) -> None:
        pass


class TimedBackend(ScriptedBackend):
    """
    A scripted backend with a commit interval that notes when each batch
    was written.
    """

    def __init__(self, commit_interval: float) -> None:
        super().__init__()
        self.commit_interval = commit_interval
        self.written_at: list[float] = []

    def write(self, connection, upserts, deletes):
        self.written_at.append(time.monotonic())
        return super().write(connection, upserts, deletes)


class EngineTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = ThreadCallReactor()

    def open(self, backend, lanes: int = 1) -> WriteBehindStore:
        store = WriteBehindStore(backend, reactor=self.reactor, lanes=lanes)
        self.addCleanup(self.close, store)
        return store

    def close(self, store) -> None:
        self.wait(store.close())
        self.assertTrue(store.join(WAIT))

    def wait(self, d):
        [result] = self.reactor.run_until(d)
        return result

    def test_loads_the_backend(self) -> None:
        store = self.open(ScriptedBackend([lease(1), lease(2)]))
        self.assertEqual(sorted(l.address for l in store.leases()), [A("10.0.0.1"), A("10.0.0.2")])

    def test_down_at_first_connect_then_back(self) -> None:
        backend = ScriptedBackend()
        backend.down.set()
        store = self.open(backend)
        store.put(lease(1))
        failure = self.wait(store.committed())
        self.assertTrue(failure.check(LeaseStoreError))
        self.assertEqual(failure.getErrorMessage(), "lease commit to scripted failed: connection refused")
        backend.down.clear()
        self.assertIsNone(self.wait(store.committed()))
        self.assertEqual(backend.rows, {A("10.0.0.1"): lease(1)})
        self.assertEqual(store.reconnects, 0)

    def test_lost_connection_reconnects_and_rewrites(self) -> None:
        backend = ScriptedBackend()
        store = self.open(backend)
        store.put(lease(1))
        self.wait(store.committed())
        backend.down.set()
        store.put(lease(2))
        store.put(lease(2, client=b"newer"))
        failure = self.wait(store.committed())
        # The first line of a multi-line driver message only.
        self.assertEqual(failure.getErrorMessage(), "lease commit to scripted failed: server closed the connection unexpectedly")
        backend.down.clear()
        self.assertIsNone(self.wait(store.committed()))
        # The last change per address, once.
        self.assertEqual(backend.rows[A("10.0.0.2")].client_key, b"newer")
        self.assertEqual(backend.batches[-1], ([lease(2, client=b"newer")], []))
        self.assertEqual(store.reconnects, 1)
        self.assertGreaterEqual(store.commit_failures, 1)

    def test_withdrawing_an_offer_deletes_nothing(self) -> None:
        """
        Two servers offered one client the same address; it chose the
        other, which committed the binding. Withdrawing this server's offer
        (never written: offers are not durable) must not delete that
        binding; removing a lease that was written (a revoke) still does.
        """
        backend = ScriptedBackend()
        store = self.open(backend)
        store.put(lease(1, state=LeaseState.OFFERED), durable=False)
        backend.rows[A("10.0.0.1")] = lease(1)
        store.remove(A("10.0.0.1"))
        self.assertIsNone(store.get(A("10.0.0.1")))
        self.assertIsNone(self.wait(store.committed()))
        self.assertEqual(backend.rows, {A("10.0.0.1"): lease(1)})
        self.assertEqual(backend.batches, [])
        store.put(lease(2))
        store.remove(A("10.0.0.2"))
        self.assertIsNone(self.wait(store.committed()))
        self.assertNotIn(A("10.0.0.2"), backend.rows)

    def test_retried_without_a_waiter(self) -> None:
        # Nobody asks again: the writer retries on its own and the row arrives.
        backend = ScriptedBackend()
        store = self.open(backend)
        backend.down.set()
        store.put(lease(1))
        self.assertTrue(self.wait(store.committed()).check(LeaseStoreError))
        backend.down.clear()
        import time

        deadline = time.monotonic() + WAIT
        while A("10.0.0.1") not in backend.rows and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertIn(A("10.0.0.1"), backend.rows)

    def test_outage_not_hammered_at_packet_rate(self) -> None:
        """
        While the database is down, a stream of ACKs waiting for commits
        does not make one connect attempt each: attempts follow the
        backoff, and every waiter still learns the outcome of one.
        """
        backend = ScriptedBackend()
        backend.retry_first, backend.retry_most = 0.2, 0.2
        store = self.open(backend)
        backend.down.set()
        waiters = []
        import time

        # ACKs arriving over half a second, one a millisecond.
        for i in range(500):
            store.put(lease(i % 250 + 1, client=b"c%d" % i))
            waiters.append(store.committed())
            time.sleep(0.001)
        for d in waiters:
            self.assertTrue(self.wait(d).check(LeaseStoreError))
        self.assertLessEqual(backend.attempts, 8)
        backend.down.clear()
        self.assertIsNone(self.wait(store.committed()))

    def test_conflict_corrects_the_index_before_waiters(self) -> None:
        backend = ScriptedBackend()
        winner = lease(1, client=b"winner")
        backend.taken[A("10.0.0.1")] = winner
        backend.taken[A("10.0.0.3")] = None
        store = self.open(backend)
        seen = []
        store.add_observer(lambda old, new: seen.append((old, new)))
        store.put(lease(1))
        store.put(lease(2))
        store.put(lease(3))
        d = store.committed()
        d.addCallback(lambda _: seen.append(("fired", store.get(A("10.0.0.1")))))
        self.assertIsNone(self.wait(d))
        self.assertEqual(store.get(A("10.0.0.1")), winner)
        self.assertIsNone(store.get(A("10.0.0.3")))
        self.assertEqual(store.get(A("10.0.0.2")), lease(2))
        self.assertEqual(store.conflicts_lost, 2)
        self.assertIn((lease(1), winner), seen)
        self.assertEqual(seen[-1], ("fired", winner))

    def test_conflict_does_not_undo_a_newer_change(self) -> None:
        backend = ScriptedBackend()
        backend.taken[A("10.0.0.1")] = lease(1, client=b"winner")
        store = self.open(backend)
        store.put(lease(1))
        newer = lease(1, state=LeaseState.OFFERED)
        store.put(newer, durable=False)
        self.wait(store.committed())
        self.assertEqual(store.get(A("10.0.0.1")), newer)

    def test_lanes_keep_order_per_address(self) -> None:
        backend = ScriptedBackend()
        store = self.open(backend, lanes=4)
        for round_ in range(3):
            for i in range(1, 41):
                store.put(lease(i, client=b"r%d" % round_))
        self.assertIsNone(self.wait(store.committed()))
        self.assertEqual({l.client_key for l in backend.rows.values()}, {b"r2"})
        self.assertEqual(len(backend.rows), 40)
        self.assertEqual(backend.connects, 4)

    def test_lanes_fail_together(self) -> None:
        backend = ScriptedBackend()
        store = self.open(backend, lanes=3)
        backend.down.set()
        for i in range(1, 10):
            store.put(lease(i))
        self.assertTrue(self.wait(store.committed()).check(LeaseStoreError))
        backend.down.clear()
        self.assertIsNone(self.wait(store.committed()))
        self.assertEqual(len(backend.rows), 9)

    def test_commit_interval_groups_changes_under_load(self) -> None:
        """
        With a commit interval, changes made within it after a commit wait
        for the next one together (group commit, as PostgreSQL's
        commit_delay), and the waiters of each fire only once it is written.
        """
        backend = TimedBackend(commit_interval=0.6)
        store = self.open(backend)
        store.put(lease(1))
        self.wait(store.committed())
        store.put(lease(2))
        second = store.committed()
        # The writer wakes for lease 2 at once; it must still wait for lease 3.
        time.sleep(0.05)
        store.put(lease(3))
        self.wait(store.committed())
        self.assertTrue(second.called)
        self.assertEqual([[l.address for l in upserts] for upserts, _ in backend.batches],
                         [[A("10.0.0.1")], [A("10.0.0.2"), A("10.0.0.3")]])
        self.assertGreaterEqual(backend.written_at[1] - backend.written_at[0], 0.6)

    def test_commit_interval_does_not_delay_an_idle_store(self) -> None:
        """
        The first change after a quiet spell is written at once: the
        interval only spaces commits that follow each other.
        """
        backend = TimedBackend(commit_interval=5.0)
        store = self.open(backend)
        started = time.monotonic()
        store.put(lease(1))
        self.wait(store.committed())
        self.assertLess(backend.written_at[0] - started, 2.5)

    def test_close_while_down_does_not_hang(self) -> None:
        backend = ScriptedBackend()
        store = WriteBehindStore(backend, reactor=self.reactor)
        backend.down.set()
        store.put(lease(1))
        self.assertIsNone(self.wait(store.close()))
        self.assertTrue(store.join(WAIT))


class StoreTableTests(SynchronousTestCase):
    def test_the_config_offers_the_table(self) -> None:
        text = '[server]\nlease_store = "{}"\n[[server.subnet]]\nsubnet = "10.0.0.0/24"\ninterface = "eth0"\npool = "10.0.0.10-10.0.0.20"\n'
        for name in stores.STORES:
            self.assertEqual(parse_config_text(text.format(name)).section("server").lease_store, name)
        e = self.assertRaises(ConfigError, parse_config_text, text.format("mysql"))
        self.assertEqual(str(e), "server.lease_store: 'mysql' is not one of sqlite, memory, postgresql")

    def test_memory_and_sqlite_from_the_table(self) -> None:
        from dhcpsuite.leases.memory import MemoryLeaseStore
        from dhcpsuite.leases.sqlite import SQLiteLeaseStore

        directory = tempfile.mkdtemp(prefix="dhcpsuite-table-")
        self.addCleanup(shutil.rmtree, directory, True)
        text = '[server]\nlease_store = "{}"\n[[server.subnet]]\nsubnet = "10.0.0.0/24"\ninterface = "eth0"\npool = "10.0.0.10-10.0.0.20"\n'
        memory = stores.make_store(parse_config_text(text.format("memory")).section("server"), directory, None)
        self.assertIsInstance(memory, MemoryLeaseStore)
        reactor = ThreadCallReactor()
        sqlite = stores.make_store(parse_config_text(text.format("sqlite")).section("server"), directory, reactor)
        self.assertIsInstance(sqlite, SQLiteLeaseStore)
        self.assertEqual(sqlite.path, os.path.join(directory, stores.LEASE_DB_NAME))
        reactor.run_until(sqlite.close())
        self.assertTrue(sqlite.join(WAIT))

    def test_sqlite_commit_interval_from_the_config(self) -> None:
        from dhcpsuite.leases.sqlite import SQLiteLeaseStore

        directory = tempfile.mkdtemp(prefix="dhcpsuite-table-")
        self.addCleanup(shutil.rmtree, directory, True)
        text = '[server]\n{}\n[[server.subnet]]\nsubnet = "10.0.0.0/24"\ninterface = "eth0"\npool = "10.0.0.10-10.0.0.20"\n'
        self.assertEqual(parse_config_text(text.format("")).section("server").commit_interval, 0.002)
        e = self.assertRaises(ConfigError, parse_config_text, text.format("commit_interval = 2"))
        self.assertEqual(str(e), "server.commit_interval: 2.0 is more than 1 (seconds; every ACK may wait this long)")
        reactor = ThreadCallReactor()
        sqlite = stores.make_store(parse_config_text(text.format("commit_interval = 0.01")).section("server"), directory,
                                   reactor)
        self.assertIsInstance(sqlite, SQLiteLeaseStore)
        self.assertEqual(sqlite.backend.commit_interval, 0.01)
        reactor.run_until(sqlite.close())
        self.assertTrue(sqlite.join(WAIT))


SERVER = '[server]\nlease_store = "postgresql"\n[[server.subnet]]\nsubnet = "10.0.0.0/24"\ninterface = "eth0"\npool = "10.0.0.10-10.0.0.20"\n'


class PostgreSQLConfigTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="dhcpsuite-pgconf-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.password = os.path.join(self.directory, "password")
        with open(self.password, "w") as f:
            f.write("secret\n")
        os.chmod(self.password, 0o600)

    def parse(self, table: str):
        return parse_config_text(SERVER + "[server.postgresql]\n" + table).section("server")

    def error(self, table: str) -> str:
        return str(self.assertRaises(ConfigError, self.parse, table))

    def test_defaults(self) -> None:
        config = parse_config_text(SERVER).section("server")
        self.assertEqual(config.lease_store, "postgresql")
        self.assertEqual(config.postgresql, PostgreSQLConfig())
        self.assertEqual(
            (config.postgresql.host, config.postgresql.port, config.postgresql.dbname, config.postgresql.user,
             config.postgresql.password_file, config.postgresql.connect_timeout, config.postgresql.pool_size),
            ("/var/run/postgresql", 5432, "dhcpsuite", "dhcpsuite", None, 5.0, 1),
        )

    def test_every_key(self) -> None:
        config = self.parse(
            f'host = "db.example"\nport = 6543\ndbname = "leases"\nuser = "dhcp"\n'
            f'password_file = "{self.password}"\nconnect_timeout = 3\npool_size = 4\n'
        ).postgresql
        self.assertEqual(config, PostgreSQLConfig("db.example", 6543, "leases", "dhcp", self.password, 3.0, 4))

    def test_password_inline_refused(self) -> None:
        self.assertEqual(
            self.error('password = "secret"'),
            "server.postgresql.password: is not allowed inline; put it in a file of mode 0600 named by password_file",
        )

    def test_password_file_readable_by_others_refused(self) -> None:
        for mode in (0o644, 0o640, 0o604):
            os.chmod(self.password, mode)
            self.assertEqual(
                self.error(f'password_file = "{self.password}"'),
                f"server.postgresql.password_file: {self.password} is readable by group or others "
                f"(mode {mode:04o}); chmod 600 it",
            )
        os.chmod(self.password, 0o400)
        self.assertEqual(self.parse(f'password_file = "{self.password}"').postgresql.password_file, self.password)

    def test_password_file_missing(self) -> None:
        missing = os.path.join(self.directory, "absent")
        self.assertEqual(
            self.error(f'password_file = "{missing}"'),
            f"server.postgresql.password_file: cannot read {missing}: No such file or directory",
        )

    def test_limits_and_unknown_keys(self) -> None:
        self.assertEqual(self.error("pool_size = 0"), "server.postgresql.pool_size: 0 is less than 1")
        self.assertEqual(self.error("pool_size = 17"), "server.postgresql.pool_size: 17 is more than 16")
        self.assertEqual(self.error("port = 0"), "server.postgresql.port: 0 is less than 1")
        self.assertEqual(self.error("connect_timeout = 0.5"), "server.postgresql.connect_timeout: 0.5 is less than 1")
        self.assertEqual(self.error('hots = "x"'), "server.postgresql.hots: is not a known key here")

    def test_password_read_from_its_file(self) -> None:
        try:
            from dhcpsuite.leases.postgresql import connect_arguments
        except ImportError:
            from tests.support.environment import missing

            missing("needs psycopg")
        arguments = connect_arguments(PostgreSQLConfig(password_file=self.password, connect_timeout=1.0))
        self.assertEqual(arguments["password"], "secret")
        self.assertEqual(arguments["connect_timeout"], 2)
        self.assertNotIn("password", connect_arguments(PostgreSQLConfig()))


class MissingDriverTests(SynchronousTestCase):
    def test_postgresql_without_psycopg_is_one_line(self) -> None:
        import sys

        saved = {name: sys.modules.get(name) for name in ("psycopg", "dhcpsuite.leases.postgresql")}

        def restore() -> None:
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module

        self.addCleanup(restore)
        # None in sys.modules: "import psycopg" raises ImportError.
        sys.modules["psycopg"] = None
        sys.modules.pop("dhcpsuite.leases.postgresql", None)
        config = parse_config_text(SERVER).section("server")
        e = self.assertRaises(LeaseStoreError, stores.make_store, config, "/nonexistent", None)
        self.assertIn("needs psycopg 3", str(e))
        self.assertIn("pip install 'dhcpsuite[postgresql]'", str(e))


class StoreMetricsTests(SynchronousTestCase):
    def test_store_faults_in_metrics(self) -> None:
        """
        The store's failure, conflict, reconnect, learning and outage
        figures reach /metrics beside the commit-latency histogram.
        """
        from prometheus_client.parser import text_string_to_metric_families

        from dhcpsuite.control.metrics import render_metrics
        from tests.unit.test_control import make_daemon

        reactor = ThreadCallReactor()
        backend = ScriptedBackend()
        backend.taken[A("10.0.0.2")] = lease(2, client=b"winner")
        store = WriteBehindStore(backend, reactor=reactor)
        self.addCleanup(lambda: (reactor.run_until(store.close()), store.join(WAIT)))
        # The writer connects as it starts; the database fails after that.
        reactor.run_until(store.committed())
        backend.down.set()
        store.put(lease(1))
        reactor.run_until(store.committed())
        backend.down.clear()
        store.put(lease(2))
        reactor.run_until(store.committed())
        store.learn([(A("10.0.0.3"), lease(3, client=b"other"))])
        daemon, _ = make_daemon()
        daemon.server.store = store
        families = {f.name: f for f in text_string_to_metric_families(render_metrics(daemon).decode())}

        def value(name: str) -> float:
            [sample] = [s for s in families[name].samples if s.name.endswith("_total")]
            return sample.value

        self.assertGreaterEqual(value("dhcpsuite_lease_store_commit_failures"), 1)
        self.assertEqual(value("dhcpsuite_lease_store_conflicts_lost"), 1)
        self.assertEqual(value("dhcpsuite_lease_store_reconnects"), 1)
        self.assertEqual(value("dhcpsuite_lease_store_learned"), 1)
        self.assertGreater(value("dhcpsuite_lease_store_unreachable_seconds"), 0)
        self.assertIn("dhcpsuite_lease_store_commit_seconds", families)
