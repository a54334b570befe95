"""
A flood of DISCOVERs from hundreds of thousands of random MACs (perfdhcp at
its top rate, through a bridge) while a reserved client and a client that
already holds a lease each still bind within 2 s; the server's memory stays
bounded and its counters say what was refused and why.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.integration.conftest import TWISTD, ClientFactory, server_config, subnet_config, toml_document, wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import Namespace, run, wait_udp_listening

CTL = str(Path(sys.executable).with_name("dhcpsuite-ctl"))
RESERVED_MAC = "02:00:00:00:00:42"
KNOWN_MAC = "02:00:00:00:00:43"


class Bridged:
    """
    ns srv: br0 (10.77.0.1/16) bridging srv0 (to ns flood: perf0 10.77.0.2)
    and srv1 (to ns cli: cli0).
    """

    def __init__(self, tag: str) -> None:
        self.srv, self.flood, self.cli = (Namespace(f"{tag}{n}") for n in ("s", "f", "c"))
        self.client_if = "cli0"
        self.client = self.cli  # what ClientFactory expects of a topology

    def __enter__(self) -> "Bridged":
        for ns in (self.srv, self.flood, self.cli):
            run(["ip", "netns", "add", ns.name])
        s, f, c = self.srv.name, self.flood.name, self.cli.name
        run(["ip", "link", "add", "br0", "netns", s, "type", "bridge"])
        run(["ip", "link", "add", "srv0", "netns", s, "type", "veth", "peer", "name", "perf0", "netns", f])
        run(["ip", "link", "add", "srv1", "netns", s, "type", "veth", "peer", "name", "cli0", "netns", c])
        for port in ("srv0", "srv1"):
            self.srv.run(["ip", "link", "set", port, "master", "br0"])
        for ns, links in ((self.srv, ("lo", "srv0", "srv1", "br0")), (self.flood, ("perf0",)), (self.cli, ("cli0",))):
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], check=False)
            for link in links:
                ns.run(["ip", "link", "set", link, "up"])
        self.srv.run(["ip", "addr", "add", "10.77.0.1/16", "dev", "br0"])
        self.flood.run(["ip", "addr", "add", "10.77.0.2/16", "dev", "perf0"])
        return self

    def __exit__(self, *exc) -> None:
        for ns in (self.cli, self.flood, self.srv):
            ns.stop_all()
            run(["ip", "netns", "del", ns.name], check=False)

    def set_client_mac(self, mac: str) -> None:
        self.cli.run(["ip", "link", "set", "cli0", "address", mac])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bind_time(net: Bridged, factory: ClientFactory, mac: str) -> float:
    net.set_client_mac(mac)
    net.cli.run(["ip", "addr", "flush", "dev", "cli0"])
    started = time.monotonic()
    client = factory.udhcpc(net, "-q", "-n")
    client.wait_event({"bound"}, timeout=10)
    elapsed = time.monotonic() - started
    client.stop()
    return elapsed


def test_reserved_and_known_clients_bind_during_a_flood(tmp_path):
    require_root()
    programs = require_programs("perfdhcp", "udhcpc")
    config = server_config(
        tmp_path / "state",
        subnet_config(interface="br0", pool=["10.77.1.0-10.77.8.255"],
                      reservation=[{"mac": RESERVED_MAC, "address": "10.77.0.42"}]),
        log_exchanges=False,
    )
    config["control"] = {"listen": "tcp:8067:interface=127.0.0.1"}
    path = tmp_path / "flood.toml"
    path.write_text(toml_document(config))
    factory = ClientFactory(tmp_path)
    with Bridged(f"fl{id(path) % 100000}") as net:
        output = open(tmp_path / "daemon.out", "wb")
        daemon = net.srv.spawn([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)], stdout=output)
        wait_udp_listening(net.srv, 67, daemon)
        # The known client gets its lease before the flood.
        bind_time(net, factory, KNOWN_MAC)
        rss_before = rss_kib(daemon.pid)

        flood = net.flood.spawn([programs["perfdhcp"], "-4", "-l", "perf0", "-r", "20000", "-R", "1000000",
                                 "-p", "14", "-W", "1000000"])
        time.sleep(4)  # the pool is exhausted by then and the socket queue is full
        reserved = bind_time(net, factory, RESERVED_MAC)
        known = bind_time(net, factory, KNOWN_MAC)
        rss_during = rss_kib(daemon.pid)
        wait_until(lambda: flood.poll() is not None, 30, "perfdhcp to finish")
        report = flood.stdout.read().decode(errors="replace")

        counters = json.loads(net.srv.run([CTL, "--json", "status"]).stdout)
        server = json.loads(net.srv.run([sys.executable, "-c",
            "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8067/api/v1/server').read().decode())"]).stdout)
        net.srv.stop(daemon)
        output.close()

    print(f"reserved bound in {reserved:.2f} s, known in {known:.2f} s during the flood; "
          f"RSS {rss_before} -> {rss_during} KiB; pool-exhausted drops {server.get('drop:pool-exhausted')}")
    assert reserved < 2.0, f"reserved client took {reserved:.2f} s"
    assert known < 2.0, f"known client took {known:.2f} s"
    sent = [int(line.split(":")[1]) for line in report.splitlines() if line.startswith("sent packets:")]
    assert sent and sent[0] > 50_000, report
    assert server.get("drop:pool-exhausted", 0) > 1000, server
    assert rss_during - rss_before < 64 * 1024, (rss_before, rss_during)
    assert counters["ok"]
