"""
Switching over from dnsmasq, ISC dhcpd and Kea to dhcpsuite, with the real
servers and real clients in namespaces:

 1. busybox udhcpc and ISC dhclient (each on its own MAC) bind with the old
    server;
 2. the old server is stopped (by PID) and its lease file imported with
    C{dhcpsuite-ctl import-leases};
 3. dhcpsuite starts on the same interface, with the configuration
    C{dhcpsuite-convert} made from the old one (dnsmasq, dhcpd; Kea's JSON
    has no converter, the same subnet is written by hand);
 4. udhcpc renews (SIGUSR1: a unicast REQUEST in RENEWING) and is ACKed its
    old address; dhclient, run again with its lease file, asks for it in
    INIT-REBOOT and is ACKed it; a new client gets a free address.

The new client is given the same subnet mask, router, DNS server, lease
time and server identifier as the old server gave udhcpc: the converted
configuration serves what the old one did. Without the import (checked by
running the import with --dry-run) dhcpsuite NAKs both: udhcpc's RENEW
(no-binding-to-renew) and dhclient's INIT-REBOOT (authoritative, unknown
binding), and each client starts over, possibly with another address.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace

from tests.integration.conftest import Dnsmasq, ScriptedClient, server_config, subnet_config, toml_document, wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import Namespace, VethPair, wait_udp_listening

BIN = Path(sys.executable).parent
CTL = str(BIN / "dhcpsuite-ctl")
CONVERT = str(BIN / "dhcpsuite-convert")
POOL = ("10.77.0.100", "10.77.0.199")
LEASE = 600
# What udhcpc was given (its script's environment) that both servers must agree on.
SERVED = ("subnet", "router", "dns", "lease", "serverid")


class OldServer:
    def __init__(self, ns: Namespace, process: subprocess.Popen, lease_file: Path, config: Path | None) -> None:
        self.ns, self.process, self.lease_file, self.config = ns, process, lease_file, config

    def stop(self) -> None:
        self.ns.stop(self.process)


def start_dnsmasq(ns: Namespace, workdir: Path) -> OldServer:
    server = Dnsmasq(ns, workdir, [f"dhcp-range={POOL[0]},{POOL[1]},255.255.0.0,{LEASE}", "dhcp-option=3,10.77.0.1",
                                   "dhcp-option=6,10.77.0.53"])
    return OldServer(ns, server.process, workdir / "dnsmasq.leases", workdir / "dnsmasq.conf")


def start_dhcpd(ns: Namespace, workdir: Path) -> OldServer:
    workdir.mkdir(parents=True, exist_ok=True)
    config, leases = workdir / "dhcpd.conf", workdir / "dhcpd.leases"
    config.write_text(
        "authoritative;\n"
        f"default-lease-time {LEASE};\nmax-lease-time {2 * LEASE};\n"
        "ddns-update-style none;\n"
        "option domain-name-servers 10.77.0.53;\n"
        "subnet 10.77.0.0 netmask 255.255.0.0 {\n"
        f"  range {POOL[0]} {POOL[1]};\n"
        "  option routers 10.77.0.1;\n"
        "}\n"
    )
    leases.write_text("")
    output = open(workdir / "dhcpd.out", "ab")
    process = ns.spawn(["dhcpd", "-4", "-f", "-d", "-cf", str(config), "-lf", str(leases), "-pf", str(workdir / "dhcpd.pid"), "srv0"],
                       stdout=output, stderr=subprocess.STDOUT)
    output.close()
    wait_udp_listening(ns, 67, process)
    return OldServer(ns, process, leases, config)


def start_kea(ns: Namespace, workdir: Path) -> OldServer:
    workdir.mkdir(parents=True, exist_ok=True)
    config, leases = workdir / "kea-dhcp4.conf", workdir / "kea-leases4.csv"
    config.write_text(json.dumps({"Dhcp4": {
        "interfaces-config": {"interfaces": ["srv0"], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": True, "name": str(leases), "lfc-interval": 0},
        "valid-lifetime": LEASE, "renew-timer": LEASE // 2, "rebind-timer": LEASE * 7 // 8,
        "subnet4": [{"id": 1, "subnet": "10.77.0.0/16", "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                     "option-data": [{"name": "routers", "data": "10.77.0.1"},
                                     {"name": "domain-name-servers", "data": "10.77.0.53"}]}],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": str(workdir / "kea.log")}], "severity": "INFO"}],
    }}))
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "KEA_PIDFILE_DIR": str(workdir), "KEA_LOCKFILE_DIR": str(workdir)}
    output = open(workdir / "kea.out", "ab")
    process = ns.spawn(["kea-dhcp4", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT, env=env)
    output.close()
    wait_udp_listening(ns, 67, process)
    return OldServer(ns, process, leases, None)


def macvlan(pair: VethPair, name: str) -> SimpleNamespace:
    """
    Another client MAC on the same link: what C{ClientFactory} needs of a pair.
    """
    pair.client.run(["ip", "link", "add", name, "link", pair.client_if, "type", "macvlan", "mode", "bridge"])
    pair.client.run(["ethtool", "-K", name, "tx", "off"], check=False)
    pair.client.run(["ip", "link", "set", name, "up"])
    return SimpleNamespace(client=pair.client, client_if=name)


def our_config(pair: VethPair, tmp_path: Path, old: OldServer, source: str) -> Path:
    """
    The converted configuration where a converter exists, else the same
    subnet written by hand; the state directory added in front.
    """
    state = f'state_dir = "{tmp_path / "state"}"\n'
    path = tmp_path / "dhcpsuite.toml"
    if old.config is None:
        config = server_config(tmp_path / "state", subnet_config(pool=[f"{POOL[0]}-{POOL[1]}"], lease_time=LEASE))
        path.write_text(toml_document(config))
        return path
    # In the server's namespace, so the converter sees srv0's address as the old server did.
    converted = pair.server.run([CONVERT, "--from", source, str(old.config)], check=False)
    assert converted.returncode == 0, converted.stderr
    path.write_text(state + converted.stdout)
    checked = subprocess.run([str(BIN / "dhcpsuite-check-config"), str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    return path


def switch_over(tmp_path: Path, daemons, clients, start_old, source: str, lease_text: str) -> None:
    require_root()
    require_programs("udhcpc", "dhclient", "ethtool")
    with VethPair(prefix="mig") as pair:
        # Three client interfaces in one namespace: each answers ARP only for its own address.
        pair.client.run(["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"])
        first, second, third = pair, macvlan(pair, "mv1"), macvlan(pair, "mv2")
        old = start_old(pair.server, tmp_path / source)

        # 1. Both clients bind with the old server.
        udhcpc = clients.udhcpc(first)
        dhclient = clients.dhclient(second)
        index, _ = udhcpc.wait_event({"bound"})
        old_offer = udhcpc.environment(index)
        udhcpc_address = old_offer["ip"]
        index, _ = dhclient.wait_event({"BOUND"})
        dhclient_address = dhclient.environment(index)["new_ip_address"]
        assert udhcpc_address != dhclient_address

        # 2. The old server stops; its leases are imported.
        wait_until(lambda: old.lease_file.exists() and all(a in old.lease_file.read_text() for a in (udhcpc_address, dhclient_address)),
                   10, "both leases in the old server's lease file")
        old.stop()
        dhclient.stop()
        assert lease_text in old.lease_file.read_text()
        config = our_config(pair, tmp_path, old, source)
        imported = subprocess.run([CTL, "import-leases", "--from", source, str(old.lease_file), "--server-config", str(config)],
                                  capture_output=True, text=True, timeout=60)
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.splitlines()[-1].endswith(": imported 2"), imported.stdout

        # 3. dhcpsuite on the same interface; the store it holds cannot be imported into.
        daemon = daemons.start(pair.server, config)
        refused = subprocess.run([CTL, "import-leases", "--from", source, str(old.lease_file), "--server-config", str(config)],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 3 and "stop the daemon" in refused.stderr, refused.stderr

        # 4. udhcpc renews, dhclient reboots with its lease file: both ACKed their old address.
        after = len(udhcpc.events())
        udhcpc.signal(signal.SIGUSR1)
        index, event = udhcpc.wait_event({"renew", "bound", "deconfig"}, after=after)
        assert (event, udhcpc.environment(index).get("ip")) == ("renew", udhcpc_address), udhcpc.output()

        again = ScriptedClient(pair.client, dhclient.directory)
        after = len(dhclient.events())
        again.start(["dhclient", "-4", "-d", "-v", *dhclient.files, second.client_if])
        index, event = again.wait_event({"REBOOT", "BOUND", "RENEW", "FAIL", "EXPIRE"}, after=after)
        assert (event, again.environment(index).get("new_ip_address")) == ("REBOOT", dhclient_address), again.output()
        again.stop()
        log = daemon.output()
        assert f"ACK {udhcpc_address}" in log and f"ACK {dhclient_address}" in log and "NAK" not in log, log

        newcomer = clients.udhcpc(third, "-q")
        index, _ = newcomer.wait_event({"bound"})
        fresh = IPv4Address(newcomer.environment(index)["ip"])
        assert IPv4Address(POOL[0]) <= fresh <= IPv4Address(POOL[1])
        assert str(fresh) not in (udhcpc_address, dhclient_address)
        # Compare: the new client is told what the old server told udhcpc.
        offered = newcomer.environment(index)
        assert all(old_offer.get(k) for k in SERVED), old_offer
        assert {k: offered.get(k) for k in SERVED} == {k: old_offer.get(k) for k in SERVED}
        udhcpc.stop()


def test_from_dnsmasq(tmp_path, daemons, clients):
    require_programs("dnsmasq")
    switch_over(tmp_path, daemons, clients, start_dnsmasq, "dnsmasq", " 01:")


def test_from_isc_dhcpd(tmp_path, daemons, clients):
    require_programs("dhcpd")
    switch_over(tmp_path, daemons, clients, start_dhcpd, "isc-dhcpd", "binding state active;")


def test_from_kea(tmp_path, daemons, clients):
    require_programs("kea-dhcp4")
    switch_over(tmp_path, daemons, clients, start_kea, "kea", "address,hwaddr,client_id")


