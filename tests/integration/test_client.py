"""
dhcpsuite's DHCPv4 client end to end, as root in network namespaces: the
client runs as C{twistd -n -y tac/client.tac} inside the client namespace
(the deployment path), configures the interface through the real netlink
configurator, and talks to dnsmasq or to dhcpsuite's own server in the
server namespace. Every check is on the interface (C{ip -j}), the server's
log or what the hook program recorded.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    TWISTD,
    Daemon,
    Dnsmasq,
    addresses,
    interface,
    log_has,
    recorder,
    routes,
    server_config,
    subnet_config,
    toml_document,
    wait_address,
    wait_until,
)
from tests.support.environment import require_programs, require_root
from tests.support.netns import Namespace, VethPair

REPOSITORY = Path(__file__).resolve().parents[2]
CLIENT_TAC = REPOSITORY / "tac" / "client.tac"

@pytest.fixture(autouse=True)
def needs_root_and_dnsmasq():
    require_root()
    require_programs("dnsmasq")


def start_client(tmp_path: Path, ns: Namespace, interfaces: list[dict], name: str = "client") -> Daemon:
    config = {"state_dir": str(tmp_path / f"{name}-state"), "client": {"interface": interfaces}}
    path = tmp_path / f"{name}.toml"
    path.write_text(toml_document(config))
    env = dict(os.environ, DHCPSUITE_CONFIG=str(path))
    return Daemon(ns, [TWISTD, "-n", "--pidfile=", "-y", str(CLIENT_TAC)], tmp_path / f"{name}.out", env)


def test_binds_renews_and_gives_udhcpc_scripts_their_environment(tmp_path):
    """
    Against dnsmasq: the address and the default route are on the interface,
    the lease renews at the server's T1 (unicast, EXTEND -> "renew"), and the
    hook program gets the same variables real udhcpc gives its script.
    """
    udhcpc = require_programs("udhcpc")["udhcpc"]
    with VethPair(prefix="tca") as pair:
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", [
            "dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m",
            "dhcp-option=3,10.77.0.1", "dhcp-option=6,10.77.0.53,10.77.0.54", "dhcp-option=15,example.lan",
            "dhcp-option=42,10.77.0.123", "dhcp-option=58,3", "dhcp-option=59,100",
        ])
        # What real udhcpc gives its script, for the same server.
        reference = recorder(tmp_path / "udhcpc", pair.client)
        reference.start([udhcpc, "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "cli0",
                         "-s", str(reference.directory / "script"), "-O", "ntpsrv"])
        index, _ = reference.wait_event({"bound"})
        expected = reference.environment(index)
        pair.client.stop(reference.process)

        hooks = recorder(tmp_path / "hooks", pair.client)
        daemon = start_client(tmp_path, pair.client, [interface(script=str(hooks.directory / "script"))])
        hooks.process = daemon.process
        index, _ = hooks.wait_event({"bound"})
        env = hooks.environment(index)
        address = wait_address(pair.client, daemon)
        assert address == f"{env['ip']}/16"
        default = [r for r in routes(pair.client) if r["dst"] == "default"]
        assert default and default[0]["gateway"] == "10.77.0.1", routes(pair.client)
        for key in ("interface", "subnet", "mask", "router", "dns", "domain", "serverid", "broadcast", "ntpsrv"):
            assert env.get(key) == expected.get(key), (key, env.get(key), expected.get(key))
        assert env["lease"] in ("120", "119")
        # Every udhcpc variable (they are lower case; the rest is inherited).
        missing = {key for key in expected if key.islower()} - set(env)
        assert missing <= {"siaddr"}, missing
        for key in set(expected) & set(env):
            if key.islower() and key not in ("lease",):
                assert env[key] == expected[key], (key, env[key], expected[key])

        # T1 = 3 s: a unicast renew, EXTEND.
        index, _ = hooks.wait_event({"renew"}, after=index + 1, timeout=10)
        assert hooks.environment(index)["ip"] == env["ip"]
        assert "RENEWING -> BOUND" in daemon.output()
        assert addresses(pair.client) == [address]
        daemon.stop()
        server.stop()


def test_rebinds_after_server_was_away_past_t2_then_expires(tmp_path, daemons):
    """
    Against dhcpsuite's own server with a 16 s lease (T1 3 s, T2 6 s): the
    server is stopped, the client renews in vain, rebinds by broadcast past
    T2, and the restarted server (same lease store) extends the lease. Then
    the server goes away for good and at expiry the address and the route
    are removed.
    """
    with VethPair(prefix="tcb") as pair:
        state = tmp_path / "server-state"
        config = server_config(state, subnet_config(lease_time=16, min_lease_time=1, renewal_time=3,
                                                    rebinding_time=6))
        server = daemons.start(pair.server, config)
        hooks = recorder(tmp_path / "hooks", pair.client)
        # A 16 s lease is below the default minimum_lease (60 s): allow it.
        daemon = start_client(tmp_path, pair.client, [interface(script=str(hooks.directory / "script"),
                                                                minimum_lease=4)])
        hooks.process = daemon.process
        hooks.wait_event({"bound"})
        address = wait_address(pair.client, daemon)
        assert any(r["dst"] == "default" for r in routes(pair.client))
        server.stop()
        wait_until(lambda: log_has(daemon, "BOUND -> RENEWING"), 6, "RENEWING")
        wait_until(lambda: log_has(daemon, "RENEWING -> REBINDING"), 6, "REBINDING")
        server = daemons.start(pair.server, config)
        wait_until(lambda: log_has(daemon, "REBINDING -> BOUND"), 12, "rebind ACK")
        wait_until(lambda: hooks.events()[-1] == "renew", 3, "EXTEND hook")
        assert addresses(pair.client) == [address]

        server.stop()
        wait_until(lambda: "deconfig" in hooks.events(), 25, "expiry")
        assert hooks.environment(len(hooks.events()) - 1)["reason"] == "EXPIRE"
        wait_until(lambda: addresses(pair.client) == [], 3, "address removed")
        assert not any(r["dst"] == "default" for r in routes(pair.client))
        daemon.stop()


def test_nak_restarts_and_binds_the_new_address(tmp_path):
    """
    A restarted client INIT-REBOOTs with its persisted lease; the server now
    has another address reserved for it and NAKs; the client goes back to
    INIT and binds the new address.
    """
    with VethPair(prefix="tcc", client_mac="02:00:00:00:00:31") as pair:
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq1", ["dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m"])
        hooks = recorder(tmp_path / "hooks", pair.client)
        daemon = start_client(tmp_path, pair.client, [interface(script=str(hooks.directory / "script"))])
        first = wait_address(pair.client, daemon)
        daemon.stop()  # DROP: the lease stays on disk
        assert addresses(pair.client) == []
        server.stop()
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq2", [
            "dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m", "dhcp-host=02:00:00:00:00:31,10.77.1.1",
        ])
        daemon = start_client(tmp_path, pair.client, [interface(script=str(hooks.directory / "script"))])
        hooks.process = daemon.process
        second = wait_address(pair.client, daemon)
        assert second == "10.77.1.1/16" != first
        output = daemon.output()
        assert "STOPPED -> INIT-REBOOT" in output and "REBOOTING -> INIT (NAK)" in output, output
        # The address is configured by the daemon itself; the hook scripts
        # run as their own processes and may still be running.
        hooks.wait_event({"nak"})
        assert "DHCPNAK" in server.text()
        daemon.stop()


def test_carrier_down_up_reverifies_at_once(tmp_path):
    """
    The peer's link goes down and up: the client marks the lease unverified
    and, the moment carrier is back, re-verifies with an INIT-REBOOT REQUEST
    that the server ACKs.
    """
    with VethPair(prefix="tcd") as pair:
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", ["dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m"])
        hooks = recorder(tmp_path / "hooks", pair.client)
        daemon = start_client(tmp_path, pair.client, [interface(script=str(hooks.directory / "script"))])
        hooks.process = daemon.process
        address = wait_address(pair.client, daemon)
        pair.server.run(["ip", "link", "set", "srv0", "down"])
        wait_until(lambda: log_has(daemon, "cli0: carrier down"), 5, "carrier down")
        requests_before = server.text().count("DHCPREQUEST")
        up = time.monotonic()
        pair.server.run(["ip", "link", "set", "srv0", "up"])
        wait_until(lambda: log_has(daemon, "REBOOTING -> BOUND"), 5, "re-verified")
        assert time.monotonic() - up < 3
        assert "BOUND -> INIT-REBOOT (carrier up)" in daemon.output()
        assert server.text().count("DHCPREQUEST") > requests_before
        wait_until(lambda: "renew" in hooks.events(), 3, "EXTEND hook")
        assert addresses(pair.client) == [address]
        daemon.stop()
        server.stop()


def test_two_interfaces_at_once(tmp_path):
    """
    One daemon, two interfaces on two links, each bound from its own subnet.
    """
    with VethPair(prefix="tce") as pair:
        pair.server.run(["true"])
        from tests.support.netns import run

        run(["ip", "link", "add", "srv1", "netns", pair.server.name, "type", "veth",
             "peer", "name", "cli1", "netns", pair.client.name])
        pair.server.run(["ip", "link", "set", "srv1", "up"])
        pair.server.run(["ip", "addr", "add", "10.78.0.1/16", "dev", "srv1"])
        pair.client.run(["ip", "link", "set", "cli1", "up"])
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", [
            "dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m",
            "dhcp-range=10.78.0.10,10.78.0.250,255.255.0.0,2m",
        ], interfaces=("srv0", "srv1"))
        daemon = start_client(tmp_path, pair.client, [interface("cli0"), interface("cli1")])
        assert wait_address(pair.client, daemon, "cli0", prefix="10.77.")
        assert wait_address(pair.client, daemon, "cli1", prefix="10.78.")
        daemon.stop()
        server.stop()


def test_release_on_stop_removes_the_address(tmp_path):
    """
    With release_on_stop, SIGTERM sends a RELEASE (the server logs it) and
    removes the address and route before the daemon exits.
    """
    with VethPair(prefix="tcf") as pair:
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", [
            "dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m", "dhcp-option=3,10.77.0.1",
        ])
        hooks = recorder(tmp_path / "hooks", pair.client)
        daemon = start_client(tmp_path, pair.client, [interface(release_on_stop=True,
                                                                script=str(hooks.directory / "script"))])
        wait_address(pair.client, daemon)
        hooks.wait_event({"bound"})
        # twistd re-raises the SIGTERM it handled, so -15 is a clean exit too.
        assert daemon.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        assert addresses(pair.client) == []
        assert not any(r["dst"] == "default" for r in routes(pair.client))
        wait_until(lambda: "DHCPRELEASE" in server.text(), 3, "RELEASE at the server")
        assert hooks.events()[-1] == "deconfig"
        assert hooks.environment(len(hooks.events()) - 1)["reason"] == "RELEASE"
        assert not (tmp_path / "client-state" / "client" / "cli0.lease").exists()
        server.stop()


def test_inform_for_a_static_address(tmp_path, daemons):
    """
    INFORM mode against our own server: the statically addressed client gets
    the options (INFORM hook with the DNS servers), no lease.
    """
    with VethPair(prefix="tcg", client_address="10.77.0.3/16") as pair:
        daemons.start(pair.server, server_config(tmp_path / "server-state"))
        hooks = recorder(tmp_path / "hooks", pair.client)
        daemon = start_client(tmp_path, pair.client, [interface(inform="10.77.0.3/16",
                                                                script=str(hooks.directory / "script"))])
        hooks.process = daemon.process
        index, _ = hooks.wait_event({"bound"})
        env = hooks.environment(index)
        assert env["reason"] == "INFORM"
        assert env["dns"] == "10.77.0.53"
        assert "lease" not in env
        assert addresses(pair.client) == ["10.77.0.3/16"]
        daemon.stop()


def test_arp_conflict_declines(tmp_path):
    """
    RFC 5227: the server offers an address another host (here the server
    itself) already uses; the ARP probe finds it, the client sends DECLINE
    and does not configure it.
    """
    with VethPair(prefix="tch", client_mac="02:00:00:00:00:32") as pair:
        pair.server.run(["ip", "addr", "add", "10.77.0.50/16", "dev", "srv0"])
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", [
            "dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m", "dhcp-host=02:00:00:00:00:32,10.77.0.50",
        ])
        # The broadcast flag, or the server's unicast to an address it has
        # itself would never leave it.
        daemon = start_client(tmp_path, pair.client, [interface(arp_probe=True, broadcast_flag=True)])
        wait_until(lambda: "DHCPDECLINE" in server.text(), 8, "DECLINE at the server")
        assert "10.77.0.50 is in use by another host" in daemon.output()
        assert "REQUESTING -> INIT (address conflict)" in daemon.output()
        assert addresses(pair.client) == []
        daemon.stop()
        server.stop()
