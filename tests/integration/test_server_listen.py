"""
A relayed client's unicast RENEW on a C{listen}-only interface, end to end,
against dhcpsuite, ISC Kea 2.2 and ISC dhcpd 4.4, each in the same routed
topology (L{tests.support.routed.RoutedRelay}): ISC dhclient on the
client link, dnsmasq relaying on the router, the server behind it on a link
that serves no subnet of its own (dhcpsuite: C{[server] listen}; Kea: the
interface in C{interfaces-config}, the subnet without C{interface}; dhcpd:
an empty subnet declaration for that link).

The client gets its lease through the relay (giaddr 10.62.0.1). Then the
relay is stopped, so the only way a RENEW can be answered is the way RFC
2131 4.3.2 and 4.4.5 say a RENEWING client sends it: unicast from its
address straight to the server identifier, routed, giaddr 0. Kea selects
that packet's subnet by ciaddr (CfgSubnets4::selectSubnet) and ACKs it,
so does dhcpd (the subnet of ciaddr, dhcprequest's find_subnet);
dhcpsuite did not (C{drop:no-subnet}: the client could renew only by
rebinding through its relay at T2).
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Callable

import pytest

from dhcpsuite.dhcp4.packet import decode_message
from tests.integration.conftest import ClientFactory, DaemonFactory
from tests.support.environment import require_programs, require_root
from tests.support.netns import udp_exchange, wait_udp_listening
from tests.support.peers import ACK, NAK, REQUEST, bootp, start_kea
from tests.support.routed import RoutedRelay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

POOL = "10.62.0.100-10.62.0.199"
# T1 soon: dhclient RENEWs by itself at T1 (option 58), by unicast.
LEASE_TIME, RENEWAL_TIME, REBINDING_TIME = 120, 4, 100
# What dhclient's script is given that the servers must agree on.
COMPARED = ("new_ip_address", "new_subnet_mask", "new_routers", "new_dhcp_server_identifier", "new_dhcp_lease_time")


def start_dhcpsuite(daemons: DaemonFactory, topology: RoutedRelay, workdir: Path) -> None:
    daemons.start(topology.server, {
        "state_dir": str(workdir / "state"),
        "server": {
            "lease_store": "memory", "log_exchanges": True, "listen": [topology.server_if],
            "client_rate_limit": {"rate": 0},
            "subnet": [{
                "subnet": topology.client_network, "server_address": topology.server_address, "pool": [POOL],
                "lease_time": LEASE_TIME, "renewal_time": RENEWAL_TIME, "rebinding_time": REBINDING_TIME,
                "router": [topology.relay_address], "authoritative": True,
            }],
        },
    })


def start_kea_server(daemons: DaemonFactory, topology: RoutedRelay, workdir: Path) -> None:
    # UDP sockets: every reply here goes to a relay or to ciaddr through the kernel.
    config = {"Dhcp4": {
        "interfaces-config": {"interfaces": [topology.server_if], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": False},
        "valid-lifetime": LEASE_TIME, "renew-timer": RENEWAL_TIME, "rebind-timer": REBINDING_TIME,
        "authoritative": True,
        "subnet4": [{
            "id": 1, "subnet": topology.client_network, "pools": [{"pool": POOL}],
            "option-data": [{"name": "routers", "data": topology.relay_address}],
        }],
        "loggers": [{"name": "kea-dhcp4", "severity": "DEBUG", "debuglevel": 40,
                     "output_options": [{"output": "stdout"}]}],
    }}
    workdir.mkdir(parents=True, exist_ok=True)
    peer = start_kea(topology, workdir, json.dumps(config))
    try:
        wait_udp_listening(topology.server, 67, peer.process)
    except RuntimeError as e:
        raise AssertionError(f"{e}:\n{peer.log()}") from None


def start_dhcpd(daemons: DaemonFactory, topology: RoutedRelay, workdir: Path) -> None:
    # dhcpd serves no interface it has no subnet declaration for: an empty
    # one for the relay-facing link (dhcpd's way of saying listen-only).
    workdir.mkdir(parents=True, exist_ok=True)
    conf, leases = workdir / "dhcpd.conf", workdir / "dhcpd.leases"
    conf.write_text(
        "ddns-update-style none;\nping-check false;\nauthoritative;\n"
        f"default-lease-time {LEASE_TIME};\nmax-lease-time {LEASE_TIME};\n"
        "subnet 10.61.0.0 netmask 255.255.255.0 {}\n"
        "subnet 10.62.0.0 netmask 255.255.255.0 {\n"
        f"  range {POOL.replace('-', ' ')};\n  option routers {topology.relay_address};\n"
        f"  option dhcp-renewal-time {RENEWAL_TIME};\n  option dhcp-rebinding-time {REBINDING_TIME};\n}}\n"
    )
    leases.touch()
    with open(workdir / "dhcpd.out", "ab") as sink:
        process = topology.server.spawn(["dhcpd", "-4", "-f", "-d", "-cf", str(conf), "-lf", str(leases),
                                         "-pf", str(workdir / "dhcpd.pid"), topology.server_if], stdout=sink)
    try:
        wait_udp_listening(topology.server, 67, process)
    except RuntimeError as e:
        raise AssertionError(f"{e}:\n{(workdir / 'dhcpd.out').read_text()}") from None


STARTERS: dict[str, Callable[[DaemonFactory, RoutedRelay, Path], None]] = {
    "dhcpsuite": start_dhcpsuite,
    "kea": start_kea_server,
    "dhcpd": start_dhcpd,
}


def crafted_renew(topology: RoutedRelay, mac: bytes, xid: int, ciaddr: str) -> str:
    """
    A RENEW from C{ciaddr}:68 (added to the client's link) by unicast to the
    server, without a client identifier (as dhclient sends it): the name of
    the reply's type, or C{"silence"}.
    """
    topology.client.run(["ip", "addr", "replace", f"{ciaddr}/24", "dev", topology.client_if])
    payload = bootp(REQUEST, mac, xid, ciaddr=ciaddr)
    replies = udp_exchange(topology.client, payload, (ciaddr, 68), (topology.server_address, 67), timeout=3.0,
                           device=topology.client_if)
    kinds = {decode_message(data).message_type for _, data in replies if decode_message(data).xid == xid}
    return {frozenset({ACK}): "ack", frozenset({NAK}): "nak", frozenset(): "silence"}.get(frozenset(kinds), str(kinds))


def run_scenario(name: str, tmp_path: Path) -> dict:
    """
    In a fresh topology: bind through the relay, stop the relay, let T1
    come (dhclient RENEWs by unicast), then crafted RENEWs from the client
    link. @return: what the client and the crafted requests got.

    (dhclient, not busybox udhcpc: udhcpc takes T1 as at least 61 s, and
    its unicast RENEW goes out on a socket bound to ciaddr:68 that it
    closes right after sending, so an answer within microseconds, as on
    veth, is sometimes delivered to that socket and lost.)
    """
    workdir = tmp_path / name
    daemons, clients = DaemonFactory(workdir), ClientFactory(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with RoutedRelay() as topology:
        try:
            STARTERS[name](daemons, topology, workdir)
            topology.start_relay(workdir / "relay")
            client = clients.dhclient(topology)
            index, _ = client.wait_event({"BOUND"}, timeout=30)
            bound = client.environment(index)
            address = bound["new_ip_address"]
            assert IPv4Address(address) in IPv4Network(topology.client_network), bound
            topology.stop_relay()
            try:
                after, event = client.wait_event({"RENEW", "REBIND", "EXPIRE", "FAIL"}, after=index + 1,
                                                 timeout=RENEWAL_TIME + 10)
                renewed = {key: client.environment(after).get(key) for key in COMPARED}
            except AssertionError:
                event, renewed = "silence", {}
            client.stop()
            mine = bytes.fromhex(topology.client.run(
                ["cat", f"/sys/class/net/{topology.client_if}/address"]).stdout.strip().replace(":", ""))
            return {
                "bound": {key: bound.get(key) for key in COMPARED},
                "renew": event,
                "renewed": renewed,
                "own": crafted_renew(topology, mine, 0x5E1, address),
                "stranger": crafted_renew(topology, bytes.fromhex("02d700000001"), 0x5E2, address),
                "unknown": crafted_renew(topology, bytes.fromhex("02d700000002"), 0x5E3, "10.62.0.150"),
                "log": "\n".join(text[-3000:] for text in (
                    *(daemon.output() for daemon in daemons.daemons),
                    *(path.read_text(errors="replace") for path in workdir.glob("*.out") if path.name.startswith(("dhcpd", "kea"))),
                )),
            }
        finally:
            for daemon in daemons.daemons:
                daemon.stop()


def test_relayed_clients_unicast_renew_on_a_listen_interface_is_acked_as_kea_and_dhcpd_do(tmp_path):
    """
    dhcpsuite, Kea and dhcpd, each with the lease it gave through the same
    relay, ACK the client's unicast RENEW at T1 (dhclient's C{RENEW}) with the
    same address, mask, router and server identifier (and lease time; dhcpd
    tells what is left of the lease it reuses), and the same client's
    crafted RENEW too. Measured besides (Kea 2.2.0, dhcpd
    4.4.3-P1, Debian 12):
      - another client's RENEW for that address: all three NAK it. Kea
        sends the NAK to ciaddr, so it reaches the client; dhcpsuite and
        dhcpd broadcast it on their own link, as RFC 2131 4.1 says for
        giaddr 0, so across a router it reaches nobody: that client's
        REBIND through the relay at T2 gets the relayed NAK.
      - a RENEW of a free pool address nobody holds: Kea and dhcpd ACK it,
        creating the binding on the word of a unicast from wherever it was
        routed. dhcpsuite deliberately stays silent: no relay vouches for
        where that client is (on a served link the link does), and any
        host that can route to us could take addresses of every relayed
        subnet that way, past the relay's rate limit. The client's REBIND
        through its relay at T2 re-creates it.
    """
    require_root()
    require_programs("ss", "ethtool", "dhclient", "dnsmasq", "kea-dhcp4", "dhcpd")
    results = {name: run_scenario(name, tmp_path) for name in STARTERS}
    print({name: {k: v for k, v in r.items() if k != "log"} for name, r in results.items()})
    ours = results["dhcpsuite"]
    assert ours["bound"]["new_dhcp_server_identifier"] == "10.61.0.1", ours
    for name, result in results.items():
        assert result["renew"] == "RENEW", (name, result)
        assert result["bound"] == ours["bound"], (name, result, ours)
        assert result["own"] == "ack", (name, result)
    assert ours["renewed"] == results["kea"]["renewed"] == ours["bound"], results
    # dhcpd reuses a lease renewed within dhcp-cache-threshold (25 % of its
    # time) and tells what is left of it.
    dhcpd = dict(results["dhcpd"]["renewed"])
    assert int(dhcpd.pop("new_dhcp_lease_time")) <= LEASE_TIME, results["dhcpd"]
    assert dhcpd == {key: value for key, value in ours["bound"].items() if key != "new_dhcp_lease_time"}, results["dhcpd"]
    assert (results["kea"]["stranger"], results["kea"]["unknown"]) == ("nak", "ack"), results["kea"]
    assert (results["dhcpd"]["stranger"], results["dhcpd"]["unknown"]) == ("silence", "ack"), results["dhcpd"]
    assert "DHCPNAK on 10.62.0.100 to 02:d7:00:00:00:01" in results["dhcpd"]["log"], results["dhcpd"]["log"]
    assert (ours["stranger"], ours["unknown"]) == ("silence", "silence"), ours
    assert "REQUEST from 02:d7:00:00:00:01 via srv0: NAK" in ours["log"], ours["log"]
    assert "unicast-renew-without-binding" in ours["log"], ours["log"]
