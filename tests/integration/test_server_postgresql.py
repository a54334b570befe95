"""
The DHCPv4 server on the PostgreSQL lease store, end to end: C{twistd
dhcpsuite} in server namespaces, PostgreSQL from L{tests.support.postgres}
(its unix socket is on the shared filesystem, so every namespace reaches it).

  - Real clients (busybox udhcpc, ISC dhclient) bind, and their bindings are
    the database's rows.
  - PostgreSQL stopped and started again under a scripted relay's load: no
    ACK while it is down, every ACK seen on the wire is in the database
    afterwards, and the daemon serves again without a restart.
  - Two daemons with the same pool on one database, neither knowing the
    other's bindings: no address is ever ACKed to two clients, the database
    agrees with every ACK, and the losers of a race were NAKed and served
    another address. (Kea HA keeps two servers apart by its partner
    protocol and isc-dhcpd failover by pool splitting; here the database
    alone refuses the second binding.)
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import signal
import sys
import time

import pytest

from tests.integration.conftest import REPOSITORY, server_config, subnet_config, wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair
from tests.support.postgres import cluster, fresh_database  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


def pg_config(state, cluster, dbname: str, *subnets, **server) -> dict:
    return server_config(
        state, *subnets, lease_store="postgresql",
        postgresql={"host": cluster.socket_dir, "port": cluster.port, "dbname": dbname, "user": "dhcpsuite",
                    "password_file": cluster.password_file, "connect_timeout": 3},
        **server,
    )


def bound_rows(cluster, dbname: str) -> dict[str, tuple[str, str]]:
    with cluster.connect(dbname) as connection:
        return {
            address: (state, bytes(mac).hex())
            for address, state, mac in connection.execute("SELECT host(address), state, mac FROM leases")
        }


def relay_load(pair: VethPair, out, count: int, seconds: float, first: int = 0, giaddr: str = "10.77.0.2",
               server: str = "10.77.0.1"):
    return pair.client.spawn(
        [sys.executable, "-m", "tests.support.relayclient", giaddr, server, str(count), str(seconds),
         str(out), str(first)],
        cwd=str(REPOSITORY),
    )


@contextlib.contextmanager
def two_servers(tmp_path, daemons, cluster, pool: str, prefixes: tuple[str, str]):
    """
    Two daemons on one fresh database, each in its own namespace pair with a
    relay agent at 10.77.0.2; yields (database, pair one, daemon one, pair
    two, daemon two).
    """
    db = fresh_database(cluster)
    config = pg_config(tmp_path / "state", cluster, db, subnet_config(pool=[pool], lease_time=3600),
                       log_exchanges=False)
    with VethPair(prefix=prefixes[0], client_address="10.77.0.2/16") as one, \
            VethPair(prefix=prefixes[1], client_address="10.77.0.2/16") as two:
        yield db, one, daemons.start(one.server, config), two, daemons.start(two.server, config)


def finish(process, out, timeout: float = 40) -> dict[str, str]:
    wait_until(lambda: process.poll() is not None, timeout, "the relay client to finish")
    assert process.returncode == 0
    return json.loads(out.read_text())


def test_real_clients_bind_through_postgresql(tmp_path, daemons, clients, cluster) -> None:
    require_root()
    require_programs("udhcpc", "dhclient")
    db = fresh_database(cluster)
    with VethPair(prefix="tpa") as one, VethPair(prefix="tpb") as two:
        config = pg_config(tmp_path / "state", cluster, db)
        daemons.start(one.server, config)
        udhcpc = clients.udhcpc(one, "-q")
        index, _ = udhcpc.wait_event({"bound"})
        udhcpc_address = udhcpc.environment(index)["ip"]
        # The second server starts later and loads the first one's binding.
        # (Started together, both would offer the first free address and
        # the second REQUEST would be NAKed at commit; the relay tests below
        # show that race.)
        daemons.start(two.server, config)
        dhclient = clients.dhclient(two)
        index, _ = dhclient.wait_event({"BOUND"})
        dhclient_address = dhclient.environment(index)["new_ip_address"]
        rows = bound_rows(cluster, db)
        assert rows[udhcpc_address] == ("bound", one.client_mac_address().replace(":", ""))
        assert rows[dhclient_address] == ("bound", two.client_mac_address().replace(":", ""))
        assert udhcpc_address != dhclient_address


def test_postgresql_restart_under_load_loses_no_ack(tmp_path, daemons, cluster) -> None:
    require_root()
    db = fresh_database(cluster)
    config = pg_config(tmp_path / "state", cluster, db, subnet_config(pool=["10.77.1.0-10.77.250.255"], lease_time=3600),
                       log_exchanges=False)
    with VethPair(client_address="10.77.0.2/16") as pair:
        daemon = daemons.start(pair.server, config)
        out = tmp_path / "acked.json"
        relay = relay_load(pair, out, 1_000_000, 9.0)
        time.sleep(2.5)
        cluster.stop("fast")
        time.sleep(2.0)
        cluster.start()
        acked = finish(relay, out)
        # Serving resumes without a restart: fresh clients are ACKed.
        out2 = tmp_path / "after.json"
        after = finish(relay_load(pair, out2, 200, 20.0, first=5_000_000), out2)
        output = daemon.output()
        daemon.stop()
    assert len(after) == 200, f"only {len(after)} of 200 new clients served after the restart"
    assert "Lease commits to postgresql://" in output and "failing" in output, output[-3000:]
    assert "work again after" in output, output[-3000:]
    rows = bound_rows(cluster, db)
    everything = {**acked, **after}
    addresses = list(everything.values())
    assert len(set(addresses)) == len(addresses), "an address was ACKed to two clients"
    lost = [(mac, a) for mac, a in everything.items() if rows.get(a) != ("bound", mac)]
    print(f"{len(acked)} ACKs across a PostgreSQL restart, {len(after)} after it; all in the database")
    assert len(acked) > 500, f"too little traffic to mean anything: {len(acked)}"
    assert not lost, f"{len(lost)} of {len(everything)} ACKed bindings not in the database, e.g. {lost[:5]}"


def live_members(cluster, dbname: str) -> list[str]:
    """
    The members whose session holds its lock, by name (as the servers see them).
    """
    from dhcpsuite.leases.postgresql import _MEMBERS

    with cluster.connect(dbname) as connection:
        return sorted(name for name, _, _, _, locked in connection.execute(_MEMBERS) if locked)


def wait_members(cluster, dbname: str, count: int) -> list[str]:
    wait_until(lambda: len(live_members(cluster, dbname)) == count, 10, f"{count} live members")
    # Each has looked at the members since (a join notifies; at most a heartbeat otherwise).
    time.sleep(1.2)
    return live_members(cluster, dbname)


def updated_rows(cluster, dbname: str) -> dict[str, tuple[str, float]]:
    with cluster.connect(dbname) as connection:
        return {
            address: (bytes(mac).hex(), updated)
            for address, mac, updated in connection.execute(
                "SELECT host(address), mac, updated FROM leases WHERE state = 'bound'")
        }


def takeover(cluster, dbname: str, members: list[str], survivor, bound: dict[str, str], new: dict[str, str],
             event: float) -> tuple[list[str], list[tuple[float, str]], list[float]]:
    """
    Check every ACK against the database and that no address went to two
    clients; split the survivor's new clients at C{event} (wall clock, as
    the rows' C{updated}) into those before (all from its own share:
    nothing borrowed) and after; return them with the times at which an
    address of the other member's share was handed out after C{event}.
    """
    from dhcpsuite.server.shares import owner

    ours = next(n for n in members if n.split(":")[1] == str(survivor.process.pid))
    rows = updated_rows(cluster, dbname)
    everything = {**bound, **new}
    addresses = list(everything.values())
    assert len(set(addresses)) == len(addresses), "an address was ACKed to two clients"
    assert all(rows[a][0] == mac for mac, a in everything.items()), "an ACKed binding is not the database's"
    before = [a for a in new.values() if rows[a][1] < event]
    after = sorted((rows[a][1], a) for a in new.values() if rows[a][1] >= event)
    assert before and after, (len(before), len(after))
    assert all(owner(ipaddress.IPv4Address(a), members) == ours for a in before), "the survivor borrowed or ignored shares"
    taken = [t for t, a in after if owner(ipaddress.IPv4Address(a), members) != ours]
    assert taken, "the other member's share never came to the survivor"
    return before, after, taken


def test_killed_server_under_load_clients_and_share_go_to_the_survivor(tmp_path, daemons, cluster) -> None:
    """
    Servers A and B share a database and a 64,000-address pool; each binds
    100 relayed clients, and new clients keep arriving at B. A is killed
    (SIGKILL) under that load. Then:

      - each of A's clients INIT-REBOOTs (RFC 2131 4.3.2: REQUEST with
        option 50, no server id, no ciaddr; every other one REBINDs instead:
        REQUEST with ciaddr, no server id, no option 50) at B, which learned
        the binding from the database while A was alive, and is ACKed with
        its address;
      - new clients go on being served by B, first from B's own share only
        (nothing borrowed: the pool is far from used up), then, once A's
        session lock is gone (at once: its socket closed) and B looked at
        the members again, from A's former share too, within member_timeout
        plus a heartbeat;
      - no address is ever ACKed to two clients, in the database or on the
        wire.

    isc-dhcpd failover answers the partner's clients the same way but takes
    over the partner's free addresses only after the operator (or
    auto-partner-down) declares it down; Kea HA serves the partner's
    clients only once its heartbeat declares the partner down
    (max-response-delay, 60 s by default).
    """
    require_root()
    from dhcpsuite.server.config import PostgreSQLConfig
    from tests.integration.test_server import ACK, REQUEST, dhcp_message, relay

    pool = "10.77.1.0-10.77.250.255"
    with two_servers(tmp_path, daemons, cluster, pool, ("tpe", "tpf")) as (db, one, a, two, b):
        members = wait_members(cluster, db, 2)
        out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
        relay_a, relay_b = relay_load(one, out_a, 100, 20.0), relay_load(two, out_b, 100, 20.0, first=1_000_000)
        acked_a, acked_b = finish(relay_a, out_a), finish(relay_b, out_b)
        assert len(acked_a) == 100 and len(acked_b) == 100
        # The load comes through a second relay address: the INIT-REBOOTs
        # below need 10.77.0.2:67 to themselves.
        out_new = tmp_path / "new.json"
        two.client.run(["ip", "addr", "add", "10.77.0.3/16", "dev", two.client_if])
        load = relay_load(two, out_new, 1_000_000, 8.0, first=2_000_000, giaddr="10.77.0.3")
        # Built before the kill (scapy's import takes a second): the time
        # measured is the server's and one sender process's start.
        requests = []
        for n, (mac, address) in enumerate(acked_a.items()):
            mac_text = ":".join(mac[i:i + 2] for i in range(0, 12, 2))
            if n % 2:
                requests.append(dhcp_message(REQUEST, mac_text, 0x5000 + n, giaddr="10.77.0.2", ciaddr=address))
            else:
                requests.append(dhcp_message(REQUEST, mac_text, 0x5000 + n, giaddr="10.77.0.2",
                                             options=[(50, ipaddress.IPv4Address(address).packed)]))
        time.sleep(2.0)
        a.stop(signal.SIGKILL)
        killed_wall, killed = time.time(), time.monotonic()
        first_ack = None
        for n, ((mac, address), request) in enumerate(zip(acked_a.items(), requests)):
            replies = relay(two, request)
            acks = [r for r in replies if r.xid == 0x5000 + n]
            assert acks and acks[0].message_type == ACK, (mac, address, [r.message_type for r in acks])
            assert str(acks[0].yiaddr) == address
            if first_ack is None:
                first_ack = time.monotonic() - killed
        new = finish(load, out_new)
        b.stop()
    before, after, taken = takeover(cluster, db, members, b, {**acked_a, **acked_b}, new, killed_wall)
    share_back = taken[0] - killed_wall
    first_new = after[0][0] - killed_wall
    timeout = PostgreSQLConfig().member_timeout
    print(f"SIGKILL of one of two servers under load: first INIT-REBOOT ACK by the survivor {first_ack * 1000:.0f} ms "
          f"after the kill, first new client {first_new * 1000:.0f} ms, first address of the dead server's share "
          f"{share_back * 1000:.0f} ms; {len(before)} new clients before the kill, {len(after)} after "
          f"({len(taken)} from the dead server's share)")
    assert share_back < timeout + 1.0 + 0.5, share_back


def test_hung_server_share_returns_after_member_timeout(tmp_path, daemons, cluster) -> None:
    """
    A server that hangs (SIGSTOP: its process and its database session stay,
    so its advisory lock stays held) stops beating; the survivor takes its
    share once its heartbeat is older than member_timeout (3 s), not
    before, and not only when it dies. Its clients are answered by the
    survivor throughout (they are in the database). (isc-dhcpd failover
    moves to communications-interrupted after mclt/max-response-delay and
    still serves only its own free addresses; Kea HA declares the partner
    down after max-response-delay.)
    """
    require_root()
    from dhcpsuite.server.config import PostgreSQLConfig

    with two_servers(tmp_path, daemons, cluster, "10.77.1.0-10.77.250.255", ("tpm", "tpn")) as (db, one, a, two, b):
        members = wait_members(cluster, db, 2)
        out_a = tmp_path / "a.json"
        acked_a = finish(relay_load(one, out_a, 100, 20.0), out_a)
        out_new = tmp_path / "new.json"
        load = relay_load(two, out_new, 1_000_000, 9.0, first=2_000_000)
        time.sleep(2.0)
        a.process.send_signal(signal.SIGSTOP)
        stopped = time.time()
        new = finish(load, out_new)
        a.process.send_signal(signal.SIGCONT)
        a.stop()
        b.stop()
    _, after, taken = takeover(cluster, db, members, b, acked_a, new, stopped)
    timeout = PostgreSQLConfig().member_timeout
    share_back = taken[0] - stopped
    print(f"SIGSTOP of one of two servers under load: first address of its share handed out by the survivor "
          f"{share_back * 1000:.0f} ms after (member_timeout {timeout:g} s); {len(after)} new clients after the stop")
    # Its last beat may be up to a heartbeat before the stop; the survivor looks once a second.
    assert timeout - 1.0 - 0.2 <= share_back <= timeout + 1.0 + 0.5, share_back


def test_two_daemons_one_database_share_free_addresses(tmp_path, daemons, cluster) -> None:
    """
    Two daemons with the same 400-address pool on one database, 150 new
    clients at each at once. Each offers new clients only its own share
    (rendezvous hashing over the live members), so their offers do not
    collide: races lost at commit are about 0 (before shares, 103-150 of
    300 clients were NAKed after losing at commit, as both offered the same
    free addresses). The database stays the arbiter: no address is ever
    ACKed to two clients, and every ACK is its row. (isc-dhcpd failover
    splits free addresses between the peers in the same way, by its own
    protocol; Kea HA load-balancing splits clients by hash instead, RFC 3074.)
    """
    require_root()
    with two_servers(tmp_path, daemons, cluster, "10.77.1.0-10.77.2.143", ("tpc", "tpd")) as (db, one, first, two, second):
        members = wait_members(cluster, db, 2)
        out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
        relay_a = relay_load(one, out_a, 150, 30.0, first=0)
        relay_b = relay_load(two, out_b, 150, 30.0, first=1_000_000)
        acked_a, acked_b = finish(relay_a, out_a), finish(relay_b, out_b)
        first.stop(signal.SIGTERM)
        second.stop(signal.SIGTERM)
        outputs = first.output() + second.output()
    assert len(acked_a) == 150 and len(acked_b) == 150, (len(acked_a), len(acked_b))
    by_address: dict[str, set[str]] = {}
    for mac, address in {**acked_a, **acked_b}.items():
        by_address.setdefault(address, set()).add(mac)
    shared = {a: macs for a, macs in by_address.items() if len(macs) > 1}
    assert not shared, f"addresses ACKed to two clients: {list(shared.items())[:5]}"
    rows = bound_rows(cluster, db)
    lost = [(mac, a) for mac, a in {**acked_a, **acked_b}.items() if rows.get(a) != ("bound", mac)]
    assert not lost, f"ACKed bindings not in the database: {lost[:5]}"
    from dhcpsuite.server.shares import owner

    owners = {name: 0 for name in members}
    for address in {**acked_a, **acked_b}.values():
        owners[owner(ipaddress.IPv4Address(address), members)] += 1
    conflicts = outputs.count("Lost 10.77.")
    print(f"300 clients on two servers sharing one pool: {conflicts} races lost at commit; "
          f"addresses per member's share {sorted(owners.values())}")
    assert conflicts <= 3, f"{conflicts} races lost at commit: the servers do not keep to their shares"


def test_two_daemons_on_one_bridged_segment(tmp_path, daemons, cluster) -> None:
    """
    One segment (a Linux bridge) with two servers on it (10.77.0.1 and
    10.77.0.3, one namespace each, the same pool, one database) and a
    relay agent with both as helper addresses: every DISCOVER and REQUEST
    reaches both servers, both offer, the client takes the first offer and
    the other server withdraws its own (RFC 2131 4.3.2: the REQUEST names
    the chosen server). 200 new clients: both servers hand out leases, each
    from its own share, no race lost at commit, no address ACKed to two
    clients. Then, their 4 s leases lapsed, the same 200 clients DISCOVER
    again: both servers offer each one its previous address (a client's own
    address ignores shares), it chooses one, and the other's withdrawal of
    its offer must not delete the binding the chosen one commits (it did: a
    withdrawn offer was a delete in the database). Every client gets its
    address back and every ACK is its row. (Here even servers without shares rarely collide: both see
    every DISCOVER, so they offer one client the same address; the relay
    tests above, one server per relay, are the ones shares change. Two isc-dhcpd failover peers on a
    segment answer only the clients their load-balancing hash gives each;
    Kea HA load balancing likewise.)
    """
    require_root()
    from dhcpsuite.server.shares import owner

    db = fresh_database(cluster)
    config = pg_config(tmp_path / "state", cluster, db,
                       subnet_config(pool=["10.77.1.0-10.77.4.255"], lease_time=4, min_lease_time=1))
    with VethPair(prefix="tpi") as one, VethPair(prefix="tpj", server_address="10.77.0.3/16") as two:
        # The bridge joins both servers' links in the first client namespace.
        segment = one.client
        two.client.run(["ip", "link", "set", two.client_if, "name", "cli1"])
        two.client.run(["ip", "link", "set", "cli1", "netns", segment.name])
        segment.run(["ip", "link", "add", "br0", "type", "bridge"])
        for port in (one.client_if, "cli1"):
            segment.run(["ip", "link", "set", port, "master", "br0"])
            segment.run(["ip", "link", "set", port, "up"])
        segment.run(["ip", "addr", "add", "10.77.0.2/16", "dev", "br0"])
        segment.run(["ip", "link", "set", "br0", "up"])
        wait_until(lambda: segment.run(["bridge", "link"]).stdout.count("state forwarding") == 2, 10,
                   "both bridge ports forwarding")
        first, second = daemons.start(one.server, config), daemons.start(two.server, config)
        members = wait_members(cluster, db, 2)
        out = tmp_path / "acked.json"
        acked = finish(relay_load(one, out, 200, 40.0, server="10.77.0.1,10.77.0.3"), out)
        time.sleep(4.5)
        again_out = tmp_path / "again.json"
        again = finish(relay_load(one, again_out, 200, 40.0, server="10.77.0.1,10.77.0.3"), again_out)
        first.stop()
        second.stop()
        outputs = [first.output(), second.output()]
    assert len(acked) == 200, len(acked)
    assert again == acked, f"{sum(again.get(m) != a for m, a in acked.items())} clients got another address"
    addresses = list(acked.values())
    assert len(set(addresses)) == len(addresses), "an address was ACKed to two clients"
    rows = bound_rows(cluster, db)
    # Bound, or expired since by the sweep on a slow run: the client's row either way, never deleted.
    missing = [(mac, a) for mac, a in again.items() if a not in rows or rows[a][1] != mac or rows[a][0] not in ("bound", "expired")]
    assert not missing, f"{len(missing)} ACKed bindings not the database's, e.g. {missing[:3]}"
    acks = [output.count(": ACK 10.77.") for output in outputs]
    conflicts = sum(output.count("Lost 10.77.") for output in outputs)
    by_share = {name: 0 for name in members}
    for address in addresses:
        by_share[owner(ipaddress.IPv4Address(address), members)] += 1
    print(f"200 clients on one segment with two servers: ACKs per server {acks}, addresses per member's share "
          f"{sorted(by_share.values())}, {conflicts} races lost at commit")
    assert min(acks) > 0, acks
    assert conflicts <= 3, conflicts


CONTROL_PORTS = {"srv0": 8801, "srv1": 8802}


def test_two_daemons_on_one_host(tmp_path, daemons, cluster) -> None:
    """
    Two server processes in one namespace (one host), each on its own
    interface (srv0, srv1: each binds port 67 with SO_BINDTODEVICE), on
    one database with the same pools. Both join as live members (same
    host, different pids), each serves its relayed clients, and every ACK
    is the database's. Each one's C{dhcpsuite-ctl cluster} shows both
    alive and their shares adding up to each pool. (isc-dhcpd cannot run two failover peers in one
    network namespace on one port; Kea's HA peers are separate processes
    and can, on different interfaces.)
    """
    require_root()
    db = fresh_database(cluster)
    pools = {"10.77.0.0/16": "10.77.1.0-10.77.1.255", "10.78.0.0/16": "10.78.1.0-10.78.1.255"}

    def config(own: str, interface: str) -> dict:
        subnets = []
        for network, pool in pools.items():
            subnet = subnet_config(subnet=network, pool=[pool], lease_time=3600, router=[network[:-4] + "1"])
            del subnet["interface"]
            if network == own:
                subnet["interface"] = interface
            else:
                subnet["server_address"] = network[:-4] + "1"
            subnets.append(subnet)
        document = pg_config(tmp_path / f"state-{interface}", cluster, db, *subnets, log_exchanges=False)
        document["control"] = {"listen": f"tcp:{CONTROL_PORTS[interface]}:interface=127.0.0.1"}
        return document

    with VethPair(prefix="tpg", client_address="10.77.0.2/16") as one, \
            VethPair(prefix="tph", server_address="10.78.0.1/16", client_address="10.78.0.2/16") as two:
        # The second pair's server end joins the first pair's server namespace as srv1.
        two.server.run(["ip", "link", "set", two.server_if, "name", "srv1"])
        two.server.run(["ip", "link", "set", "srv1", "netns", one.server.name])
        one.server.run(["ip", "addr", "add", "10.78.0.1/16", "dev", "srv1"])
        one.server.run(["ip", "link", "set", "srv1", "up"])
        first = daemons.start(one.server, config("10.77.0.0/16", "srv0"))
        second = daemons.start(one.server, config("10.78.0.0/16", "srv1"))
        members = wait_members(cluster, db, 2)
        out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
        relay_a = relay_load(one, out_a, 100, 30.0)
        relay_b = relay_load(two, out_b, 100, 30.0, first=1_000_000, giaddr="10.78.0.2", server="10.78.0.1")
        acked_a, acked_b = finish(relay_a, out_a), finish(relay_b, out_b)
        # The operator's view from either process: dhcpsuite-ctl cluster.
        views = {}
        for interface, port in CONTROL_PORTS.items():
            ctl = [sys.executable, "-m", "dhcpsuite.control.cli", "--url", f"http://127.0.0.1:{port}", "cluster"]
            views[interface] = json.loads(one.server.run(ctl + ["--json"]).stdout)
            table = one.server.run(ctl).stdout
            assert "MEMBER" in table and "10.77.1.0-10.77.1.255:" in table, table
        first.stop()
        second.stop()
    for interface, view in views.items():
        assert view["alive"] == 2 and sorted(view["sharing"]) == members, view
        for pool in pools.values():
            assert sum(m["share"][pool] for m in view["members"]) == 256, view
        assert [m["pid"] for m in view["members"] if m["self"]] == [(first if interface == "srv0" else second).process.pid]
    hosts = {name.rsplit(":", 2)[0] for name in members}
    pids = {int(name.rsplit(":", 2)[1]) for name in members}
    assert len(hosts) == 1 and pids == {first.process.pid, second.process.pid}, members
    assert len(acked_a) == 100 and len(acked_b) == 100, (len(acked_a), len(acked_b))
    assert all(a.startswith("10.77.1.") for a in acked_a.values()) and all(a.startswith("10.78.1.") for a in acked_b.values())
    rows = bound_rows(cluster, db)
    assert all(rows[a] == ("bound", mac) for mac, a in {**acked_a, **acked_b}.items())
    print(f"two server processes on one host, srv0 and srv1: members {members}, 100 clients each")


def test_daemon_refuses_to_start_in_one_line(tmp_path, cluster) -> None:
    """
    PostgreSQL unreachable, wrong password: one line and exit 3; a password
    file others can read: a configuration error naming the key, exit 2.
    (Kea logs the connection failure and exits; it takes the password
    inline in its configuration.)
    """
    require_root()
    from tests.integration.conftest import TWISTD, toml_document

    db = fresh_database(cluster)
    wrong = tmp_path / "wrong-password"
    wrong.write_text("nope\n")
    wrong.chmod(0o600)
    readable = tmp_path / "readable-password"
    readable.write_text("x\n")
    readable.chmod(0o644)
    cases = [
        ({"host": str(tmp_path)}, 3, f"cannot start: cannot connect to the lease database postgresql://dhcpsuite@{tmp_path}:"),
        ({"password_file": str(wrong)}, 3, "password authentication failed"),
        ({"password_file": str(readable)}, 2,
         f"server.postgresql.password_file: {readable} is readable by group or others (mode 0644); chmod 600 it"),
    ]
    with VethPair(prefix="tpg") as pair:
        for n, (change, status, text) in enumerate(cases):
            config = pg_config(tmp_path / "state", cluster, db)
            config["server"]["postgresql"].update(change)
            path = tmp_path / f"dhcpsuite-{n}.toml"
            path.write_text(toml_document(config))
            result = pair.server.run([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)],
                                     check=False, timeout=60)
            output = result.stdout + result.stderr
            assert result.returncode == status, output
            assert text in output, output
            assert "Traceback" not in output, output


def test_daemon_with_overlapping_different_pools_refused(tmp_path, cluster) -> None:
    """
    Another live server on the database serves 10.77.0.150-10.77.0.250;
    this daemon's pool 10.77.0.100-10.77.0.199 overlaps it but differs: it
    refuses to start, naming the other server, instead of serving addresses
    the other never considers.
    """
    require_root()
    from dhcpsuite.leases.postgresql import PostgreSQLLeaseStore
    from tests.integration.conftest import TWISTD, toml_document
    from tests.unit.test_lease_stores import ThreadCallReactor

    db = fresh_database(cluster)
    reactor = ThreadCallReactor()
    other = PostgreSQLLeaseStore(cluster.config(db), reactor=reactor, pools=[("10.77.0.150", "10.77.0.250")],
                                 name="other-server")
    try:
        path = tmp_path / "dhcpsuite.toml"
        path.write_text(toml_document(pg_config(tmp_path / "state", cluster, db)))
        with VethPair(prefix="tph") as pair:
            result = pair.server.run([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)],
                                     check=False, timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode == 3, output
        assert ("server other-server serves pools 10.77.0.150-10.77.0.250, which overlap but differ from this "
                "server's 10.77.0.100-10.77.0.199") in output, output
        assert "Traceback" not in output, output
    finally:
        reactor.run_until(other.close())
        other.join(10)
