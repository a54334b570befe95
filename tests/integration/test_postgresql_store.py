"""
The PostgreSQL lease store against a real PostgreSQL (a throwaway cluster
from L{tests.support.postgres}, unix socket only, fsync on): group commit
and reload, the database as the arbiter between two servers with stale
caches, the schema's version, start-up refusals, and a server restart under
load. Each test gets its own database in one cluster per module.

Kea's PostgreSQL backend (C{kea-admin db-init pgsql}) is the reference: it
refuses to start on a schema version it does not know, and its HA pair
relies on the partner, not the database, to keep two servers off one
address; here the database itself refuses the second binding.
"""

from __future__ import annotations

import threading
import time
from ipaddress import IPv4Address

import pytest

from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.writebehind import LeaseStoreError
from tests.support.postgres import cluster, fresh_database  # noqa: F401 (a fixture)
from tests.unit.test_lease_stores import ThreadCallReactor

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

A = IPv4Address
NOW = 1_800_000_000.0
@pytest.fixture
def db(cluster):
    """
    A fresh database's name; the stores opened through C{open_store} are
    closed at the end.
    """
    return fresh_database(cluster)


class Stores:
    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.reactor = ThreadCallReactor()
        self.opened: list = []

    def open(self, dbname: str, listen: bool = True, **changes):
        from dhcpsuite.leases.postgresql import PostgreSQLLeaseStore

        store = PostgreSQLLeaseStore(self.cluster.config(dbname, **changes), reactor=self.reactor, listen=listen)
        self.opened.append(store)
        return store

    def wait(self, d, timeout: float = 30.0):
        [result] = self.reactor.run_until(d, timeout)
        return result

    def run_until(self, condition, what: str, timeout: float = 10.0) -> None:
        """
        Run the stores' calls into the reactor until C{condition()} holds.
        """
        import queue

        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out waiting for {what}"
            try:
                f, args, kwargs = self.reactor.thread_calls.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                continue
            f(*args, **kwargs)

    def close_all(self) -> None:
        for store in self.opened:
            self.wait(store.close())
            assert store.join(10)


@pytest.fixture
def stores(cluster):
    s = Stores(cluster)
    yield s
    s.close_all()


def lease(n: int, client: bytes = b"\x01client-a", state: LeaseState = LeaseState.BOUND, expires: float = NOW + 3600,
          updated: float = NOW) -> Lease:
    return Lease(A(f"10.1.{n // 250}.{n % 250 + 1}"), state, client, b"\x02\x00\x00\x00\x00" + bytes((n % 256,)),
                 expires, f"host-{n}", updated)


def rows(cluster, dbname: str) -> dict[str, tuple]:
    with cluster.connect(dbname) as connection:
        return {
            address: (state, bytes(client_key))
            for address, state, client_key in connection.execute("SELECT host(address), state, client_key FROM leases")
        }


def test_put_commit_reload(stores, db) -> None:
    store = stores.open(db)
    leases = [lease(i, client=b"c%d" % i, state=state)
              for i, state in zip(range(5), [LeaseState.BOUND, LeaseState.RELEASED, LeaseState.EXPIRED,
                                             LeaseState.DECLINED, LeaseState.BOUND])]
    infinite = Lease(A("10.1.9.9"), LeaseState.BOUND, b"\x01\xff\x00binary", b"", float("inf"), "", 0.0)
    # A hostname is whatever the client sent: nothing in it may break the COPY.
    odd = Lease(A("10.1.9.10"), LeaseState.BOUND, b"\x01odd", b"\x00" * 16, NOW, "tab\there\nnew\\line \"q\" ü,;", NOW)
    for one in leases + [infinite, odd]:
        store.put(one)
    store.put(lease(7, state=LeaseState.OFFERED), durable=False)
    assert stores.wait(store.committed()) is None
    store.remove(leases[4].address)
    assert stores.wait(store.committed()) is None
    reopened = stores.open(db)
    assert sorted(reopened.leases(), key=lambda l: l.address) == leases[:4] + [infinite, odd]


def test_hostile_hostname_does_not_poison_the_batch(stores, db) -> None:
    """
    PostgreSQL text takes no NUL and no lone surrogate; a hostname with them
    is stored without them instead of failing this and every later batch
    (the lease itself holds storable text: each surrogate is U+FFFD).
    """
    store = stores.open(db)
    store.put(Lease(A("10.1.0.1"), LeaseState.BOUND, b"\x01a", b"\x02" * 6, NOW, "nul\x00in\udcffside", NOW))
    store.put(lease(2))
    assert stores.wait(store.committed()) is None
    reopened = stores.open(db)
    assert reopened.get(A("10.1.0.1")).hostname == "nulin\ufffdside"
    assert reopened.get(lease(2).address) == lease(2)


def test_group_commit_many_per_transaction(stores, db) -> None:
    store = stores.open(db)
    for i in range(3000):
        store.put(lease(i, client=b"c%d" % i))
    stores.wait(store.committed())
    assert 1 <= store.commit_count < 50, store.commit_count
    assert len(rows(stores.cluster, db)) == 3000


def test_writer_commits_durably(stores, db) -> None:
    store = stores.open(db)
    store.put(lease(1))
    stores.wait(store.committed())
    [lane] = store._lanes
    assert lane.connection.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    assert lane.connection.execute("SHOW fsync").fetchone()[0] == "on"


def test_several_writer_lanes(stores, db) -> None:
    store = stores.open(db, pool_size=3)
    for i in range(600):
        store.put(lease(i, client=b"c%d" % i))
    # The last change to an address wins, whichever lane it went through.
    store.put(lease(5, client=b"c5", state=LeaseState.RELEASED))
    stores.wait(store.committed())
    found = rows(stores.cluster, db)
    assert len(found) == 600
    assert found[str(lease(5).address)] == ("released", b"c5")
    assert store.connects == 3


def test_second_server_with_stale_cache_loses(stores, db) -> None:
    """
    Server A binds the address to client a; server B, which loaded the
    database before that, binds it to client b. The database keeps a's
    binding, B's index takes it before B's committed() fires, and B counts
    the loss.
    """
    a, b = stores.open(db), stores.open(db, listen=False)
    a.put(lease(1, client=b"a"))
    stores.wait(a.committed())
    assert b.get(lease(1).address) is None
    b.put(lease(1, client=b"b"))
    b.put(lease(2, client=b"b"))
    assert stores.wait(b.committed()) is None
    assert b.conflicts_lost == 1
    assert b.get(lease(1).address) == lease(1, client=b"a")
    assert b.get(lease(2).address) == lease(2, client=b"b")
    assert rows(stores.cluster, db) == {str(lease(1).address): ("bound", b"a"), str(lease(2).address): ("bound", b"b")}


def test_who_may_replace_a_row(stores, db) -> None:
    """
    Replaced: the same client's row, a lapsed one, a freed one, or by a
    DECLINE (a quarantine binds nobody). Kept: another client's live binding.
    """
    a, b = stores.open(db, listen=False), stores.open(db, listen=False)
    a.put(lease(1, client=b"a", expires=NOW - 1))          # lapsed by b's clock
    a.put(lease(2, client=b"a", state=LeaseState.RELEASED))
    a.put(lease(3, client=b"a"))                           # live: b must lose
    a.put(lease(4, client=b"a"))                           # declined by b
    a.put(lease(5, client=b"a", state=LeaseState.OFFERED))  # even a written offer holds
    stores.wait(a.committed())
    b.put(lease(1, client=b"b"))
    b.put(lease(2, client=b"b"))
    b.put(lease(3, client=b"b"))
    b.put(lease(4, client=b"", state=LeaseState.DECLINED))
    b.put(lease(5, client=b"b"))
    stores.wait(b.committed())
    found = rows(stores.cluster, db)
    assert [found[str(lease(n).address)] for n in range(1, 6)] == [
        ("bound", b"b"), ("bound", b"b"), ("bound", b"a"), ("declined", b""), ("offered", b"a")
    ]
    assert b.conflicts_lost == 2
    # a renews its own: allowed.
    a.put(lease(3, client=b"a", expires=NOW + 7200))
    stores.wait(a.committed())
    assert a.conflicts_lost == 0


def test_stale_reclaim_does_not_expire_a_renewed_binding(stores, db) -> None:
    """
    Server b renewed client c's binding; server a has not learned it yet
    and its sweep finds c's old binding lapsed: its EXPIRED write (the same
    client's row) must lose to the live binding, which it did not before (a
    same-client write always won, so the database said expired while the
    client held the address, and a third client could be given it). A
    reclaim of a row that really lapsed still applies.
    """
    a, b = stores.open(db, listen=False), stores.open(db, listen=False)
    b.put(lease(1, client=b"c", expires=NOW + 3600, updated=NOW))
    b.put(lease(2, client=b"d", expires=NOW - 10, updated=NOW - 20))
    stores.wait(b.committed())
    a.put(lease(1, client=b"c", state=LeaseState.EXPIRED, expires=NOW - 5, updated=NOW))
    a.put(lease(2, client=b"d", state=LeaseState.EXPIRED, expires=NOW - 10, updated=NOW))
    stores.wait(a.committed())
    found = rows(stores.cluster, db)
    assert found[str(lease(1).address)] == ("bound", b"c")
    assert found[str(lease(2).address)] == ("expired", b"d")
    assert a.conflicts_lost == 1
    assert a.get(lease(1).address).state is LeaseState.BOUND


def test_two_servers_racing_never_share_an_address(stores, db) -> None:
    """
    Two stores bind the same 500 addresses to their own clients at once,
    from their own threads' point of view in parallel. Afterwards every
    address is in exactly one index as its own client's, and the database
    agrees with that index.
    """
    a, b = stores.open(db, pool_size=2), stores.open(db, pool_size=2)
    for i in range(500):
        a.put(lease(i, client=b"a%d" % i))
        b.put(lease(i, client=b"b%d" % i))
    stores.wait(a.committed())
    stores.wait(b.committed())
    found = rows(stores.cluster, db)
    won_a = {l.address for l in a.leases() if l.client_key.startswith(b"a")}
    won_b = {l.address for l in b.leases() if l.client_key.startswith(b"b")}
    assert not won_a & won_b
    assert len(won_a) + len(won_b) == 500
    assert a.conflicts_lost + b.conflicts_lost == 500
    for address in won_a:
        assert found[str(address)][1].startswith(b"a")
    for address in won_b:
        assert found[str(address)][1].startswith(b"b")


def test_servers_learn_each_others_commits(stores, db) -> None:
    """
    What one server commits reaches the other's index within a moment
    (LISTEN/NOTIFY, then a read of the rows named), revokes included, and
    the observers (pool usage) see it as a change like any other.
    """
    a, b = stores.open(db), stores.open(db)
    seen = []
    b.add_observer(lambda old, new: seen.append((old, new)))
    started = time.monotonic()
    for i in range(300):
        a.put(lease(i, client=b"a%d" % i))
    stores.wait(a.committed())
    committed = time.monotonic()
    stores.run_until(lambda: len(b) == 300, "b to learn a's 300 bindings")
    learned_after = time.monotonic() - started
    # Handed over as they arrive, not at the end of a polling window.
    assert time.monotonic() - committed < 0.3
    assert sorted(b.leases(), key=lambda l: l.address) == sorted(a.leases(), key=lambda l: l.address)
    assert len(seen) == 300 and all(old is None for old, _ in seen)
    a.remove(lease(7).address)
    stores.wait(a.committed())
    stores.run_until(lambda: b.get(lease(7).address) is None, "b to learn the revoke")
    # A's own notifications are not read back into a.
    assert a.learned == 0 and b.learned == 301
    print(f"300 bindings learned by the other server {learned_after * 1000:.0f} ms after the first put")


def test_learning_does_not_overwrite_an_unconfirmed_change(stores, db) -> None:
    a, b = stores.open(db), stores.open(db)
    mine = lease(1, client=b"b")
    b.put(mine)
    # a's row for the same address arrives while b's put is still unconfirmed.
    b.learn([(mine.address, lease(1, client=b"a"))])
    assert b.get(mine.address) == mine
    stores.wait(b.committed())
    b.learn([(mine.address, lease(1, client=b"a", expires=NOW + 1))])
    assert b.get(mine.address) == lease(1, client=b"a", expires=NOW + 1)


def test_listener_catches_up_after_a_restart(stores, db) -> None:
    """
    Notifications sent while a listener is disconnected are lost; after it
    reconnects it reads every row again, so nothing committed meanwhile is
    missed.
    """
    a, b = stores.open(db), stores.open(db)
    cluster = stores.cluster
    cluster.stop("fast")
    cluster.start()
    # Straight after the restart: a's writer reconnects, b's listener may not yet have.
    for i in range(50):
        a.put(lease(i, client=b"a%d" % i))
    deadline = time.monotonic() + 30
    while stores.wait(a.committed()) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stores.run_until(lambda: len(b) == 50, "b to catch up after the restart", timeout=30)


def test_newer_schema_refused(stores, db) -> None:
    stores.open(db)
    with stores.cluster.connect(db) as connection:
        connection.execute("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(LeaseStoreError) as e:
        stores.open(db)
    assert "schema version 99, newer than this dhcpsuite's 2; upgrade dhcpsuite" in str(e.value)
    assert "\n" not in str(e.value)


def test_unreachable_and_wrong_password_are_one_line(stores, db, tmp_path) -> None:
    with pytest.raises(LeaseStoreError) as e:
        stores.open(db, host=str(tmp_path))
    assert str(e.value).startswith(f"cannot connect to the lease database postgresql://dhcpsuite@{tmp_path}:")
    assert "No such file or directory" in str(e.value) and "\n" not in str(e.value)
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    with pytest.raises(LeaseStoreError) as e:
        stores.open(db, password_file=str(wrong))
    assert "password authentication failed" in str(e.value) and "\n" not in str(e.value)


def db_tool_config(cluster, db: str, tmp_path):
    """
    A configuration file for dhcpsuite-db naming database C{db}.
    """
    from tests.integration.conftest import toml_document

    config = tmp_path / "dhcpsuite.toml"
    config.write_text(toml_document({
        "server": {
            "lease_store": "postgresql",
            "postgresql": {"host": cluster.socket_dir, "port": cluster.port, "dbname": db,
                           "user": "dhcpsuite", "password_file": cluster.password_file},
            "subnet": [{"subnet": "10.1.0.0/16", "server_address": "10.1.0.1", "pool": "10.1.0.10-10.1.0.20"}],
        },
    }))
    return config


def test_dhcpsuite_db(cluster, db, tmp_path, capsys) -> None:
    from dhcpsuite.leases.admin import main

    config = db_tool_config(cluster, db, tmp_path)
    assert main(["-c", str(config), "check"]) == 1
    assert "schema version 0 (empty: run init)" in capsys.readouterr().out
    assert main(["-c", str(config), "upgrade"]) == 3
    assert "run dhcpsuite-db init" in capsys.readouterr().err
    assert main(["-c", str(config), "init"]) == 0
    assert "schema version 0 -> 2" in capsys.readouterr().out
    assert main(["-c", str(config), "check"]) == 0
    assert main(["-c", str(config), "upgrade"]) == 0
    with cluster.connect(db) as connection:
        connection.execute("INSERT INTO schema_version (version) VALUES (3)")
    capsys.readouterr()
    assert main(["-c", str(config), "check"]) == 3
    assert "newer than this dhcpsuite's 2" in capsys.readouterr().err


def test_version_1_database_upgraded_in_place(stores, db, tmp_path, capsys) -> None:
    """
    A database made by the first schema (leases only) is refused by the
    server with the command to run; dhcpsuite-db upgrade brings it to the
    current version in one transaction and keeps every lease.
    """
    from dhcpsuite.leases.admin import main
    from dhcpsuite.leases.postgresql import MIGRATIONS

    with stores.cluster.connect(db) as connection:
        connection.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())")
        for statement in MIGRATIONS[1]:
            connection.execute(statement)
        connection.execute("INSERT INTO schema_version (version) VALUES (1)")
        connection.execute("INSERT INTO leases VALUES ('10.1.0.1', 'bound', '\\x01aa', '\\x02', 2e9, 'h', 1.8e9)")
    with pytest.raises(LeaseStoreError) as e:
        stores.open(db)
    assert str(e.value).endswith("has schema version 1, this dhcpsuite needs 2; run dhcpsuite-db upgrade")
    config = db_tool_config(stores.cluster, db, tmp_path)
    assert main(["-c", str(config), "check"]) == 1
    assert "schema version 1 (old: run upgrade)" in capsys.readouterr().out
    assert main(["-c", str(config), "upgrade"]) == 0
    assert "schema version 1 -> 2" in capsys.readouterr().out
    store = stores.open(db)
    assert store.get(A("10.1.0.1")).client_key == b"\x01\xaa"


def test_pools_that_overlap_but_differ_are_refused(stores, db) -> None:
    """
    A second server whose pools overlap a live member's but differ is
    refused in one line (isc-dhcpd failover refuses a peer whose pool
    definitions do not match); the same pools or disjoint ones join; a
    member without a heartbeat for MEMBER_TIMEOUT no longer counts; a closed
    store leaves.
    """
    from dhcpsuite.leases.postgresql import PostgreSQLLeaseStore

    def open_with(pools, name):
        store = PostgreSQLLeaseStore(stores.cluster.config(db), reactor=stores.reactor, pools=pools, name=name)
        stores.opened.append(store)
        return store

    first = open_with([("10.1.0.10", "10.1.0.99")], "first")
    same = open_with([("10.1.0.10", "10.1.0.99")], "same")
    open_with([("10.2.0.10", "10.2.0.99")], "elsewhere")
    with pytest.raises(LeaseStoreError) as e:
        open_with([("10.1.0.50", "10.1.0.150")], "different")
    assert str(e.value).endswith(
        "server first serves pools 10.1.0.10-10.1.0.99, which overlap but differ from this server's "
        "10.1.0.50-10.1.0.150; give every server sharing a pool the same pools"
    )
    assert "\n" not in str(e.value)
    with stores.cluster.connect(db) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM members")}
        assert names == {"first", "same", "elsewhere"}
    # Gone: closed cleanly (first), or silent for longer than the timeout (same).
    stores.wait(first.close())
    assert first.join(10)
    same._listener.stopping.set()
    same._listener.thread.join(10)
    with stores.cluster.connect(db) as connection:
        assert {row[0] for row in connection.execute("SELECT name FROM members")} == {"elsewhere"}
        connection.execute(
            "INSERT INTO members (name, pools, heartbeat) VALUES ('same', '10.1.0.10-10.1.0.99', now() - interval '1 hour')"
        )
    open_with([("10.1.0.50", "10.1.0.150")], "different")


def test_heartbeat(stores, db) -> None:
    from dhcpsuite.leases.postgresql import HEARTBEAT_INTERVAL

    store = stores.open(db)
    with stores.cluster.connect(db) as connection:
        connection.execute("UPDATE members SET heartbeat = now() - interval '1 hour'")
    time.sleep(HEARTBEAT_INTERVAL * 2.5)
    with stores.cluster.connect(db) as connection:
        [age] = connection.execute("SELECT extract(epoch FROM now() - heartbeat) FROM members").fetchone()
    assert float(age) < HEARTBEAT_INTERVAL * 2, age


def test_restart_under_load_loses_no_committed_binding(stores, db) -> None:
    """
    A writer keeps putting and waiting for commits while PostgreSQL is
    stopped (fast: connections are cut) and started again. Commits fail
    while it is down (no ACK), the store reconnects by itself, and every
    binding whose committed() fired is in the database afterwards.
    """
    store = stores.open(db)
    cluster = stores.cluster
    confirmed: list[Lease] = []
    failed = 0
    stop = threading.Event()

    def bounce() -> None:
        time.sleep(0.5)
        cluster.stop("fast")
        time.sleep(1.5)
        cluster.start()
        time.sleep(1.0)
        stop.set()

    bouncer = threading.Thread(target=bounce)
    bouncer.start()
    try:
        n = 0
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            batch = [lease(n + i, client=b"c%d" % (n + i)) for i in range(20)]
            n += 20
            for one in batch:
                store.put(one)
            result = stores.wait(store.committed())
            if result is None:
                confirmed.extend(batch)
            else:
                failed += 1
                time.sleep(0.05)
    finally:
        bouncer.join(30)
        if not cluster.running:
            cluster.start()
    # Everything queued is eventually written, the failed batches included.
    assert stores.wait(store.committed(), 30) is None
    found = rows(cluster, db)
    assert failed > 0, "the restart was not noticed"
    assert store.reconnects >= 1
    assert store.commit_failures >= 1 and store.unreachable_seconds > 0.5
    lost = [one for one in confirmed if found.get(str(one.address)) != ("bound", one.client_key)]
    assert not lost, f"{len(lost)} of {len(confirmed)} committed bindings lost"
    # The index and the database agree once it is back.
    assert len(found) == len(list(store.leases())) == n


def test_members_shares_and_the_cluster_view(stores, db) -> None:
    """
    Two stores serving the same pool see each other as live members and
    split its 200 addresses; a third serving another pool is a member but
    takes no share of it. The cluster API and /metrics show them. A member
    whose session ends (its process killed: here its listener's backend
    terminated and the store kept from reconnecting) is dead for the others
    at their next look (its advisory lock is gone), within a quarter
    second, not member_timeout; a clean leave is seen at once (it notifies).
    """
    from prometheus_client.parser import text_string_to_metric_families

    from dhcpsuite.config import parse_config_text
    from dhcpsuite.control import api
    from dhcpsuite.control.metrics import render_metrics
    from dhcpsuite.daemon import Daemon
    from dhcpsuite.leases.postgresql import HEARTBEAT_INTERVAL, LOOK_INTERVAL, PostgreSQLLeaseStore
    from dhcpsuite.server.service import ServerService

    pool = [("10.1.0.10", "10.1.0.209")]

    def open_with(pools, name):
        store = PostgreSQLLeaseStore(stores.cluster.config(db), reactor=stores.reactor, pools=pools, name=name)
        stores.opened.append(store)
        return store

    one, two = open_with(pool, "host-one:11:aa"), open_with(pool, "host-two:22:bb")
    open_with([("10.2.0.10", "10.2.0.99")], "elsewhere")
    stores.run_until(lambda: one.share.members == two.share.members == ("host-one:11:aa", "host-two:22:bb"),
                     "both members in both shares")
    stores.run_until(lambda: sum(m["alive"] for m in one.members()) == 3, "the third member alive")

    config = parse_config_text("""
[server]
lease_store = "postgresql"
[[server.subnet]]
subnet = "10.1.0.0/16"
server_address = "10.1.0.1"
pool = ["10.1.0.10-10.1.0.209"]
max_leases = 1
""").section("server")
    from twisted.internet.task import Clock

    server = ServerService(config, "/nonexistent", reactor=Clock(), store=one)
    daemon = Daemon(parse_config_text(""), started=0.0, server=server)
    view = api.cluster(daemon)
    by_id = {m["id"]: m for m in view["members"]}
    assert view["self"] == "host-one:11:aa" and view["alive"] == 3
    assert view["sharing"] == ["host-one:11:aa", "host-two:22:bb"]
    assert (by_id["host-one:11:aa"]["host"], by_id["host-one:11:aa"]["pid"]) == ("host-one", 11)
    assert by_id["elsewhere"]["share"] is None and by_id["elsewhere"]["alive"]
    sizes = [by_id[n]["share"]["10.1.0.10-10.1.0.209"] for n in ("host-one:11:aa", "host-two:22:bb")]
    assert sum(sizes) == 200 and min(sizes) >= 80, sizes
    assert all(m["heartbeat_age"] < 2 * HEARTBEAT_INTERVAL and m["session"] for m in view["members"])
    assert {"conflicts_lost", "reconnects", "unreachable_seconds", "learned", "commit_seconds_mean"} <= set(view["counters"])
    families = {f.name: f for f in text_string_to_metric_families(render_metrics(daemon).decode())}
    assert families["dhcpsuite_cluster_members"].samples[0].value == 3
    [share] = families["dhcpsuite_cluster_share_addresses"].samples
    assert (share.labels, share.value) == ({"pool": "10.1.0.10-10.1.0.209"}, sizes[0])

    # A reload to pools that overlap but differ from a live member's is refused
    # (from the members as last read); one to disjoint pools is served and shown.
    assert "server host-two:22:bb serves pools 10.1.0.10-10.1.0.209, which overlap but differ" in \
        one.pools_refused([("10.1.0.100", "10.1.0.250")])
    assert one.pools_refused(pool) == ""
    assert one.pools_refused([("10.1.9.1", "10.1.9.9")]) == ""
    from dhcpsuite.leases.postgresql import pools_refused

    assert "unreadable pools" in pools_refused("10.1.0.10-10.1.0.209", [("odd", "10.1.0.1-\x1b[31m")])

    # PoolUsage and max_leases count a binding another server made, once learned.
    from dhcpsuite.server.allocation import AllocationEngine, ClientContext

    engine = AllocationEngine(config, one, holding=server._held_in_subnet)
    newcomer = ClientContext(b"\x01newcomer", b"\x02" * 6, None)
    assert engine.new_holding_refused(newcomer, engine.subnets[0], NOW) == ""
    two.put(Lease(A("10.1.0.99"), LeaseState.BOUND, b"\x01by-two", b"\x02\x00\x00\x00\x00\x02", NOW + 3600, "", NOW))
    stores.wait(two.committed())
    stores.run_until(lambda: one.get(A("10.1.0.99")) is not None, "the binding learned")
    [usage] = server.pool_usage()
    assert usage["active"] == 1, usage
    assert engine.new_holding_refused(newcomer, engine.subnets[0], NOW) == "pool-exhausted"

    two.serve_pools([("10.1.0.10", "10.1.0.109")])
    assert two.share.whole  # alone with these pools now
    with stores.cluster.connect(db) as connection:
        wait_until = time.monotonic() + 3 * HEARTBEAT_INTERVAL
        while time.monotonic() < wait_until:
            [pools] = connection.execute("SELECT pools FROM members WHERE name = 'host-two:22:bb'").fetchone()
            if pools == "10.1.0.10-10.1.0.109":
                break
            time.sleep(0.1)
    assert pools == "10.1.0.10-10.1.0.109"
    stores.run_until(lambda: one.share.members == ("host-one:11:aa",), "the other's new pools seen")
    two.serve_pools(pool)
    stores.run_until(lambda: one.share.members == ("host-one:11:aa", "host-two:22:bb"), "sharing again")

    # Killed: the session ends, nothing is deleted, the heartbeat row stays.
    two._listener.stopping.set()
    two.backend.leave = lambda connection: None
    with stores.cluster.connect(db) as connection:
        connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%' "
                           "OR pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext('host-two:22:bb')::oid)")
    gone = time.monotonic()
    stores.run_until(lambda: one.share.whole, "the killed member's share back", timeout=2 * HEARTBEAT_INTERVAL + 1)
    print(f"a member whose session ended left the shares after {time.monotonic() - gone:.2f} s")
    # Their next look, not member_timeout: the lock went with the session.
    assert time.monotonic() - gone < LOOK_INTERVAL + 0.4
    assert not {m["id"]: m for m in one.members()}["host-two:22:bb"]["alive"]
