"""
The lease history in the shared PostgreSQL database (C{lease_store =
"postgresql"}): a C{lease_history} table beside the leases, which every
server of a cluster appends to.

  - The storage itself against a real PostgreSQL: records round-trip (a
    hostname holding NUL too, which a text column would refuse), a range
    reaches back to the ack of a binding still held at its start, pruning
    deletes only what is older.
  - A daemon on that database with a real udhcpc client: bind and release
    are rows of the table, and C{dhcpsuite-ctl history ADDRESS --at T}
    names the client's MAC while it held the address and nobody after.
"""

from __future__ import annotations

import json
import time
from ipaddress import IPv4Address

import pytest

from dhcpsuite.history.events import HistoryEvent, HistoryRecord
from tests.integration.test_control import PORT, ctl, wait_http
from tests.integration.test_history import holder, release
from tests.integration.test_server_postgresql import pg_config
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair
from tests.support.postgres import cluster, fresh_database  # noqa: F401 (a fixture)
from tests.unit.test_lease_stores import ThreadCallReactor

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

T0 = 1_800_000_000.0
A = IPv4Address("10.0.0.5")
MAC = bytes.fromhex("020000000001")


def open_storage(cluster):
    """
    The history storage on a fresh database of C{cluster}, and the reactor
    its Deferreds fire in.
    """
    from dhcpsuite.history.postgresql import PostgreSQLHistory
    from dhcpsuite.server.config import PostgreSQLConfig

    db = fresh_database(cluster)
    config = PostgreSQLConfig(host=cluster.socket_dir, port=cluster.port, dbname=db, user="dhcpsuite",
                              password_file=cluster.password_file, connect_timeout=3)
    reactor = ThreadCallReactor()
    return PostgreSQLHistory(config, reactor=reactor), reactor


def test_storage_round_trip_and_prune(cluster) -> None:
    storage, reactor = open_storage(cluster)
    try:
        full = HistoryRecord(T0, A, HistoryEvent.ACK, MAC, b"\xff\x01", "nul\x00host\x1b", IPv4Address("192.168.5.254"),
                             b"port7", b"cpe-42", T0 + 86400, "srv-a", IPv4Address("10.0.0.1"))
        renew = HistoryRecord(T0 + 43200, A, HistoryEvent.RENEW, MAC, lease_end=T0 + 129600, server="srv-a")
        storage.append(full)
        storage.append(renew)
        [(records, truncated)] = reactor.run_until(storage.select(A, T0 + 90000, T0 + 90000, 100))
        assert records == [full, renew] and not truncated
        [(records, _)] = reactor.run_until(storage.select(MAC, T0, T0, 100))
        assert records == [full]
        [deleted] = reactor.run_until(storage.prune(T0 + 1))
        assert deleted == 1
        [(records, _)] = reactor.run_until(storage.select(A, T0, T0 + 90000, 100))
        assert records == [renew]
    finally:
        reactor.run_until(storage.close())


def test_a_lease_with_a_lone_surrogate_in_its_hostname_is_recorded(cluster) -> None:
    """
    A binding's record takes its hostname from the lease (L{derive}); the
    history's bytea column took it through C{surrogateescape}, which cannot
    encode a surrogate outside U+DC80-U+DCFF (C{\\ud800}), so such a lease
    failed the batch and every retry. The lease holds storable text.
    """
    from dhcpsuite.history.events import derive
    from dhcpsuite.leases.lease import Lease, LeaseState

    storage, reactor = open_storage(cluster)
    try:
        lease = Lease(A, LeaseState.BOUND, b"\x01" + MAC, MAC, T0 + 600, "odd\ud800name", T0)
        storage.append(derive(None, lease, T0, server="srv-a"))
        storage.append(HistoryRecord(T0 + 5, A, HistoryEvent.RELEASE, MAC, server="srv-a"))
        [(records, _)] = reactor.run_until(storage.select(A, T0, T0 + 10, 100))
        assert [(r.event, r.hostname) for r in records] == [(HistoryEvent.ACK, "odd\ufffdname"), (HistoryEvent.RELEASE, "")]
    finally:
        reactor.run_until(storage.close())


def test_daemon_history_in_the_shared_database(tmp_path, daemons, clients, cluster) -> None:
    require_root()
    require_programs("udhcpc")
    db = fresh_database(cluster)
    config = pg_config(tmp_path / "state", cluster, db)
    config["control"] = {"listen": f"tcp:{PORT}:interface=127.0.0.1"}
    config["server"]["history"] = {"enabled": True, "server_name": "pg-node-1"}
    with VethPair(prefix="thp") as pair:
        daemon = daemons.start(pair.server, config)
        wait_http(pair, daemon)
        client = clients.udhcpc(pair)
        index, _ = client.wait_event({"bound"})
        address = client.environment(index)["ip"]
        t_bound = time.time()
        time.sleep(1.1)
        t_released = release(pair, client, address)

        mac = pair.client_mac_address()
        assert holder(pair, address, t_bound) == [mac]
        assert holder(pair, address, t_released) == []
        with cluster.connect(db) as connection:
            rows = connection.execute(
                "SELECT event, encode(mac, 'hex'), server FROM lease_history WHERE address = %s ORDER BY id",
                (int(IPv4Address(address)),),
            ).fetchall()
        assert rows == [("ack", mac.replace(":", ""), "pg-node-1"), ("release", mac.replace(":", ""), "pg-node-1")]
        answer = json.loads(ctl(pair, "--json", "history", address, "--from", repr(t_bound - 60)).stdout)
        assert [(i["mac"], i["ended_by"]) for i in answer["intervals"]] == [(mac, "release")]
