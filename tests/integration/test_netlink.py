"""
The netlink reader and configurator against the real kernel, inside
namespaces these tests create (the reader's socket is opened inside the
namespace with C{netns=}, and read by this process's reactor).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import subprocess
import tempfile
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task, threads

from dhcpsuite.netlink import events as e
from dhcpsuite.netlink.configurator import ConfiguratorError, NetlinkConfigurator
from dhcpsuite.netlink.reader import NetlinkReader
from dhcpsuite.netlink.testing import ViewListener, ip_view, table_view
from tests.support.environment import require_root
from tests.support.netns import VethPair

pytestmark = pytest.mark.integration


@pytest.fixture
def pair():
    require_root()
    with VethPair(prefix="dnl") as veth:
        yield veth


@pytest.fixture
def reader_in(pair):
    readers = []

    def make(**kw) -> NetlinkReader:
        reader = NetlinkReader(reactor=reactor, netns=pair.server.name, **kw)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.stop()


@pytest.fixture
def configurator_in(pair):
    configurator = NetlinkConfigurator(reactor=reactor, netns=pair.server.name)
    configurator.start()
    yield configurator
    configurator.stop()


@defer.inlineCallbacks
def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        yield task.deferLater(reactor, 0.02, lambda: None)


def ip(ns, *args: str) -> None:
    ns.run(["ip", *args])


def of_type(listener: ViewListener, *types) -> list:
    return [event for event in listener.events if isinstance(event, types)]


@pytest.mark.timeout(30)
@pytest_twisted.inlineCallbacks
def test_events_arrive_in_order_with_fields(pair, reader_in):
    reader = reader_in()
    listener = ViewListener()
    reader.add_listener(listener)
    reader.start()
    yield reader.when_synced()
    srv0 = reader.table.link("srv0")
    assert srv0 is not None and srv0.admin_up and srv0.carrier and srv0.operstate == "UP"
    assert [str(a.interface) for a in reader.table.addresses_of("srv0")] == [pair.server_address]
    del listener.events[:]

    ns = pair.server
    ip(ns, "link", "add", "nl0", "type", "veth", "peer", "name", "nl1")
    ip(ns, "link", "set", "nl0", "address", "02:00:00:00:00:aa", "mtu", "1400")
    ip(ns, "link", "set", "nl0", "up")
    ip(ns, "link", "set", "nl1", "up")
    # Carrier changes reach netlink through the kernel's linkwatch, up to a second later.
    yield wait_until(lambda: getattr(reader.table.link("nl0"), "carrier", False), 5, "carrier on nl0")
    ip(ns, "addr", "add", "198.18.0.1/24", "dev", "nl0", "valid_lft", "600", "preferred_lft", "300")
    ip(ns, "route", "add", "198.18.7.0/24", "via", "198.18.0.254", "dev", "nl0", "metric", "77", "table", "100")
    ip(ns, "route", "del", "198.18.7.0/24", "via", "198.18.0.254", "dev", "nl0", "metric", "77", "table", "100")
    ip(ns, "addr", "del", "198.18.0.1/24", "dev", "nl0")
    ip(ns, "link", "del", "nl0")
    yield wait_until(lambda: len(of_type(listener, e.LinkRemoved)) == 2, 5, "nl0 and nl1 to go")

    links = of_type(listener, e.LinkAdded, e.LinkChanged, e.LinkRemoved)
    assert {ev.link.name for ev in links if isinstance(ev, e.LinkAdded)} == {"nl0", "nl1"}
    nl0 = [ev.link for ev in links if ev.link.name == "nl0" and not isinstance(ev, e.LinkRemoved)]
    assert nl0[-1].mac == "02:00:00:00:00:aa" and nl0[-1].mtu == 1400
    # Admin up comes before carrier (the peer is still down), then carrier.
    states = [(link.admin_up, link.carrier) for link in nl0]
    assert (True, False) in states and states.index((True, False)) < states.index((True, True))
    assert isinstance(links[-1], e.LinkRemoved) and isinstance(links[-2], e.LinkRemoved)

    added = of_type(listener, e.AddressAdded, e.AddressRemoved)
    v4 = [ev for ev in added if ev.address.interface == ipaddress.ip_interface("198.18.0.1/24")]
    assert [type(ev) for ev in v4] == [e.AddressAdded, e.AddressRemoved]
    address = v4[0].address
    assert (address.ifname, address.family, address.prefix_length) == ("nl0", 2, 24)
    assert 590 <= address.valid_lifetime <= 600 and 290 <= address.preferred_lifetime <= 300
    assert str(address.broadcast) == "198.18.0.255" or address.broadcast is None

    routes = [
        ev for ev in of_type(listener, e.RouteAdded, e.RouteRemoved)
        if str(ev.route.destination) == "198.18.7.0/24"
    ]
    assert [type(ev) for ev in routes] == [e.RouteAdded, e.RouteRemoved]
    route = routes[0].route
    assert (str(route.gateway), route.ifname, route.table, route.metric) == ("198.18.0.254", "nl0", 100, 77)

    # Order across kinds: the address came after the link was up, the route after the address.
    index = listener.events.index
    assert index(v4[0]) < index(routes[0]) < index(routes[1]) < index(v4[1]) < index(links[-1])
    assert table_view(reader.table) == ip_view(ns.name)
    assert listener.view() == ip_view(ns.name)


@pytest.mark.timeout(30)
@pytest_twisted.inlineCallbacks
def test_link_down_flushes_routes_and_cache_follows(pair, reader_in):
    reader = reader_in(resync_min_interval=0.2)
    listener = ViewListener()
    reader.add_listener(listener)
    reader.start()
    yield reader.when_synced()
    ns = pair.server
    ip(ns, "route", "add", "198.19.0.0/16", "via", "10.77.0.254", "dev", "srv0")
    ip(ns, "link", "set", "srv0", "down")
    yield wait_until(lambda: table_view(reader.table) == ip_view(ns.name), 5, "cache to equal the kernel after link down")
    assert listener.view() == ip_view(ns.name)
    ip(ns, "link", "set", "srv0", "up")
    yield wait_until(lambda: table_view(reader.table) == ip_view(ns.name), 5, "cache to equal the kernel after link up")
    assert listener.view() == table_view(reader.table)


class Transitions:
    def __init__(self):
        self.seen = []

    def readiness_changed(self, ifname, ready):
        self.seen.append((ifname, ready))


@pytest.mark.timeout(30)
@pytest_twisted.inlineCallbacks
def test_readiness_transitions_fire_once(pair, reader_in):
    from zope.interface.verify import verifyObject

    from dhcpsuite.interfaces import IReadinessListener
    from zope.interface import directlyProvides

    reader = reader_in()
    reader.start()
    yield reader.when_synced()
    transitions = Transitions()
    directlyProvides(transitions, IReadinessListener)
    verifyObject(IReadinessListener, transitions)
    reader.readiness.add_listener(transitions)
    assert reader.readiness.watch("srv0", subnet="10.77.0.0/16") is True
    assert reader.readiness.watch("srv9", subnet="10.77.0.0/16") is False

    @defer.inlineCallbacks
    def settle():
        # Sync point: a marker link is seen after every earlier change.
        ip(pair.server, "link", "add", "mark0", "type", "veth", "peer", "name", "mark1")
        yield wait_until(lambda: reader.table.link("mark0") is not None, 5, "marker")
        ip(pair.server, "link", "del", "mark0")
        yield wait_until(lambda: reader.table.link("mark0") is None, 5, "marker gone")

    ip(pair.client, "link", "set", pair.client_if, "down")  # carrier lost on srv0
    # Carrier changes come through the kernel's linkwatch, up to a second later.
    yield wait_until(lambda: transitions.seen, 5, "not ready")
    yield settle()
    assert transitions.seen == [("srv0", False)]
    ip(pair.client, "link", "set", pair.client_if, "up")
    yield wait_until(lambda: len(transitions.seen) == 2, 5, "ready again")
    yield settle()
    assert transitions.seen == [("srv0", False), ("srv0", True)]
    ip(pair.server, "addr", "del", pair.server_address, "dev", "srv0")
    ip(pair.server, "addr", "add", "10.99.0.1/24", "dev", "srv0")  # not in the subnet
    yield settle()
    assert transitions.seen[-1] == ("srv0", False) and len(transitions.seen) == 3
    ip(pair.server, "addr", "add", "10.77.3.3/16", "dev", "srv0")
    ip(pair.server, "link", "set", "srv0", "mtu", "1300")  # a change that keeps it ready
    yield settle()
    assert transitions.seen == [("srv0", False), ("srv0", True), ("srv0", False), ("srv0", True)]


@pytest.mark.timeout(60)
@pytest_twisted.inlineCallbacks
def test_burst_overrun_resync_matches_kernel(pair, reader_in):
    reader = reader_in(receive_buffer=16384, resync_min_interval=0.25)
    listener = ViewListener(keep_events=False)
    reader.add_listener(listener)
    reader.start()
    yield reader.when_synced()
    ns = pair.server
    ip(ns, "link", "add", "bu0", "type", "veth", "peer", "name", "bu1")
    ip(ns, "link", "set", "bu0", "up")
    ip(ns, "link", "set", "bu1", "up")
    commands = [f"addr add 10.{100 + i // 250}.{i % 250}.1/24 dev bu0" for i in range(6000)]
    commands += [f"addr del 10.{100 + i // 250}.{i % 250}.1/24 dev bu0" for i in range(0, 6000, 3)]
    commands += [f"addr del 10.{100 + i // 250}.{i % 250}.1/24 dev bu0" for i in range(1, 6000, 3)]
    assert len(commands) == 10000
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        f.write("\n".join(commands) + "\n")
    try:
        # In a thread, so the reactor reads while the kernel floods the socket.
        result = yield threads.deferToThread(
            subprocess.run, ["ip", "-n", ns.name, "-batch", f.name], capture_output=True, text=True, timeout=60
        )
    finally:
        os.unlink(f.name)
    assert result.returncode == 0, result.stderr
    assert reader.overruns >= 1
    kernel = ip_view(ns.name)
    assert len(kernel[0]) > 2000
    yield wait_until(lambda: table_view(reader.table) == kernel and reader._dump is None and not reader._wanted
                     and reader._resync_call is None, 20, "cache to equal ip -j after the burst")
    assert reader.resyncs >= 1
    assert listener.view() == kernel


@pytest.mark.timeout(30)
@pytest_twisted.inlineCallbacks
def test_configurator_against_kernel(pair, configurator_in):
    ns = pair.server
    c = configurator_in
    yield c.add_address("srv0", ipaddress.ip_interface("10.88.0.5/24"), valid_lifetime=900, preferred_lifetime=600)
    yield c.add_address("srv0", ipaddress.ip_interface("10.88.0.5/24"), valid_lifetime=900)  # idempotent
    info = [a for link in ns_json(ns, "addr", "show", "dev", "srv0") for a in link["addr_info"] if a["local"] == "10.88.0.5"]
    assert len(info) == 1 and info[0]["prefixlen"] == 24 and info[0]["broadcast"] == "10.88.0.255"
    assert 890 <= info[0]["valid_life_time"] <= 900

    yield c.add_route(ipaddress.ip_network("198.18.0.0/16"), gateway=ipaddress.ip_address("10.88.0.1"),
                      ifname="srv0", metric=30, table=100, source=ipaddress.ip_address("10.88.0.5"))
    yield c.add_route(ipaddress.ip_network("0.0.0.0/0"), gateway=ipaddress.ip_address("10.88.0.1"))
    routes = ns_json(ns, "route", "show", "table", "100")
    assert routes == [{"dst": "198.18.0.0/16", "gateway": "10.88.0.1", "dev": "srv0",
                       "prefsrc": "10.88.0.5", "metric": 30, "flags": []}]
    assert [r["gateway"] for r in ns_json(ns, "route", "show", "default")] == ["10.88.0.1"]

    yield c.add_neighbour("srv0", ipaddress.ip_address("10.88.0.77"), bytes.fromhex("020000000077"))
    neigh = ns_json(ns, "neigh", "show", "dev", "srv0")
    assert [(n["dst"], n["lladdr"]) for n in neigh if n["dst"] == "10.88.0.77"] == [("10.88.0.77", "02:00:00:00:00:77")]

    yield c.set_mtu("srv0", 1280)
    assert ns_json(ns, "link", "show", "srv0")[0]["mtu"] == 1280

    yield c.remove_route(ipaddress.ip_network("198.18.0.0/16"), gateway=ipaddress.ip_address("10.88.0.1"), table=100)
    yield c.remove_route(ipaddress.ip_network("198.18.0.0/16"), table=100)  # absent: success
    assert ns_json(ns, "route", "show", "table", "100") == []
    yield c.remove_address("srv0", ipaddress.ip_interface("10.88.0.5/24"))
    yield c.remove_address("srv0", ipaddress.ip_interface("10.88.0.5/24"))  # absent: success
    assert "10.88.0.5/24" not in ns.ipv4_addresses("srv0")

    with pytest.raises(ConfiguratorError) as raised:
        yield c.add_address("nosuch0", ipaddress.ip_interface("10.1.1.1/24"))
    assert raised.value.errno == errno.ENODEV and "no such device 'nosuch0'" in str(raised.value)
    with pytest.raises(ConfiguratorError) as raised:
        yield c.add_address("srv0", "10.1.1.1/33")
    assert raised.value.errno == errno.EINVAL and "10.1.1.1/33" in str(raised.value)
    with pytest.raises(ConfiguratorError) as raised:
        yield c.add_route(ipaddress.ip_network("198.18.0.0/16"), gateway=ipaddress.ip_address("192.0.2.1"), ifname="srv0")
    assert raised.value.errno == errno.ENETUNREACH and "Network is unreachable" in str(raised.value)


def ns_json(ns, *args):
    import json

    return json.loads(ns.run(["ip", "-j", *args]).stdout or "[]")


@pytest.mark.timeout(30)
def test_monitor_and_dump_tools(pair):
    import json
    import subprocess
    import sys

    require_root()
    dump = subprocess.run(
        [sys.executable, "-m", "dhcpsuite.netlink", "--netns", pair.server.name, "dump"],
        capture_output=True, text=True, timeout=20, check=True,
    )
    table = json.loads(dump.stdout)
    assert {link["name"] for link in table["links"]} == {"lo", "srv0"}
    assert [a["interface"] for a in table["addresses"] if a["ifname"] == "srv0"] == [pair.server_address]

    monitor = subprocess.Popen(
        [sys.executable, "-m", "dhcpsuite.netlink", "--netns", pair.server.name, "monitor", "--count", "1", "--timeout", "15"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 10
        # The monitor prints only changes after its dump; keep changing until it has seen one.
        while monitor.poll() is None and time.monotonic() < deadline:
            pair.server.run(["ip", "addr", "add", "10.66.0.1/24", "dev", "srv0"], check=False)
            time.sleep(0.2)
            pair.server.run(["ip", "addr", "del", "10.66.0.1/24", "dev", "srv0"], check=False)
        out, _ = monitor.communicate(timeout=15)
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait(5)
    line = json.loads(out.splitlines()[0])
    assert line["event"] in ("address_added", "address_removed", "route_added", "route_removed")
