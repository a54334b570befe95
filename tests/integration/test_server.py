"""
The DHCPv4 server end to end: C{twistd dhcpsuite} in a server namespace,
real clients (busybox udhcpc, ISC dhclient) or scapy-built packets in a
client namespace, one veth between them.

What each client was given is read from what its hook script was run with;
relayed and INFORM exchanges are checked on the datagrams that arrive; the
lease database only backs up what the clients saw.
"""

from __future__ import annotations

import ipaddress
import signal
import sqlite3
import struct
import time
from pathlib import Path

import pytest

from tests.integration.conftest import server_config, subnet_config, wait_until
from tests.support.environment import require_module, require_programs, require_root
from tests.support.netns import VethPair, udp_exchange

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

POOL_FIRST, POOL_LAST = ipaddress.IPv4Address("10.77.0.100"), ipaddress.IPv4Address("10.77.0.199")
RELAY_ADDRESS = "10.77.0.2"
# Option 82 as a relay agent would add it: circuit-id "eth0/1", remote-id "relay-test".
RELAY_AGENT_INFO = b"\x01\x06eth0/1\x02\x0arelay-test"
MAGIC_COOKIE = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, ACK, NAK, INFORM = 1, 2, 3, 5, 6, 8
LEASE_DB = "server-leases.sqlite3"


def needs(*programs: str) -> None:
    require_root()
    require_programs("ss", "ethtool", *programs)
    require_module("scapy")


# ---------------------------------------------------------------------------
# DHCP messages built with scapy and read back with a plain option walk

def dhcp_message(
    message_type: int,
    mac: str,
    xid: int,
    giaddr: str = "0.0.0.0",
    ciaddr: str = "0.0.0.0",
    options: list[tuple[int, bytes]] = (),
    relay_agent_info: bytes | None = None,
) -> bytes:
    from scapy.layers.dhcp import BOOTP

    header = bytes(BOOTP(
        op=1, xid=xid, chaddr=bytes.fromhex(mac.replace(":", "")), ciaddr=ciaddr, giaddr=giaddr,
        hops=1 if giaddr != "0.0.0.0" else 0,
    ))
    body = bytes([53, 1, message_type])
    for code, value in options:
        body += bytes([code, len(value)]) + value
    if relay_agent_info is not None:
        # RFC 3046: the relay agent appends option 82 last.
        body += bytes([82, len(relay_agent_info)]) + relay_agent_info
    return header + MAGIC_COOKIE + body + b"\xff"


class Reply:
    def __init__(self, payload: bytes, source: tuple[str, int]) -> None:
        assert len(payload) >= 240 and payload[236:240] == MAGIC_COOKIE, payload.hex()
        self.source = source
        self.op = payload[0]
        self.xid = struct.unpack("!I", payload[4:8])[0]
        self.ciaddr, self.yiaddr, self.siaddr, self.giaddr = (
            ipaddress.IPv4Address(payload[i:i + 4]) for i in (12, 16, 20, 24)
        )
        self.chaddr = payload[28:34]
        self.options: dict[int, bytes] = {}
        i = 240
        while i < len(payload) and payload[i] != 255:
            if payload[i] == 0:
                i += 1
                continue
            assert i + 2 <= len(payload) and i + 2 + payload[i + 1] <= len(payload), "option overruns the packet"
            self.options[payload[i]] = payload[i + 2:i + 2 + payload[i + 1]]
            i += 2 + payload[i + 1]

    @property
    def message_type(self) -> int:
        return self.options[53][0]

    def addresses(self, code: int) -> list[str]:
        value = self.options[code]
        return [str(ipaddress.IPv4Address(value[i:i + 4])) for i in range(0, len(value), 4)]

    def u32(self, code: int) -> int:
        return struct.unpack("!I", self.options[code])[0]


def exchange(pair: VethPair, payload: bytes, bind: tuple[str, int], dest: tuple[str, int],
             timeout: float = 3.0) -> list[Reply]:
    return [Reply(data, source) for source, data in
            udp_exchange(pair.client, payload, bind, dest, timeout=timeout, device=pair.client_if)]


def relay(pair: VethPair, payload: bytes, giaddr: str = RELAY_ADDRESS, timeout: float = 3.0) -> list[Reply]:
    """
    Send as a relay agent does: from giaddr:67 to the server's address:67;
    the reply must come back to giaddr:67 (the socket is bound to giaddr,
    so a broadcast reply would not reach it).
    """
    return exchange(pair, payload, (giaddr, 67), ("10.77.0.1", 67), timeout)


def relayed_offer(pair: VethPair, mac: str, xid: int, timeout: float = 3.0) -> Reply | None:
    replies = relay(pair, dhcp_message(DISCOVER, mac, xid, giaddr=RELAY_ADDRESS,
                                       relay_agent_info=RELAY_AGENT_INFO), timeout=timeout)
    offers = [r for r in replies if r.xid == xid and r.message_type == OFFER]
    return offers[0] if offers else None


# ---------------------------------------------------------------------------
# Helpers over the topology and the lease database

def client_addresses(pair: VethPair) -> list[str]:
    return pair.client.ipv4_addresses(pair.client_if)


def add_client_address(pair: VethPair, address: str) -> None:
    """
    Add an address on the client end that survives the client's script
    deleting its leased address (the primary one, in the same subnet).
    """
    pair.client.run(["sysctl", "-qw", f"net.ipv4.conf.{pair.client_if}.promote_secondaries=1"])
    pair.client.run(["ip", "addr", "add", address, "dev", pair.client_if])


def bound_expiry(state_dir: Path, address: str) -> float | None:
    path = state_dir / LEASE_DB
    if not path.exists():
        return None
    db = sqlite3.connect(str(path), timeout=5)
    try:
        row = db.execute("SELECT expires FROM leases WHERE address = ? AND state = 'bound'", (address,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def in_pool(address: str) -> bool:
    return POOL_FIRST <= ipaddress.IPv4Address(address) <= POOL_LAST


# ---------------------------------------------------------------------------
# Real clients

def test_udhcpc_gets_address_router_dns_and_lease_time(tmp_path, daemons, clients):
    """
    udhcpc's DORA ends with an address from the pool and exactly the
    configured options, and the address lands on the interface.
    """
    needs("udhcpc")
    with VethPair(prefix="tsa") as pair:
        daemons.start(pair.server, server_config(tmp_path / "state"))
        client = clients.udhcpc(pair, "-q")
        index, _ = client.wait_event({"bound"})
        env = client.environment(index)
        assert in_pool(env["ip"]), env["ip"]
        assert env["subnet"] == "255.255.0.0"
        assert env["router"].split() == ["10.77.0.1"]
        assert env["dns"].split() == ["10.77.0.53"]
        assert env["domain"] == "example.lan"
        assert env["lease"] == "2400"
        assert env["serverid"] == "10.77.0.1"
        assert env["ntpsrv"].split() == ["10.77.0.123"]
        assert env["mtu"] == "1400"
        assert f"{env['ip']}/16" in client_addresses(pair)


def test_dhclient_gets_address_and_renews_at_t1(tmp_path, daemons, clients):
    """
    dhclient binds with the configured options, and at the configured T1
    its unicast renew is ACKed with the same address and a fresh lease.
    """
    needs("dhclient")
    state = tmp_path / "state"
    with VethPair(prefix="tsb") as pair:
        daemons.start(pair.server, server_config(state, subnet_config(renewal_time=2, rebinding_time=1800)))
        client = clients.dhclient(pair)
        bound, _ = client.wait_event({"BOUND"})
        env = client.environment(bound)
        address = env["new_ip_address"]
        assert in_pool(address), address
        assert env["new_subnet_mask"] == "255.255.0.0"
        assert env["new_routers"].split() == ["10.77.0.1"]
        assert env["new_domain_name_servers"].split() == ["10.77.0.53"]
        assert env["new_domain_name"] == "example.lan"
        assert env["new_dhcp_lease_time"] == "2400"
        assert env["new_dhcp_renewal_time"] == "2"
        assert env["new_dhcp_rebinding_time"] == "1800"
        assert env["new_ntp_servers"].split() == ["10.77.0.123"]
        assert env["new_interface_mtu"] == "1400"
        assert f"{address}/16" in client_addresses(pair)
        first_expiry = wait_until(lambda: bound_expiry(state, address), 5, "the binding in the lease DB")

        renewed, reason = client.wait_event({"RENEW", "REBIND", "EXPIRE", "FAIL"}, after=bound + 1, timeout=10)
        assert reason == "RENEW", client.output()
        env = client.environment(renewed)
        assert env["new_ip_address"] == address
        assert env["new_dhcp_lease_time"] == "2400"
        wait_until(lambda: (bound_expiry(state, address) or 0) >= first_expiry + 1, 5,
                   "the renewed lease to end later in the lease DB")


def test_udhcpc_renew_extends_lease(tmp_path, daemons, clients):
    """
    A renew (udhcpc SIGUSR1: unicast REQUEST with ciaddr) is ACKed for the
    same address with the full lease time, and the stored lease end moves.
    """
    needs("udhcpc")
    state = tmp_path / "state"
    with VethPair(prefix="tsc") as pair:
        daemons.start(pair.server, server_config(state))
        client = clients.udhcpc(pair)
        bound, _ = client.wait_event({"bound"})
        address = client.environment(bound)["ip"]
        first_expiry = wait_until(lambda: bound_expiry(state, address), 5, "the binding in the lease DB")
        time.sleep(1.5)
        client.signal(signal.SIGUSR1)
        index, event = client.wait_event({"renew", "nak", "deconfig", "leasefail"}, after=bound + 1)
        assert event == "renew", client.output()
        env = client.environment(index)
        assert env["ip"] == address
        assert env["lease"] == "2400"
        wait_until(lambda: (bound_expiry(state, address) or 0) >= first_expiry + 1, 5,
                   "the renewed lease to end later in the lease DB")


def test_release_frees_the_address(tmp_path, daemons, clients):
    """
    With a pool of one address: while udhcpc holds it nobody else is
    offered anything; once udhcpc releases it (-R, on exit), another client
    is offered that address.
    """
    needs("udhcpc")
    with VethPair(prefix="tsd") as pair:
        daemons.start(pair.server, server_config(tmp_path / "state", subnet_config(pool=["10.77.0.100-10.77.0.100"])))
        client = clients.udhcpc(pair, "-R")
        bound, _ = client.wait_event({"bound"})
        assert client.environment(bound)["ip"] == "10.77.0.100"
        add_client_address(pair, f"{RELAY_ADDRESS}/16")
        assert relayed_offer(pair, "02:00:00:00:0d:01", 0x0D01, timeout=2) is None, "pool of one offered twice"

        assert client.stop() is not None
        offer = wait_until(lambda: relayed_offer(pair, "02:00:00:00:0d:01", 0x0D02, timeout=1), 6,
                           "an offer after the release")
        assert str(offer.yiaddr) == "10.77.0.100"


def test_reserved_mac_and_client_id_get_their_addresses(tmp_path, daemons, clients):
    """
    A reservation by MAC gives that MAC its address (outside the pool) and
    host name; a reservation by client identifier does the same for a
    client sending that option 61.
    """
    needs("udhcpc")
    reservations = [
        {"mac": "02:00:00:00:00:42", "address": "10.77.0.42", "hostname": "printer"},
        {"client_id": "01:02:00:00:00:aa:43", "address": "10.77.0.43"},
    ]
    with VethPair(prefix="tse", client_mac="02:00:00:00:00:42") as pair:
        daemons.start(pair.server, server_config(tmp_path / "state", subnet_config(reservation=reservations)))
        by_mac = clients.udhcpc(pair, "-q")
        env = by_mac.environment(by_mac.wait_event({"bound"})[0])
        assert env["ip"] == "10.77.0.42"
        assert env["hostname"] == "printer"
        assert env["router"].split() == ["10.77.0.1"]

        pair.client.run(["ip", "-4", "addr", "flush", "dev", pair.client_if])
        pair.client.run(["ip", "link", "set", pair.client_if, "address", "02:00:00:00:00:77"])
        by_client_id = clients.udhcpc(pair, "-q", "-x", "0x3d:0102000000aa43")
        env = by_client_id.environment(by_client_id.wait_event({"bound"})[0])
        assert env["ip"] == "10.77.0.43"


def test_restart_keeps_binding_and_acks_renew(tmp_path, daemons, clients):
    """
    SIGTERM the daemon mid-lease and start it again on the same state_dir:
    the client's renew is ACKed for its address, and (pool of one) the
    address is still not offered to anybody else, while the same relayed
    DISCOVER with the bound client's own MAC is offered it (the positive
    control: the relay path answers, and only the binding keeps the other
    client out). Kea and dhcpd do the same: a restarted server reloads its
    lease file and offers a client its own current lease.
    """
    needs("udhcpc")
    config = server_config(tmp_path / "state", subnet_config(pool=["10.77.0.100-10.77.0.100"]))
    with VethPair(prefix="tsf") as pair:
        first = daemons.start(pair.server, config)
        client = clients.udhcpc(pair)
        bound, _ = client.wait_event({"bound"})
        assert client.environment(bound)["ip"] == "10.77.0.100"
        wait_until(lambda: bound_expiry(tmp_path / "state", "10.77.0.100"), 5, "the binding in the lease DB")
        # The exit status on SIGTERM is test_sigterm_stops_cleanly's business.
        assert first.stop() is not None

        daemons.start(pair.server, config)
        client.signal(signal.SIGUSR1)
        index, event = client.wait_event({"renew", "nak", "deconfig", "leasefail"}, after=bound + 1)
        assert event == "renew", client.output()
        assert client.environment(index)["ip"] == "10.77.0.100"
        add_client_address(pair, f"{RELAY_ADDRESS}/16")
        assert relayed_offer(pair, "02:00:00:00:0f:01", 0x0F01, timeout=2) is None, "bound address offered to another client"
        # No option 61 in the crafted DISCOVER: its identity is htype 1 + MAC,
        # the same bytes as udhcpc's default client identifier.
        own = relayed_offer(pair, pair.client_mac_address(), 0x0F02)
        assert own is not None, "no relayed OFFER to the bound client itself"
        assert str(own.yiaddr) == "10.77.0.100"


# ---------------------------------------------------------------------------
# Crafted packets: relay agent, INFORM

def test_relayed_exchange_is_answered_to_the_relay_with_option_82(tmp_path, daemons):
    """
    A relayed DISCOVER/REQUEST (giaddr set, from port 67, option 82) gets
    its OFFER/ACK unicast to giaddr:67, with giaddr and option 82 echoed;
    the subnet is chosen by giaddr, including a relayed-only subnet.
    """
    needs()
    relayed_only = {
        "subnet": "10.88.0.0/16",
        "server_address": "10.77.0.1",
        "pool": ["10.88.0.100-10.88.0.199"],
        "lease_time": 1200,
        "router": ["10.88.0.1"],
        "dns_servers": ["10.88.0.53"],
    }
    with VethPair(prefix="tsg", client_address=f"{RELAY_ADDRESS}/16") as pair:
        add_client_address(pair, "10.88.0.1/16")
        pair.server.run(["ip", "route", "add", "10.88.0.0/16", "via", RELAY_ADDRESS])
        daemons.start(pair.server, server_config(tmp_path / "state", subnet_config(), relayed_only))
        mac = "02:00:00:00:0a:01"

        offer = relayed_offer(pair, mac, 0xA001)
        assert offer is not None, "no OFFER at the relay address"
        assert offer.source == ("10.77.0.1", 67)
        assert offer.op == 2 and offer.chaddr == bytes.fromhex(mac.replace(":", ""))
        assert str(offer.giaddr) == RELAY_ADDRESS
        assert in_pool(str(offer.yiaddr)), offer.yiaddr
        assert offer.options[82] == RELAY_AGENT_INFO
        assert offer.addresses(54) == ["10.77.0.1"]

        request = dhcp_message(REQUEST, mac, 0xA002, giaddr=RELAY_ADDRESS, relay_agent_info=RELAY_AGENT_INFO,
                               options=[(50, offer.yiaddr.packed), (54, ipaddress.IPv4Address("10.77.0.1").packed)])
        acks = [r for r in relay(pair, request) if r.xid == 0xA002]
        assert [r.message_type for r in acks] == [ACK]
        ack = acks[0]
        assert ack.yiaddr == offer.yiaddr
        assert str(ack.giaddr) == RELAY_ADDRESS
        assert ack.options[82] == RELAY_AGENT_INFO
        assert ack.u32(51) == 2400
        assert ack.addresses(3) == ["10.77.0.1"]

        other = relay(pair, dhcp_message(DISCOVER, "02:00:00:00:0a:02", 0xA003, giaddr="10.88.0.1",
                                         relay_agent_info=RELAY_AGENT_INFO), giaddr="10.88.0.1")
        offers = [r for r in other if r.xid == 0xA003 and r.message_type == OFFER]
        assert offers, "no OFFER for the relayed-only subnet"
        assert ipaddress.IPv4Address("10.88.0.100") <= offers[0].yiaddr <= ipaddress.IPv4Address("10.88.0.199")
        assert offers[0].addresses(3) == ["10.88.0.1"]
        assert offers[0].u32(51) == 1200
        assert offers[0].options[82] == RELAY_AGENT_INFO


def test_inform_is_answered_with_options_and_no_lease(tmp_path, daemons):
    """
    An INFORM from a client with a static address is ACKed to ciaddr:68
    with the configured options, no address and no lease times.
    """
    needs()
    with VethPair(prefix="tsh", client_address="10.77.0.3/16") as pair:
        daemons.start(pair.server, server_config(tmp_path / "state"))
        inform = dhcp_message(INFORM, "02:00:00:00:0b:01", 0xB001, ciaddr="10.77.0.3",
                              options=[(55, bytes([1, 3, 6, 15, 42, 26]))])
        replies = [r for r in exchange(pair, inform, ("10.77.0.3", 68), ("255.255.255.255", 67)) if r.xid == 0xB001]
        assert [r.message_type for r in replies] == [ACK]
        ack = replies[0]
        assert ack.source == ("10.77.0.1", 67)
        assert str(ack.ciaddr) == "10.77.0.3"
        assert str(ack.yiaddr) == "0.0.0.0"
        assert ack.addresses(54) == ["10.77.0.1"]
        assert ack.addresses(1) == ["255.255.0.0"]
        assert ack.addresses(3) == ["10.77.0.1"]
        assert ack.addresses(6) == ["10.77.0.53"]
        assert ack.options[15] == b"example.lan"
        assert not {51, 58, 59} & set(ack.options), sorted(ack.options)


# ---------------------------------------------------------------------------
# Process life cycle

def test_sigterm_stops_cleanly(tmp_path, daemons):
    """
    C{twistd -n dhcpsuite --config} exits 0 on SIGTERM, logs no traceback,
    and leaves nothing listening.
    """
    needs()
    with VethPair(prefix="tsi", client_address=f"{RELAY_ADDRESS}/16") as pair:
        daemon = daemons.start(pair.server, server_config(tmp_path / "state"))
        assert relayed_offer(pair, "02:00:00:00:0c:01", 0xC001) is not None
        # twistd re-raises the stopping signal once it has shut down cleanly
        # (app._exitWithSignal), as systemd expects of a service: -15, or 0.
        assert daemon.stop() in (0, -15), daemon.output()
        output = daemon.output()
        assert "Traceback" not in output, output
        assert "Main loop terminated" in output, output
        assert pair.server.run(["ss", "-Hlun", "sport = :67"]).stdout.strip() == ""


def test_bad_config_is_one_line_naming_the_key(tmp_path, daemons):
    """
    An impossible pool address stops twistd before it binds anything, with
    a non-zero exit and one line that names the key.
    """
    needs()
    config = server_config(tmp_path / "state", subnet_config(
        subnet="10.0.0.0/24", pool=["10.0.0.300-10.0.0.310"], router=["10.0.0.1"], dns_servers=["10.0.0.1"],
        ntp_servers=[]))
    path = daemons.write_config(config, "bad.toml")
    with VethPair(prefix="tsj") as pair:
        from tests.integration.conftest import TWISTD

        result = pair.server.run([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)],
                                 check=False, timeout=60, cwd=tmp_path)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1, lines
    assert "server.subnet[0].pool[0]" in lines[0], lines
    assert "Traceback" not in lines[0]


def test_tac_file_runs_the_same_server(tmp_path, daemons):
    """
    C{twistd -ny tac/server.tac} with C{DHCPSUITE_CONFIG} serves the
    configured subnet and stops on SIGTERM without a traceback.
    """
    needs()
    with VethPair(prefix="tsk", client_address=f"{RELAY_ADDRESS}/16") as pair:
        daemon = daemons.start_tac(pair.server, server_config(tmp_path / "state"))
        offer = relayed_offer(pair, "02:00:00:00:0e:01", 0xE001)
        assert offer is not None, daemon.output()
        assert offer.u32(51) == 2400
        assert offer.addresses(6) == ["10.77.0.53"]
        assert daemon.stop() is not None
        assert "Traceback" not in daemon.output()
