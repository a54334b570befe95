"""
A routed topology for relayed DHCP: three namespaces in a line.

    client ns            router ns                         server ns
    cli0 ───────── rcl0 10.62.0.1/24   rsv0 10.61.0.2/24 ───────── srv0 10.61.0.1/24

The router forwards between its two links and can run a DHCP relay agent
(dnsmasq C{--dhcp-relay}) for the client link; the server reaches the
client link through the router, and the client reaches the server through
the router too (an on-link route, so it needs no address to have it). A
client behind the relay gets its lease through the relay and then RENEWs
by unicast straight to the server, routed, as on a real network.

Namespace names carry this process's PID and a counter; every process
started inside is killed by PID and the namespaces are deleted on exit.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

from tests.support.netns import Namespace, delete_namespace, run, wait_udp_listening

_counter = itertools.count()


class RoutedRelay:
    server_if, client_if = "srv0", "cli0"
    server_address, router_server_side = "10.61.0.1", "10.61.0.2"
    client_network, relay_address = "10.62.0.0/24", "10.62.0.1"

    def __init__(self, prefix: str = "rtd") -> None:
        tag = f"{prefix}{os.getpid()}x{next(_counter)}"
        self.server = Namespace(f"{tag}s")
        self.router = Namespace(f"{tag}r")
        self.client = Namespace(f"{tag}c")
        self._made: list[Namespace] = []
        self.relay_agent: subprocess.Popen | None = None

    def __enter__(self) -> "RoutedRelay":
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def _build(self) -> None:
        for ns in (self.server, self.router, self.client):
            run(["ip", "netns", "add", ns.name])
            self._made.append(ns)
        run(["ip", "link", "add", self.server_if, "netns", self.server.name, "type", "veth",
             "peer", "name", "rsv0", "netns", self.router.name])
        run(["ip", "link", "add", "rcl0", "netns", self.router.name, "type", "veth",
             "peer", "name", self.client_if, "netns", self.client.name])
        links = {self.server: [self.server_if], self.router: ["rsv0", "rcl0"], self.client: [self.client_if]}
        for ns, names in links.items():
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], check=False)
            ns.run(["ip", "link", "set", "lo", "up"])
            for name in names:
                # Packet-socket clients drop frames with unfilled checksums on veth.
                ns.run(["ethtool", "-K", name, "tx", "off"], check=False)
                ns.run(["ip", "link", "set", name, "up"])
        self.server.run(["ip", "addr", "add", f"{self.server_address}/24", "dev", self.server_if])
        self.server.run(["ip", "route", "add", self.client_network, "via", self.router_server_side])
        self.router.run(["ip", "addr", "add", f"{self.router_server_side}/24", "dev", "rsv0"])
        self.router.run(["ip", "addr", "add", f"{self.relay_address}/24", "dev", "rcl0"])
        self.router.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        self.client.run(["ip", "route", "add", "10.61.0.0/24", "via", self.relay_address, "dev", self.client_if, "onlink"])

    def start_relay(self, workdir: Path) -> subprocess.Popen:
        """
        dnsmasq as a DHCP relay agent only (no DNS, no DHCP service of its
        own): broadcasts on the client link go to the server with giaddr
        10.62.0.1, replies come back to the client link.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "relay.conf"
        conf.write_text("\n".join([
            "port=0", "no-resolv", "no-hosts", "bind-interfaces", "except-interface=lo",
            "interface=rcl0", "interface=rsv0", f"dhcp-relay={self.relay_address},{self.server_address}",
            "log-dhcp", f"log-facility={workdir / 'relay.log'}", "user=root", "group=root", "",
        ]))
        self.relay_agent = self.router.spawn(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"])
        wait_udp_listening(self.router, 67, self.relay_agent)
        return self.relay_agent

    def stop_relay(self) -> None:
        if self.relay_agent is not None:
            self.router.stop(self.relay_agent)

    def down(self) -> None:
        for ns in self._made:
            ns.stop_all()
        for ns in self._made:
            delete_namespace(ns)
        self._made.clear()
