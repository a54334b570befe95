"""
The real dibbler-client (DHCPv6), in a client namespace, with our plugin as
its script, against dnsmasq's DHCPv6 server in a server namespace: the lease
dibbler obtains reaches the lease registry of the ingest service running in
this process, as RDK-B's dibbler plugin delivers it to the DHCP Manager.

As for udhcpc (test_ingest_udhcpc.py), the listening socket is opened inside
the client namespace, where the plugin sends to 127.0.0.1.
"""

from __future__ import annotations

import socket
import time
from ipaddress import IPv6Address

import pytest
import pytest_twisted
from twisted.internet import endpoints, reactor

from dhcpsuite.leases.registry import FAMILY_V6
from tests.support.environment import require_programs, require_root
from tests.support.ingest import plugin_wrapper, wait_for
from tests.support.netns import VethPair, listening_socket_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def enable_ipv6(pair: VethPair) -> None:
    # VethPair turns IPv6 off; DHCPv6 needs it (link-local addresses, no DAD wait).
    for ns, ifname in ((pair.server, pair.server_if), (pair.client, pair.client_if)):
        ns.run(["sysctl", "-qw", f"net.ipv6.conf.{ifname}.accept_dad=0"])
        ns.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"])
        ns.run(["sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=0"])
    pair.server.run(["ip", "-6", "addr", "add", "fd77::1/64", "dev", pair.server_if, "nodad"])
    deadline = time.monotonic() + 10
    while "fe80::" not in pair.client.run(["ip", "-6", "addr", "show", "dev", pair.client_if]).stdout:
        if time.monotonic() > deadline:
            raise AssertionError("no link-local address on the client interface")
        time.sleep(0.05)


@pytest_twisted.inlineCallbacks
def test_dibbler_client_lease_reaches_the_registry(ingest_factory, tmp_path):
    require_root()
    programs = require_programs("dibbler-client", "dnsmasq")
    pair = VethPair()
    pair.up()
    try:
        enable_ipv6(pair)
        fd = listening_socket_in(pair.client.name).detach()
        endpoint = endpoints.AdoptedStreamServerEndpoint(reactor, fd, socket.AF_INET)
        ingest = yield ingest_factory(endpoint_object=endpoint, interfaces=(pair.client_if,))

        pair.server.spawn([
            programs["dnsmasq"], "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            f"--interface={pair.server_if}", "--bind-interfaces", "--dhcp-range=fd77::100,fd77::1ff,64,600",
            f"--dhcp-leasefile={tmp_path}/dnsmasq.leases", "--user=root", "--pid-file=",
            "--dhcp-option=option6:dns-server,[fd77::53]", "--dhcp-option=option6:domain-search,ingest.test",
        ])
        workdir = tmp_path / "dibbler"
        workdir.mkdir()
        (workdir / "client.conf").write_text(
            "log-level 7\nlog-mode short\ninactive-mode\n"
            f"script \"{plugin_wrapper(tmp_path, ingest.port, 'dibbler')}\"\n"
            f"iface \"{pair.client_if}\" {{\n  ia\n  option dns-server\n  option domain\n}}\n"
        )
        pair.client.spawn([programs["dibbler-client"], "run", "-w", str(workdir)])

        yield wait_for(lambda: ingest.counters.get("accepted.v6", 0) >= 1, 30, "dibbler's lease")
        lease = ingest.registry.lease(pair.client_if, FAMILY_V6)
        address = lease.ia_na.address
        assert IPv6Address("fd77::100") <= address <= IPv6Address("fd77::1ff"), lease
        # dnsmasq's 600 s lease; dibbler passes the lifetimes it was given.
        assert (lease.ia_na.preferred_lifetime, lease.ia_na.valid_lifetime) == (600, 600), lease
        assert lease.ia_pd is None
        assert [str(a) for a in lease.dns_servers] == ["fd77::53"], lease
        assert lease.domain_name.strip() == "ingest.test", lease
        assert not lease.expired
        # The address dibbler added is the one that was ingested.
        assert str(address) in pair.client.run(["ip", "-6", "addr", "show", "dev", pair.client_if]).stdout
        assert (tmp_path / "events").read_text().split()[:1] == ["add"]
    finally:
        pair.down()
