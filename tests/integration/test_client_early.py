"""
The client's early path for real, as root in network namespaces:
C{python -m dhcpsuite.client} binds against dnsmasq before Twisted is
imported (the address and routes applied by the blocking netlink
configurator), then the reactor adopts the interface: hooks run, and the
renewal at T1 goes through the reactor. And the blocking configurator's
requests against the kernel.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    Daemon,
    Dnsmasq,
    addresses,
    interface,
    recorder,
    routes,
    toml_document,
    wait_address,
    wait_until,
)
from tests.support.environment import require_programs, require_root
from tests.support.netns import Namespace, VethPair

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[2]
# T1 = 3 s, so the renewal comes under the reactor within the test.
DNSMASQ_LINES = ["dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m", "dhcp-option=3,10.77.0.1", "dhcp-option=58,3"]


@pytest.fixture(autouse=True)
def needs_root_and_dnsmasq():
    require_root()
    require_programs("dnsmasq")


def start_module_client(tmp_path: Path, ns: Namespace, interfaces: list[dict], *extra: str) -> Daemon:
    config = {"state_dir": str(tmp_path / "client-state"), "client": {"interface": interfaces}}
    path = tmp_path / "client.toml"
    path.write_text(toml_document(config))
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    return Daemon(ns, [sys.executable, "-m", "dhcpsuite.client", "--config", str(path),
                       "--cache-dir", str(tmp_path / "cache"), *extra],
                  tmp_path / "client.out", env)


def test_binds_before_the_reactor_then_the_reactor_renews(tmp_path):
    with VethPair(prefix="tea") as pair:
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", DNSMASQ_LINES)
        hooks = recorder(tmp_path / "hooks", pair.client)
        daemon = start_module_client(tmp_path, pair.client, [interface(script=str(hooks.directory / "script"))])
        hooks.process = daemon.process
        address = wait_address(pair.client, daemon)
        wait_until(lambda: "the reactor takes over in state BOUND" in daemon.output(), 10, "the hand-over")
        output = daemon.output()
        assert "early start: BOUND after" in output, output
        # The early path applied the address with the lease's lifetime, and the route.
        (link,) = json.loads(pair.client.run(["ip", "-j", "-4", "addr", "show", "dev", "cli0"]).stdout)
        (info,) = link["addr_info"]
        assert 0 < info["valid_life_time"] <= 120, info
        assert any(r["dst"] == "default" and r["gateway"] == "10.77.0.1" for r in routes(pair.client))
        # What the early path left to the reactor: the hook (and the lease file).
        index, _ = hooks.wait_event({"bound"})
        assert hooks.environment(index)["ip"] == address.split("/")[0]
        assert (tmp_path / "client-state" / "client" / "cli0.lease").exists()
        # T1 = 3 s: the reactor's timer renews, unicast, EXTEND -> "renew".
        hooks.wait_event({"renew"}, after=index + 1, timeout=10)
        assert "BOUND -> RENEWING" in daemon.output() and "RENEWING -> BOUND" in daemon.output()
        assert addresses(pair.client) == [address]
        daemon.stop()
        server.stop()


def test_early_timeout_zero_starts_under_the_reactor(tmp_path):
    with VethPair(prefix="teb") as pair:
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", DNSMASQ_LINES)
        daemon = start_module_client(tmp_path, pair.client, [interface()], "--early-timeout", "0")
        wait_address(pair.client, daemon)
        output = daemon.output()
        assert "early start" not in output and "takes over" not in output, output
        assert "REQUESTING -> BOUND" in output
        daemon.stop()
        server.stop()


def test_arp_probe_is_handed_to_the_reactor(tmp_path):
    with VethPair(prefix="tec") as pair:
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", DNSMASQ_LINES)
        daemon = start_module_client(tmp_path, pair.client, [interface(arp_probe=True)])
        wait_address(pair.client, daemon, timeout=15)
        output = daemon.output()
        assert "the reactor takes over in state REQUESTING" in output, output
        assert "REQUESTING -> BOUND" in output
        daemon.stop()
        server.stop()


def test_no_server_within_the_budget_then_the_reactor_binds(tmp_path):
    with VethPair(prefix="ted") as pair:
        daemon = start_module_client(tmp_path, pair.client, [interface()], "--early-timeout", "1")
        wait_until(lambda: "the reactor takes over in state SELECTING" in daemon.output(), 10, "the hand-over")
        server = Dnsmasq(pair.server, tmp_path / "dnsmasq", DNSMASQ_LINES)
        wait_address(pair.client, daemon, timeout=20)
        assert "SELECTING -> REQUESTING" in daemon.output()
        daemon.stop()
        server.stop()


BLOCKING_SCRIPT = r"""
import json, sys
from dhcpsuite.netlink.blocking import BlockingConfigurator
from dhcpsuite.netlink.requests import ConfiguratorError
results = {}
def attempt(name, call):
    try:
        call()
        results[name] = "ok"
    except ConfiguratorError as e:
        results[name] = [e.errno_name, str(e)]
with BlockingConfigurator() as c:
    attempt("add", lambda: c.add_address("srv0", "10.88.0.2/24", valid_lifetime=300))
    attempt("add again", lambda: c.add_address("srv0", "10.88.0.2/24", valid_lifetime=300))
    attempt("mtu", lambda: c.set_mtu("srv0", 1400))
    attempt("route", lambda: c.add_route("10.99.0.0/16", gateway="10.88.0.1", ifname="srv0", metric=7))
    attempt("no device", lambda: c.add_address("nosuch0", "10.88.0.3/24"))
    attempt("bad gateway", lambda: c.add_route("10.98.0.0/16", gateway="::1", ifname="srv0"))
    attempt("unreachable gateway", lambda: c.add_route("10.97.0.0/16", gateway="192.0.2.1", ifname="srv0"))
print(json.dumps(results))
"""


def test_blocking_configurator_against_the_kernel(tmp_path):
    with VethPair(prefix="tee") as pair:
        script = tmp_path / "blocking.py"
        script.write_text(BLOCKING_SCRIPT)
        started = time.monotonic()
        out = pair.server.run([sys.executable, str(script)], env=dict(os.environ, PYTHONPATH=str(REPOSITORY))).stdout
        assert time.monotonic() - started < 10
        results = json.loads(out)
        assert results["add"] == results["add again"] == results["mtu"] == results["route"] == "ok", results
        assert results["no device"][0] == "ENODEV" and "nosuch0" in results["no device"][1]
        assert results["bad gateway"][0] == "EINVAL"
        assert results["unreachable gateway"][0] == "ENETUNREACH", results
        (link,) = json.loads(pair.server.run(["ip", "-j", "-4", "addr", "show", "dev", "srv0"]).stdout)
        assert link["mtu"] == 1400
        local = [a for a in link["addr_info"] if a["local"] == "10.88.0.2"]
        assert local and local[0]["prefixlen"] == 24 and local[0]["valid_life_time"] <= 300
        route = json.loads(pair.server.run(["ip", "-j", "-4", "route", "show", "10.99.0.0/16"]).stdout)
        assert route and route[0]["gateway"] == "10.88.0.1" and route[0]["metric"] == 7, route
