"""
A gateway in one daemon (tac/gateway.tac): our client on the WAN against
dnsmasq, our server on the LAN for a real udhcpc, netlink and the control
API — and `dhcpsuite-ctl renew` really puts a REQUEST on the wire.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tests.integration.conftest import REPOSITORY, TWISTD, ClientFactory, Daemon, Dnsmasq, toml_document, wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair, run, wait_udp_listening

CTL = str(Path(sys.executable).with_name("dhcpsuite-ctl"))
GATEWAY_TAC = REPOSITORY / "tac" / "gateway.tac"


class Gateway:
    """
    wan (dnsmasq, 10.88.0.1) --veth-- gw (wan0: client, lan0: 10.99.0.1 server) --veth-- lan (udhcpc on cli0)
    """

    def __init__(self) -> None:
        self.wan_side = VethPair(server_address="10.88.0.1/24", prefix="gww")
        self.lan_side = VethPair(server_address="10.99.0.1/24", prefix="gwl")

    def __enter__(self) -> "Gateway":
        self.wan_side.up()
        self.lan_side.up()
        # The gateway is the WAN pair's client namespace; move the LAN pair's
        # server end (srv0, addressed) into it as lan0.
        self.gw = self.wan_side.client
        self.wan = self.wan_side.server
        self.lan = self.lan_side.client
        run(["ip", "-n", self.lan_side.server.name, "link", "set", "srv0", "name", "lan0"])
        run(["ip", "-n", self.lan_side.server.name, "link", "set", "lan0", "netns", self.gw.name])
        self.gw.run(["ip", "addr", "add", "10.99.0.1/24", "dev", "lan0"])
        self.gw.run(["ip", "link", "set", "lan0", "up"])
        self.gw.run(["ip", "link", "set", "cli0", "name", "wan0"])
        self.gw.run(["ip", "link", "set", "wan0", "up"])
        return self

    def __exit__(self, *exc) -> None:
        self.lan_side.down()
        self.wan_side.down()


def gateway_config(tmp_path: Path, **subnet) -> dict:
    """
    Our client on wan0, our server on lan0 (10.99.0.0/24, C{subnet} keys
    over the defaults), netlink and the control API.
    """
    return {
        "state_dir": str(tmp_path / "state"),
        "netlink": {},
        "client": {"interface": [{"name": "wan0", "arp_probe": False, "initial_delay": 0.0}]},
        "server": {"subnet": [{
            "subnet": "10.99.0.0/24", "interface": "lan0", "pool": ["10.99.0.100-10.99.0.150"],
            "router": ["10.99.0.1"], "dns_servers": ["10.99.0.1"], **subnet,
        }]},
        "control": {"listen": "tcp:8067:interface=127.0.0.1"},
    }


def test_gateway_client_server_and_renew_from_the_cli(tmp_path):
    require_root()
    require_programs("dnsmasq", "udhcpc", "tcpdump")
    config = gateway_config(tmp_path)
    path = tmp_path / "gateway.toml"
    path.write_text(toml_document(config))
    with Gateway() as net:
        dnsmasq = Dnsmasq(net.wan, tmp_path / "dnsmasq", ["dhcp-range=10.88.0.100,10.88.0.150,255.255.255.0,2m",
                                                          "dhcp-option=6,10.88.0.53"])
        daemon = Daemon(net.gw, [TWISTD, "-n", "--pidfile=", "-y", str(GATEWAY_TAC)], tmp_path / "gateway.out",
                        dict(os.environ, DHCPSUITE_CONFIG=str(path)))
        try:
            wait_udp_listening(net.gw, 67, daemon.process)
            wan_address = wait_until(
                lambda: next((a for a in net.gw.ipv4_addresses("wan0") if a.startswith("10.88.0.")), None),
                15, "the WAN client to be bound")

            lan_client = ClientFactory(tmp_path).udhcpc(net.lan_side, "-q")
            lan_client.wait_event({"bound"})
            assert lan_client.environment(lan_client.events().index("bound"))["ip"].startswith("10.99.0.1")

            def ctl(*args):
                result = net.gw.run([CTL, *args], check=False, timeout=60)
                assert result.returncode == 0, result.stderr
                return result.stdout

            clients = json.loads(ctl("--json", "clients"))["clients"]
            assert clients[0]["interface"] == "wan0" and clients[0]["state"] == "BOUND"
            assert clients[0]["address"] == wan_address
            registry = json.loads(ctl("--json", "ingest"))["registry"]
            assert "wan0" in registry and "v4" in registry["wan0"]

            # The renew must really go out: capture on the WAN server's side.
            capture = tmp_path / "renew.pcap"
            tcpdump = net.wan.spawn(["tcpdump", "-Z", "root", "--immediate-mode", "-i", "srv0", "-U", "-w", str(capture), "udp port 67"])
            wait_until(lambda: capture.exists() and capture.stat().st_size > 0, 10, "tcpdump to start")
            time.sleep(0.3)
            before = dnsmasq.text().count("DHCPREQUEST(srv0)")
            outcome = json.loads(ctl("--json", "--timeout", "10", "renew", "wan0"))
            assert outcome["outcome"] == "extended" and outcome["state"] == "BOUND", outcome
            wait_until(lambda: dnsmasq.text().count("DHCPREQUEST(srv0)") > before, 5, "dnsmasq to log the REQUEST")
            wait_until(lambda: capture.stat().st_size > 24, 5, "tcpdump to write the REQUEST")
            net.wan.stop(tcpdump)
            decoded = net.wan.run(["tcpdump", "-nr", str(capture)], check=False)
            decoded = decoded.stdout + decoded.stderr
            assert "BOOTP/DHCP, Request" in decoded, decoded

            page = net.gw.run([sys.executable, "-c",
                               "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8067/').read().decode())"]).stdout
            assert "wan0" in page and "10.99.0.1" in page
        finally:
            code = net.gw.stop(daemon.process)
            dnsmasq.stop()
        assert code in (0, -15), daemon.output()
        assert "Traceback" not in daemon.output(), daemon.output()
