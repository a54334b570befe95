"""
The real busybox udhcpc, in a client namespace, with our plugin as its
script (C{-s}), against dnsmasq in a server namespace: bound, renew and
deconfig reach the lease registry of the service running in this process.

The plugin runs inside the client namespace and sends to 127.0.0.1 there,
so the test opens the listening socket in that namespace (a helper thread
joins it with setns(2): namespaces are per thread) and the reactor adopts
it (C{AdoptedStreamServerEndpoint}).
"""

from __future__ import annotations

import os
import signal
import socket
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
import pytest_twisted
from twisted.internet import endpoints, reactor

from dhcpsuite.leases.registry import FAMILY_V4
from tests.support.ingest import plugin_wrapper, wait_for
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair, listening_socket_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

@pytest_twisted.inlineCallbacks
def test_udhcpc_bound_renew_deconfig(ingest_factory, tmp_path):
    require_root()
    programs = require_programs("udhcpc", "dnsmasq")
    from dhcpsuite.netlink.testing import RecordingConfigurator

    pair = VethPair(server_address="10.77.0.1/16")
    pair.up()
    try:
        # The endpoint closes the descriptor it is given once the reactor has its own copy.
        fd = listening_socket_in(pair.client.name).detach()
        endpoint = endpoints.AdoptedStreamServerEndpoint(reactor, fd, socket.AF_INET)
        configurator = RecordingConfigurator()
        ingest = yield ingest_factory(endpoint_object=endpoint, interfaces=(pair.client_if,),
                                      apply_to_interface=True, configurator=configurator)

        pair.server.spawn([
            programs["dnsmasq"], "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            f"--interface={pair.server_if}", "--bind-interfaces", "--dhcp-range=10.77.0.100,10.77.0.150,255.255.0.0,600",
            f"--dhcp-leasefile={tmp_path}/dnsmasq.leases", "--dhcp-authoritative", "--no-ping", "--user=root",
            "--pid-file=", "--dhcp-option=option:router,10.77.0.1", "--dhcp-option=option:dns-server,10.77.0.53",
            "--dhcp-option=option:domain-name,ingest.test",
        ])
        udhcpc = pair.client.spawn([
            programs["udhcpc"], "-f", "-t", "10", "-T", "1", "-A", "1", "-i", pair.client_if,
            "-s", plugin_wrapper(tmp_path, ingest.port, "udhcpc"),
        ])
        changes = ingest.listener.changes

        def causes():
            return [c.cause for c in changes if c.interface == pair.client_if]

        yield wait_for(lambda: "updated" in causes(), 30, "the bound lease")
        lease = ingest.registry.lease(pair.client_if, FAMILY_V4)
        assert lease.state == "bound"
        assert IPv4Address("10.77.0.100") <= lease.address <= IPv4Address("10.77.0.150")
        assert lease.netmask == IPv4Address("255.255.0.0")
        assert lease.routers == (IPv4Address("10.77.0.1"),)
        assert lease.dns_servers == (IPv4Address("10.77.0.53"),)
        assert (lease.server_id, lease.lease_time, lease.domain_name) == (IPv4Address("10.77.0.1"), 600, "ingest.test")
        # udhcpc says deconfig before it starts: an expiry with nothing to clear.
        assert ingest.counters["outcome.v4.ignored"] >= 1
        add = configurator.calls_to("add_address")
        assert add and add[0]["interface"] == IPv4Interface(f"{lease.address}/16")
        assert add[0]["broadcast"] == IPv4Address("10.77.255.255")
        assert configurator.calls_to("set_mtu") == [{"ifname": pair.client_if, "mtu": 1500}]
        assert configurator.calls_to("add_route")[0]["destination"] == IPv4Network("0.0.0.0/0")

        os.killpg(udhcpc.pid, signal.SIGUSR1)  # renew
        yield wait_for(lambda: "renewed" in causes(), 20, "the renewal")
        assert ingest.registry.lease(pair.client_if, FAMILY_V4).state == "renew"
        assert ingest.registry.current(pair.client_if, FAMILY_V4).cause == "renewed"

        os.killpg(udhcpc.pid, signal.SIGUSR2)  # release: the script gets deconfig
        yield wait_for(lambda: "expired" in causes(), 20, "the deconfig")
        assert ingest.registry.current(pair.client_if, FAMILY_V4) is None
        assert causes() == ["updated", "renewed", "expired"]
        assert configurator.calls_to("remove_address")[0]["interface"] == IPv4Interface(f"{lease.address}/16")
        events = (tmp_path / "events").read_text().split()
        assert events[:1] == ["deconfig"] and "bound" in events and "renew" in events
    finally:
        pair.down()
