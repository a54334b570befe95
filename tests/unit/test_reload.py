"""
Tests for L{dhcpsuite.reload}: a reload validates the whole file, refuses
keys that cannot change live (naming them), and applies every section or
none; and for each component's C{prepare_reconfigure}.

Kea's C{config-reload} keeps the running configuration when the new one
fails to parse or check, and answers with the error; dnsmasq's SIGHUP
re-reads only its hosts files (a pool or option change needs a restart).
"""

from __future__ import annotations

import io
import json
import os
import signal
import tempfile
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest
from zope.interface.verify import verifyObject

from dhcpsuite.client.config import parse_client_config
from dhcpsuite.config import Config, ConfigError, Section, parse_config_text
from dhcpsuite.control import cli
from dhcpsuite.control.config import ControlConfig
from dhcpsuite.control.web import make_site
from dhcpsuite.daemon import Daemon
from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.interfaces import IReconfigurable
from dhcpsuite.leases.lease import LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.reload import FIXED_KEYS, Reloader, ReloadRefused, SighupService, install_sighup, refuse_fixed
from dhcpsuite.tap import makeService
from dhcpsuite.netlink.events import LinkAdded
from tests.unit import test_client_service, test_server_readiness, test_tap
from tests.unit.test_client_service import link
from tests.unit.test_server_decide import ip, request
from tests.unit.test_server_service import ClosingStore, ServiceTestsBase

A = IPv4Address

# The tap tests' one-subnet server on eth0, with room for more subnet keys.
BASE = test_tap.GOOD.replace('state_dir = "/srv/state"\n', "") + "{extra}\n"

RESERVATION = """
[[server.subnet.reservation]]
mac = "02:00:00:00:00:07"
address = "10.0.0.50"
"""


class Files:
    """
    A configuration file the test rewrites, read the way tap reads it.
    """

    def __init__(self, test: SynchronousTestCase, text: str) -> None:
        fd, self.path = tempfile.mkstemp(suffix=".toml")
        os.close(fd)
        test.addCleanup(os.unlink, self.path)
        self.write(text)

    def write(self, text: str) -> None:
        with open(self.path, "w") as f:
            f.write(text)

    def read(self) -> Config:
        from dhcpsuite.config import load_config

        return load_config(self.path)


class ServerReloadTests(ServiceTestsBase):
    """
    The server keeps its store and its ports; a new core answers from the
    next datagram on.
    """

    def start(self, text: str):
        self.file = Files(self, text)
        self.daemon = Daemon(self.file.read())
        self.store = ClosingStore()
        self.daemon.server = self.make_service(self.daemon.config.section("server"), store=self.store)
        self.daemon.server.startService()
        self.addCleanup(self.daemon.server.stopService)
        self.reloader = Reloader(self.daemon, self.file.read, {"server": self.daemon.server})
        return self.daemon.server

    def handle(self, message, ifname: str = "eth0"):
        # Through the interface's protocol: the one the socket feeds.
        return self.daemon.server._protocols[ifname].core.handle(message, ifname, now=self.reactor.seconds())

    def test_provides_the_interface(self) -> None:
        server = self.start(BASE.format(extra=""))
        self.assertTrue(verifyObject(IReconfigurable, server))

    def test_reservation_added_is_honoured_at_next_discover(self) -> None:
        """
        Kea applies a reservation added by config-reload at the next
        DISCOVER; dnsmasq does for a dhcp-host in a hosts file on SIGHUP.
        """
        self.start(BASE.format(extra=""))
        before = self.handle(request(MessageType.DISCOVER, 7))
        self.assertNotEqual(before.address, A("10.0.0.50"))
        self.file.write(BASE.format(extra=RESERVATION))
        self.assertEqual(self.reloader.reload(), {"config": self.file.path, "changed": ["server"]})
        after = self.handle(request(MessageType.DISCOVER, 7))
        self.assertEqual((after.event, after.address), ("offer", A("10.0.0.50")))

    def test_leases_and_store_survive(self) -> None:
        server = self.start(BASE.format(extra=""))
        ack = self.handle(request(MessageType.DISCOVER, 3))
        bound = self.handle(
            request(MessageType.REQUEST, 3, options={Option.REQUESTED_ADDRESS: ack.address.packed,
                                                     Option.SERVER_ID: ip("10.0.0.1")})
        )
        self.assertEqual(bound.event, "ack")
        self.file.write(BASE.format(extra="lease_time = 7200"))
        self.reloader.reload()
        self.assertIs(server.store, self.store)
        self.assertEqual(self.store.closed, 0)
        self.assertEqual(self.store.get(bound.address).state, LeaseState.BOUND)
        renewed = self.handle(request(MessageType.REQUEST, 3, ciaddr=bound.address))
        self.assertEqual(renewed.event, "ack")
        self.assertEqual(int.from_bytes(renewed.reply.message.options[int(Option.LEASE_TIME)], "big"), 7200)

    def test_pool_removed_naks_at_renewal_and_offers_from_new_pool(self) -> None:
        """
        RFC 2131 4.3.2: a REQUEST for an address that is not right for the
        network is NAKed (authoritative). ISC dhcpd does the same for an
        address outside every pool after a restart with a shrunk range.
        """
        self.start(BASE.format(extra=""))
        offer = self.handle(request(MessageType.DISCOVER, 4))
        self.handle(request(MessageType.REQUEST, 4, options={Option.REQUESTED_ADDRESS: offer.address.packed,
                                                             Option.SERVER_ID: ip("10.0.0.1")}))
        self.assertIn(offer.address, [A(f"10.0.0.{n}") for n in range(10, 21)])
        observers = len(self.store._observers)
        self.file.write(BASE.format(extra="").replace("10.0.0.10-10.0.0.20", "10.0.0.100-10.0.0.110"))
        self.reloader.reload()
        renewal = self.handle(request(MessageType.REQUEST, 4, ciaddr=offer.address))
        self.assertEqual((renewal.event, renewal.reason), ("nak", "address-not-in-pool"))
        again = self.handle(request(MessageType.DISCOVER, 4))
        self.assertIn(again.address, [A(f"10.0.0.{n}") for n in range(100, 111)])
        # Pool figures follow the new pools.
        self.assertEqual([p["pool"] for p in self.daemon.server.pool_usage()], ["10.0.0.100-10.0.0.110"])
        # The old pool counts stopped observing the store; the new ones observe it.
        self.assertEqual(len(self.store._observers), observers)
        self.assertIn(self.daemon.server._usage.lease_changed, self.store._observers)

    def test_subnet_on_a_new_interface_is_served(self) -> None:
        server = self.start(BASE.format(extra=""))
        self.addresses["eth1"] = A("10.9.0.1")
        self.file.write(BASE.format(extra="") + '[[server.subnet]]\nsubnet = "10.9.0.0/24"\ninterface = "eth1"\npool = "10.9.0.10-10.9.0.20"\n')
        self.reloader.reload()
        self.assertEqual(sorted(server._ports), ["eth0", "eth1"])
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 5), "eth1").event, "offer")
        # And removed again: its port is closed, eth0's is kept.
        eth1_port = server._ports["eth1"]
        eth0_port = server._ports["eth0"]
        self.file.write(BASE.format(extra=""))
        self.reloader.reload()
        self.assertEqual(list(server._ports), ["eth0"])
        self.assertEqual((eth1_port.stopped, eth0_port.stopped), (1, 0))

    def test_new_interface_without_address_changes_nothing(self) -> None:
        server = self.start(BASE.format(extra=""))
        core, observers = server.core, len(self.store._observers)
        self.file.write(BASE.format(extra="") + '[[server.subnet]]\nsubnet = "10.9.0.0/24"\ninterface = "eth1"\npool = "10.9.0.10-10.9.0.20"\n')
        with self.assertRaises(ConfigError) as caught:
            self.reloader.reload()
        self.assertEqual(caught.exception.path, "server.subnet[1].interface")
        self.assertIs(server.core, core)
        self.assertEqual(len(server.config.subnets), 1)
        # Nothing prepared is left behind (the pool counts' store observer).
        self.assertEqual(len(self.store._observers), observers)

    def test_bad_file_changes_nothing(self) -> None:
        server = self.start(BASE.format(extra=""))
        core, running = server.core, self.daemon.config
        self.file.write(BASE.format(extra=RESERVATION).replace("10.0.0.10-10.0.0.20", "10.0.0.10-10.0.0.300"))
        with self.assertRaises(ConfigError) as caught:
            self.reloader.reload()
        self.assertEqual(caught.exception.path, "server.subnet[0].pool")
        self.assertIs(server.core, core)
        self.assertIs(self.daemon.config, running)
        self.assertEqual(self.reloader.counters["failed"], 1)
        from dhcpsuite.control.metrics import render_metrics

        self.daemon.reloader = self.reloader
        self.assertIn(b'dhcpsuite_config_reloads_total{result="failed"} 1.0', render_metrics(self.daemon))
        self.assertNotEqual(self.handle(request(MessageType.DISCOVER, 7)).address, A("10.0.0.50"))

    def test_fixed_key_is_refused_by_name(self) -> None:
        server = self.start(BASE.format(extra=""))
        core = server.core
        self.file.write(BASE.format(extra=RESERVATION).replace('lease_store = "memory"', 'lease_store = "sqlite"'))
        with self.assertRaises(ReloadRefused) as caught:
            self.reloader.reload()
        self.assertEqual(str(caught.exception), "server.lease_store: cannot change while running (restart to apply)")
        self.assertIs(server.core, core)

    def test_rate_limit_buckets_survive_an_unrelated_change(self) -> None:
        self.start(BASE.format(extra="").replace("[server]", "[server]\nclient_rate_limit = {rate = 1, burst = 1}"))
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 8)).event, "offer")
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 8)).reason, "rate-limited-client")
        self.file.write(BASE.format(extra="lease_time = 600").replace("[server]", "[server]\nclient_rate_limit = {rate = 1, burst = 1}"))
        self.reloader.reload()
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 8)).reason, "rate-limited-client")

    def test_unchanged_file(self) -> None:
        server = self.start(BASE.format(extra=""))
        core = server.core
        self.assertEqual(self.reloader.reload()["changed"], [])
        self.assertIs(server.core, core)
        self.assertEqual(self.reloader.counters["unchanged"], 1)


class RefuseFixedTests(SynchronousTestCase):
    def test_state_dir(self) -> None:
        old = parse_config_text('state_dir = "/a"\n' + BASE.format(extra=""))
        new = parse_config_text('state_dir = "/b"\n' + BASE.format(extra=""))
        with self.assertRaises(ReloadRefused) as caught:
            refuse_fixed(old, new)
        self.assertEqual(caught.exception.path, "state_dir")

    def test_section_added(self) -> None:
        old = parse_config_text(BASE.format(extra=""))
        new = parse_config_text(BASE.format(extra="") + "[control]\n")
        with self.assertRaises(ReloadRefused) as caught:
            refuse_fixed(old, new)
        self.assertEqual(caught.exception.path, "control")

    def test_section_removed(self) -> None:
        old = parse_config_text(BASE.format(extra="") + "[control]\n")
        with self.assertRaises(ReloadRefused) as caught:
            refuse_fixed(old, parse_config_text(BASE.format(extra="")))
        self.assertEqual(caught.exception.path, "control")

    def test_control_listen_and_netlink(self) -> None:
        old = parse_config_text("[control]\n[netlink]\n")
        with self.assertRaises(ReloadRefused) as caught:
            refuse_fixed(old, parse_config_text('[control]\nlisten = "tcp:8068:interface=127.0.0.1"\n[netlink]\n'))
        self.assertEqual(caught.exception.path, "control.listen")
        with self.assertRaises(ReloadRefused) as caught:
            refuse_fixed(old, parse_config_text("[control]\n[netlink]\nreceive_buffer = 1048576\n"))
        self.assertEqual(caught.exception.path, "netlink")

    def test_every_fixed_key_exists(self) -> None:
        """
        A key renamed in a component's config must not silently drop out of
        the table.
        """
        import attrs

        from dhcpsuite.control.config import ControlConfig
        from dhcpsuite.ingest.config import IngestConfig
        from dhcpsuite.server.config import ServerConfig

        classes = {"server": ServerConfig, "ingest": IngestConfig, "control": ControlConfig}
        for section, keys in FIXED_KEYS.items():
            for key in keys:
                if key != "*":
                    self.assertIn(key, attrs.fields_dict(classes[section]), f"{section}.{key}")


class ControlReloadTests(SynchronousTestCase):
    """
    The token and the other admission settings change live; the API
    answers a refused reload with 4xx, the key and the message.
    """

    TEXT = '[control]\ntoken = "{token}"\n' + BASE.format(extra="")

    def setUp(self) -> None:
        self.file = Files(self, self.TEXT.format(token="a" * 16))
        self.daemon = Daemon(self.file.read())
        self.site = make_site(self.daemon, self.daemon.config.section("control"), MemoryReactorClock())
        self.daemon.reloader = Reloader(self.daemon, self.file.read, {"control": self.site})

    def call(self, method: str, path: str, token: str):
        request = DummyRequest([p.encode() for p in path.strip("/").split("/")])
        request.method = method.encode()
        request.content = io.BytesIO(b"")
        request.requestHeaders.setRawHeaders(b"authorization", [f"Bearer {token}".encode()])
        result = self.site.resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        return request.responseCode or 200, json.loads(b"".join(request.written))

    def test_provides_the_interface(self) -> None:
        self.assertTrue(verifyObject(IReconfigurable, self.site))

    def test_token_changes(self) -> None:
        self.file.write(self.TEXT.format(token="b" * 16))
        code, body = self.call("POST", "api/v1/config/reload", "a" * 16)
        self.assertEqual((code, body["changed"]), (200, ["control"]))
        self.assertEqual(self.call("GET", "api/v1/status", "a" * 16)[0], 401)
        self.assertEqual(self.call("GET", "api/v1/status", "b" * 16)[0], 200)

    def test_bad_file_is_400_naming_the_key(self) -> None:
        self.file.write(self.TEXT.format(token="short"))
        code, body = self.call("POST", "api/v1/config/reload", "a" * 16)
        self.assertEqual((code, body["key"]), (400, "control.token"))
        self.assertEqual(body["error"], "control.token: must be at least 16 characters")
        self.assertEqual(self.call("GET", "api/v1/status", "a" * 16)[0], 200)

    def test_fixed_key_is_409(self) -> None:
        self.file.write(self.TEXT.format(token="a" * 16).replace("[control]", '[control]\nlisten = "tcp:8099:interface=127.0.0.1"'))
        code, body = self.call("POST", "api/v1/config/reload", "a" * 16)
        self.assertEqual((code, body["key"]), (409, "control.listen"))

    def test_get_is_405(self) -> None:
        self.assertEqual(self.call("GET", "api/v1/config/reload", "a" * 16)[0], 405)


class CtlReloadTests(SynchronousTestCase):
    def run_ctl(self, answer) -> tuple[int, str, str, list]:
        calls = []

        def request(client, method, path, query=None, body=None):
            calls.append((method, path))
            if isinstance(answer, Exception):
                raise answer
            return answer

        self.patch(cli.ApiClient, "request", request)
        out, err = io.StringIO(), io.StringIO()
        self.patch(cli.sys, "stdout", out)
        self.patch(cli.sys, "stderr", err)
        return cli.main(["reload"]), out.getvalue(), err.getvalue(), calls

    def test_reload(self) -> None:
        code, out, _, calls = self.run_ctl({"config": "/etc/dhcpsuite.toml", "changed": ["server", "control"]})
        self.assertEqual((code, calls), (0, [("POST", "config/reload")]))
        self.assertEqual(out.strip(), "reloaded /etc/dhcpsuite.toml: server, control")

    def test_refused_exits_non_zero(self) -> None:
        error = cli.CtlError("POST /api/v1/config/reload: HTTP 400: server.subnet[0].pool[0]: '10.0.0.300' is not an IPv4 address")
        code, out, err, _ = self.run_ctl(error)
        self.assertEqual((code, out), (1, ""))
        self.assertIn("server.subnet[0].pool[0]", err)


class SighupTests(SynchronousTestCase):
    def test_handler_asks_the_reactor(self) -> None:
        """
        The handler itself does nothing but C{callFromThread}: the reload
        runs in the reactor's turn, never inside a signal handler.
        """
        calls = []

        class Reactor:
            def callFromThread(self, f, *args):
                calls.append(f)

        reload = object()
        restore = install_sighup(Reactor(), reload)
        self.addCleanup(restore)
        os.kill(os.getpid(), signal.SIGHUP)
        self.assertEqual(calls, [reload])

    def test_service_restores_previous_handler(self) -> None:
        previous = signal.getsignal(signal.SIGHUP)
        service = SighupService(object(), Reloader(None, lambda: None))
        service.startService()
        self.assertIsNot(signal.getsignal(signal.SIGHUP), previous)
        service.stopService()
        self.assertIs(signal.getsignal(signal.SIGHUP), previous)

    def test_reload_logged_swallows_the_refusal(self) -> None:
        def bad():
            raise ConfigError("server.lease_time", "0 is less than 1")

        reloader = Reloader(Daemon(parse_config_text("")), bad)
        reloader.reload_logged()
        self.assertEqual(reloader.counters["failed"], 1)


class TapTests(SynchronousTestCase):
    def test_make_service_wires_a_reloader(self) -> None:
        file = Files(self, "[control]\n" + BASE.format(extra=""))
        top = makeService({"dhcpsuite": file.read(), "config": file.path, "state-dir": None})
        daemon = top.daemon
        self.assertEqual(sorted(daemon.reloader.components), ["control", "server"])
        self.assertIs(daemon.reloader.components["control"], daemon.control)
        self.assertIn("reload-on-sighup", [s.name for s in top])


class ClientReloadTests(SynchronousTestCase):
    """
    Client interfaces added, removed or changed by a reload: as dhclient or
    udhcpc would be started or stopped for them by hand, without touching
    the other interfaces' agents.
    """

    # The client service's own fixture: wan0 and wan1, only wan1 present.
    setUp = test_client_service.ServiceTests.setUp
    sysfs = test_client_service.ServiceTests.sysfs
    tearDown = test_client_service.ServiceTests.tearDown

    def reconfigure(self, *interfaces: dict) -> None:
        cfg = parse_client_config(Section({"interface": list(interfaces)}, "client"))
        self.service.prepare_reconfigure(cfg)()

    def test_provides_the_interface(self) -> None:
        self.assertTrue(verifyObject(IReconfigurable, self.service))

    def test_removed_stops_and_added_starts(self) -> None:
        self.netlink.emit(LinkAdded(link()))
        wan0, wan1 = self.manager.agents["wan0"], self.manager.agents["wan1"]
        self.assertTrue(wan0.running and wan1.running)
        self.reconfigure({"name": "wan0", "arp_probe": False, "initial_delay": 0.0},
                         {"name": "wan2", "arp_probe": False, "initial_delay": 0.0})
        self.assertFalse(wan1.running)
        self.assertIs(self.manager.agents["wan0"], wan0)
        self.assertTrue(wan0.running)
        self.assertEqual(sorted(self.manager.agents), ["wan0", "wan2"])
        self.assertFalse(self.manager.agents["wan2"].running)
        self.netlink.emit(LinkAdded(link("wan2", mac="02:00:00:00:00:03", index=7)))
        self.assertTrue(self.manager.agents["wan2"].running)

    def test_changed_restarts_with_new_settings(self) -> None:
        wan1 = self.manager.agents["wan1"]
        self.assertTrue(wan1.running)
        self.reconfigure({"name": "wan0", "arp_probe": False, "initial_delay": 0.0},
                         {"name": "wan1", "arp_probe": False, "initial_delay": 0.0, "hostname": "cpe"})
        self.assertFalse(wan1.running)
        new = self.manager.agents["wan1"]
        self.assertIsNot(new, wan1)
        self.assertTrue(new.running)
        self.assertEqual(new.cfg.hostname, "cpe")


class ClientWithoutConfiguratorTests(SynchronousTestCase):
    def test_interface_to_configure_is_refused(self) -> None:
        """
        No configurator was opened at start (no interface needed one, no
        [netlink]): one cannot be conjured by a reload.
        """
        from dhcpsuite.client.shell.service import ClientService

        service = ClientService(parse_client_config(Section({"interface": []}, "client")), manager=None)
        new = parse_client_config(Section({"interface": [{"name": "wan0"}]}, "client"))
        with self.assertRaises(ConfigError) as caught:
            service.prepare_reconfigure(new)
        self.assertEqual(caught.exception.path, "client.interface[0].configure")
        service.prepare_reconfigure(parse_client_config(Section({"interface": [{"name": "wan0", "configure": False}]},
                                                                "client")))


class IngestReloadTests(SynchronousTestCase):
    def test_managed_interfaces_change(self) -> None:
        from dhcpsuite.ingest.config import parse_ingest_config
        from dhcpsuite.ingest.service import make_ingest_service
        from dhcpsuite.leases.registry import LeaseRegistry

        def ingest(interfaces: list, **extra):
            return parse_ingest_config(Section({"interfaces": interfaces, **extra}, "ingest"))

        service = make_ingest_service(ingest(["erouter0"]), LeaseRegistry(), reactor=MemoryReactorClock(),
                                      endpoint=object())
        self.assertTrue(verifyObject(IReconfigurable, service))
        self.assertEqual(service.router._managed, frozenset({"erouter0"}))
        service.prepare_reconfigure(ingest(["erouter0", "wan1"], max_connections=3))()
        self.assertEqual(service.router._managed, frozenset({"erouter0", "wan1"}))
        self.assertEqual(service.factory.limits.max_connections, 3)


class ServerReloadWithReadinessTests(SynchronousTestCase):
    """
    With netlink: the server identifier learnt from the interface carries
    over; a new interface is watched and served once ready; a removed one
    is no longer watched.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.readiness = test_server_readiness.FakeReadiness({"lan0": True, "lan1": True})
        self.addresses = {"lan0": [IPv4Interface("10.0.0.1/24")], "lan1": [IPv4Interface("10.1.0.1/24")]}
        self.service = test_server_readiness.start_gated_service(self, BASE.format(extra="").replace("eth0", "lan0"))

    open_socket = test_server_readiness.ReadinessGatingTests.open_socket

    def test_interfaces_follow_the_reload(self) -> None:
        lan1 = '[[server.subnet]]\nsubnet = "10.1.0.0/24"\ninterface = "lan1"\npool = "10.1.0.10-10.1.0.20"\n'
        text = BASE.format(extra="").replace("eth0", "lan0")
        self.service.prepare_reconfigure(parse_config_text(text + lan1).section("server"))()
        self.assertEqual(sorted(self.readiness.watched), ["lan0", "lan1"])
        self.assertEqual(sorted(self.service._ports), ["lan0", "lan1"])
        offer = self.service._protocols["lan0"].core.handle(request(MessageType.DISCOVER, 1), "lan0")
        self.assertEqual(offer.reply.message.option(54), A("10.0.0.1"))
        offer = self.service._protocols["lan1"].core.handle(request(MessageType.DISCOVER, 2), "lan1")
        self.assertEqual(offer.reply.message.option(54), A("10.1.0.1"))
        self.service.prepare_reconfigure(parse_config_text(text).section("server"))()
        self.assertEqual(list(self.readiness.watched), ["lan0"])
        self.assertEqual(list(self.service._ports), ["lan0"])

    def test_renumbered_subnet_takes_the_address_inside_it(self) -> None:
        self.addresses["lan0"].append(IPv4Interface("10.5.0.1/24"))
        text = BASE.format(extra="").replace("eth0", "lan0").replace("10.0.0.", "10.5.0.")
        self.service.prepare_reconfigure(parse_config_text(text).section("server"))()
        offer = self.service._protocols["lan0"].core.handle(request(MessageType.DISCOVER, 1), "lan0")
        self.assertEqual((offer.address in IPv4Network("10.5.0.0/24"), offer.reply.message.option(54)),
                         (True, A("10.5.0.1")))
