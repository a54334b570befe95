"""
Live reconfiguration of a running C{twistd dhcpsuite}, with real clients:
SIGHUP and C{dhcpsuite-ctl reload}; a pool removed NAKs its clients at
renewal and they bind again elsewhere in the subnet; a reservation added
is honoured at the next DISCOVER; a bad file changes nothing; a reload
under perfdhcp load loses no ACKed lease.

The peers: Kea's C{config-reload} re-reads the whole file and keeps the
old configuration on error (its leases stay in the lease database, and a
lease outside every pool is NAKed at renewal, as ISC dhcpd does after a
restart with a shrunk range). dnsmasq's SIGHUP re-reads only its hosts
files and leaves ranges and options as they were at start.
"""

from __future__ import annotations

import json
import signal
import struct
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

from dhcpsuite.dhcp4.constants import MessageType
from dhcpsuite.dhcp4.packet import decode_message
from tests.integration.conftest import (
    ClientFactory,
    DaemonFactory,
    Dnsmasq,
    interface,
    server_config,
    subnet_config,
    toml_document,
    wait_until,
)
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair

CTL = str(Path(sys.executable).with_name("dhcpsuite-ctl"))
POOL_A = "10.77.0.100-10.77.0.199"
POOL_B = "10.77.1.100-10.77.1.199"
RESERVED = "10.77.0.42"


def gateway_config(tmp_path: Path, pool: str, reservation: list | None = None, **subnet) -> dict:
    config = server_config(
        tmp_path / "state",
        subnet_config(pool=[pool], lease_time=600, reservation=reservation or [], **subnet),
    )
    config["control"] = {"listen": "tcp:8067:interface=127.0.0.1"}
    return config


def api(net: VethPair, path: str) -> dict:
    fetch = f"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8067/api/v1/{path}').read().decode())"
    return json.loads(net.server.run([sys.executable, "-c", fetch]).stdout)


def in_range(address: str, pool: str) -> bool:
    first, last = (IPv4Address(a) for a in pool.split("-"))
    return first <= IPv4Address(address) <= last


def bound_address(client, index: int) -> str:
    return client.environment(index)["ip"]


def test_sighup_and_ctl_reload_pool_reservation_and_bad_file(tmp_path):
    """
    udhcpc binds in pool A; SIGHUP applies a file where pool A is replaced
    by pool B in the same subnet: udhcpc's renewal (SIGUSR1) is NAKed and
    it binds again in pool B. C{dhcpsuite-ctl reload} adds a reservation:
    a fresh udhcpc's DISCOVER gets the reserved address. A bad file, by
    ctl (non-zero exit naming the key) and by SIGHUP (one log line),
    changes nothing.
    """
    require_root()
    require_programs("udhcpc")
    factory = DaemonFactory(tmp_path)
    clients = ClientFactory(tmp_path)
    path = factory.write_config(gateway_config(tmp_path, POOL_A))
    with VethPair() as net:
        daemon = factory.start(net.server, path)
        try:
            client = clients.udhcpc(net)
            index, _ = client.wait_event({"bound"})
            first = bound_address(client, index)
            assert in_range(first, POOL_A), first

            path.write_text(toml_document(gateway_config(tmp_path, POOL_B)))
            daemon.process.send_signal(signal.SIGHUP)
            wait_until(lambda: "Configuration reloaded" in daemon.output(), 10, "the SIGHUP reload")
            assert [p["pool"] for p in api(net, "pools")["pools"]] == [POOL_B]

            after = len(client.events())
            client.signal(signal.SIGUSR1)
            index, _ = client.wait_event({"bound"}, after=after, timeout=20)
            assert "nak" in client.events()[after:index], client.events()
            second = bound_address(client, index)
            assert in_range(second, POOL_B), second
            client.stop()

            mac = net.client_mac_address()
            path.write_text(toml_document(gateway_config(tmp_path, POOL_B, [{"mac": mac, "address": RESERVED}])))
            result = net.server.run([CTL, "reload"], check=False)
            assert result.returncode == 0, result.stderr
            assert "server" in result.stdout
            net.client.run(["ip", "addr", "flush", "dev", net.client_if])
            fresh = clients.udhcpc(net, "-q")
            index, _ = fresh.wait_event({"bound"})
            assert bound_address(fresh, index) == RESERVED
            fresh.stop()

            good = path.read_text()
            path.write_text(good.replace(POOL_B, "10.77.1.100-10.77.1.300"))
            result = net.server.run([CTL, "reload"], check=False)
            assert result.returncode == 1, result
            assert "server.subnet[0].pool[0]" in result.stderr, result.stderr
            path.write_text(good.replace('lease_store = "sqlite"', 'lease_store = "memory"'))
            result = net.server.run([CTL, "reload"], check=False)
            assert result.returncode == 1 and "server.lease_store" in result.stderr, result
            daemon.process.send_signal(signal.SIGHUP)
            wait_until(lambda: daemon.output().count("Configuration reload refused") >= 3, 10, "the refused SIGHUP")
            refused = [line for line in daemon.output().splitlines() if "Configuration reload refused" in line]
            assert len(refused) == 3 and "server.lease_store" in refused[-1], refused
            assert [p["pool"] for p in api(net, "pools")["pools"]] == [POOL_B]
            net.client.run(["ip", "addr", "flush", "dev", net.client_if])
            again = clients.udhcpc(net, "-q")
            index, _ = again.wait_event({"bound"})
            assert bound_address(again, index) == RESERVED
            again.stop()
            assert daemon.process.poll() is None
        finally:
            daemon.stop()


def acked_leases(pcap: Path) -> dict[str, str]:
    """
    From a capture on the relay's side: every ACK's address -> its client
    MAC (Ethernet, IPv4, UDP; the classic pcap format tcpdump -w writes).
    """
    data = pcap.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    offset, acked = 24, {}
    while offset + 16 <= len(data):
        _, _, captured, _ = struct.unpack(endian + "IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        if len(frame) < 42 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        payload = frame[14 + ihl + 8 :]
        try:
            message = decode_message(payload)
        except Exception:
            continue
        if message.message_type == MessageType.ACK:
            acked[str(message.yiaddr)] = message.hardware_address.hex(":")
    return acked


def test_reload_under_perfdhcp_load_loses_no_acked_lease(tmp_path):
    """
    perfdhcp runs DORA for 5 s at 200/s against a SQLite store while the
    configuration is reloaded five times (lease time, a second pool, an
    option), each a new core built over the same store between two
    datagrams. Every ACK on the wire is then a bound lease in the store,
    for that MAC. (Kea's config-reload does not drop its lease database
    either; dnsmasq's SIGHUP changes no ranges.)
    """
    require_root()
    programs = require_programs("perfdhcp", "tcpdump")
    factory = DaemonFactory(tmp_path)
    config = gateway_config(tmp_path, "10.77.2.0-10.77.9.255")
    config["server"]["log_exchanges"] = False
    config["server"]["client_rate_limit"] = {"rate": 0}
    path = factory.write_config(config)
    pcap = tmp_path / "acks.pcap"
    # perfdhcp acts as a relay (giaddr 10.77.0.2): replies come to its port 67.
    with VethPair(client_address="10.77.0.2/16") as net:
        daemon = factory.start(net.server, path)
        try:
            capture = net.client.spawn([programs["tcpdump"], "-i", net.client_if, "-U", "-w", str(pcap),
                                        "udp and src port 67"])
            time.sleep(1.0)
            perf = net.client.spawn([programs["perfdhcp"], "-4", "-l", net.client_if, "-r", "200", "-R", "2000",
                                     "-p", "5", "-W", "1000000"])
            variants = [
                {"lease_time": 900},
                {"pool": ["10.77.2.0-10.77.9.255", "10.77.10.0-10.77.10.255"]},
                {"lease_time": 1200, "dns_servers": ["10.77.0.54"]},
                {"pool": ["10.77.2.0-10.77.9.255"]},
                {"lease_time": 600},
            ]
            for variant in variants:
                time.sleep(0.8)
                subnet = dict(config["server"]["subnet"][0], **variant)
                path.write_text(toml_document(dict(config, server=dict(config["server"], subnet=[subnet]))))
                daemon.process.send_signal(signal.SIGHUP)
            wait_until(lambda: perf.poll() is not None, 30, "perfdhcp to finish")
            report = perf.stdout.read().decode(errors="replace") if perf.stdout else ""
            time.sleep(1.0)
            net.client.stop(capture, signal.SIGINT)
            reloaded = daemon.output().count("Configuration reloaded")
            leases = {}
            offset = 0
            while True:
                page = api(net, f"leases?limit=10000&offset={offset}")
                leases.update({lease["address"]: lease for lease in page["leases"]})
                offset += len(page["leases"])
                if offset >= page["total"] or not page["leases"]:
                    break
        finally:
            daemon.stop()
    acked = acked_leases(pcap)
    print(f"{len(acked)} ACKs seen, {len(leases)} leases in the store, {reloaded} reloads during the load; perfdhcp: "
          + " ".join(line.strip() for line in report.splitlines() if "packets" in line))
    assert reloaded == len(variants), daemon.output()[-2000:]
    assert len(acked) > 300, report
    missing = {a: mac for a, mac in acked.items() if a not in leases or leases[a]["mac"] != mac
               or leases[a]["state"] != "bound"}
    assert not missing, f"{len(missing)} ACKed leases not bound in the store, e.g. {list(missing.items())[:5]}"


def test_client_interface_added_and_removed_by_reload(tmp_path):
    """
    A WAN interface added to C{[client]} by C{dhcpsuite-ctl reload} binds
    against dnsmasq without a restart; removed again, its agent stops as
    at shutdown and the address is taken off. (With udhcpc or dhclient the
    operator starts or kills one more process; dnsmasq and Kea have no
    client.)
    """
    require_root()
    require_programs("dnsmasq")
    factory = DaemonFactory(tmp_path)
    config = {"state_dir": str(tmp_path / "state"), "netlink": {}, "client": {"interface": []},
              "control": {"listen": "tcp:8067:interface=127.0.0.1"}}
    path = factory.write_config(config)
    with VethPair() as net:
        dnsmasq = Dnsmasq(net.server, tmp_path / "dnsmasq", ["dhcp-range=10.77.0.100,10.77.0.150,255.255.0.0,2m"])
        daemon = factory.start(net.client, path, wait=False)
        try:
            wait_until(lambda: net.client.run([CTL, "status"], check=False).returncode == 0, 15, "the control API")
            config["client"]["interface"] = [interface(net.client_if)]
            path.write_text(toml_document(config))
            result = net.client.run([CTL, "reload"], check=False)
            assert result.returncode == 0, result.stderr
            address = wait_until(lambda: next((a for a in net.client.ipv4_addresses(net.client_if)
                                               if a.startswith("10.77.0.")), None), 15, "the added client to bind")
            config["client"]["interface"] = []
            path.write_text(toml_document(config))
            result = net.client.run([CTL, "reload"], check=False)
            assert result.returncode == 0, result.stderr
            wait_until(lambda: address not in net.client.ipv4_addresses(net.client_if), 10,
                       "the removed client's address to be taken off")
            assert json.loads(net.client.run([CTL, "--json", "clients"]).stdout)["clients"] == []
        finally:
            daemon.stop()
            dnsmasq.stop()
        assert "Traceback" not in daemon.output(), daemon.output()
