"""
The LAN server fed by the WAN lease, in one daemon (tac/gateway.tac): our
client binds on the WAN against dnsmasq, and the LAN subnet's DNS servers
and domain are C{["wan:wan0", "10.99.0.1"]} and C{"wan:wan0"}. A real
udhcpc on the LAN gets the WAN's values; when the WAN server changes them
and the WAN lease is renewed (C{dhcpsuite-ctl renew}), the LAN client gets
the new ones at its next renewal.

RDK-B's DHCP Manager does this by rewriting the LAN dnsmasq's configuration
and restarting it; a stock dnsmasq on a gateway instead offers its own
address (C{dhcp-option=6,0.0.0.0}) and forwards DNS to whatever the WAN
lease wrote into resolv.conf.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from tests.integration.conftest import TWISTD, ClientFactory, Daemon, Dnsmasq, toml_document, wait_until
from tests.integration.test_gateway import GATEWAY_TAC, Gateway, gateway_config
from tests.support.environment import require_programs, require_root
from tests.support.netns import wait_udp_listening

CTL = str(Path(sys.executable).with_name("dhcpsuite-ctl"))


def wan_server(net: Gateway, workdir: Path, dns: str, domain: str) -> Dnsmasq:
    # The same lease file across restarts: the renewal is ACKed, not NAKed.
    return Dnsmasq(net.wan, workdir, ["dhcp-range=10.88.0.100,10.88.0.150,255.255.255.0,2m",
                                      f"dhcp-option=6,{dns}", f"dhcp-option=15,{domain}"])


def test_lan_options_follow_the_wan_lease(tmp_path):
    require_root()
    require_programs("dnsmasq", "udhcpc")
    config = gateway_config(tmp_path, dns_servers=["wan:wan0", "10.99.0.1"], domain_name="wan:wan0",
                            wan_fallback_dns_servers=["10.99.0.53"], lease_time=600)
    path = tmp_path / "gateway.toml"
    path.write_text(toml_document(config))
    with Gateway() as net:
        dnsmasq = wan_server(net, tmp_path / "dnsmasq", "10.88.0.53", "a.example")
        daemon = Daemon(net.gw, [TWISTD, "-n", "--pidfile=", "-y", str(GATEWAY_TAC)], tmp_path / "gateway.out",
                        dict(os.environ, DHCPSUITE_CONFIG=str(path)))
        try:
            wait_udp_listening(net.gw, 67, daemon.process)
            wait_until(lambda: next((a for a in net.gw.ipv4_addresses("wan0") if a.startswith("10.88.0.")), None),
                       15, "the WAN client to be bound")

            lan = ClientFactory(tmp_path).udhcpc(net.lan_side)
            index, _ = lan.wait_event({"bound"})
            env = lan.environment(index)
            assert (env["dns"].split(), env["domain"]) == (["10.88.0.53", "10.99.0.1"], "a.example"), env

            dnsmasq.stop()
            dnsmasq = wan_server(net, tmp_path / "dnsmasq", "10.88.0.54", "b.example")
            result = net.gw.run([CTL, "--json", "--timeout", "10", "renew", "wan0"], check=False, timeout=60)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["outcome"] == "extended", result.stdout

            after = len(lan.events())
            lan.signal(signal.SIGUSR1)
            index, event = lan.wait_event({"renew", "bound"}, after=after)
            env = lan.environment(index)
            assert (env["dns"].split(), env["domain"]) == (["10.88.0.54", "10.99.0.1"], "b.example"), (event, env)
            lan.stop()
            assert "LAN options follow the WAN lease of wan0" in daemon.output()
        finally:
            code = net.gw.stop(daemon.process)
            dnsmasq.stop()
        assert code in (0, -15), daemon.output()
        assert "Traceback" not in daemon.output(), daemon.output()
