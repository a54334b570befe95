"""
The control plane's contract: every endpoint and error, the metrics text
(parsed with prometheus_client's own parser), the status page, and the
refusal to listen on the network without a token.
"""

from __future__ import annotations

import io
import json
from ipaddress import IPv4Address

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest
from zope.interface import implementer

from dhcpsuite.config import ConfigError, parse_config_text
from dhcpsuite.control import api, views
from dhcpsuite.control.config import ControlConfig, endpoint_is_local
from dhcpsuite.control.web import ControlResource
from dhcpsuite.daemon import Daemon
from dhcpsuite.interfaces import ICommitTimings, IComponentHealth
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.service import ServerService

NOW = 1_800_000_000.0
CONFIG = """
[server]
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "lan0"
pool = ["10.0.0.10-10.0.0.19"]
[control]
"""


@implementer(IComponentHealth)
class FakeClientManager:
    """
    The surface the control API uses of the DHCP client service.
    """

    name = "client"

    def __init__(self) -> None:
        self.actions: list[tuple[str, str, float]] = []
        self.pending: Deferred | None = None

    def interface_names(self) -> list[str]:
        return ["wan0"]

    def agents_json(self) -> list[dict]:
        return [{"interface": "wan0", "state": "BOUND", "address": "192.0.2.7"}]

    def act(self, ifname: str, action: str, timeout: float):
        self.actions.append((ifname, action, timeout))
        self.pending = Deferred()
        return self.pending

    def health(self) -> dict:
        return {"ok": True}


def make_daemon(token: str | None = None) -> tuple[Daemon, ControlResource]:
    config = parse_config_text(CONFIG)
    clock = Clock()
    clock.advance(NOW)
    store = MemoryLeaseStore()
    store.put(Lease(IPv4Address("10.0.0.10"), LeaseState.BOUND, b"\x01" + bytes(6), bytes(6), NOW + 100, "pc", NOW))
    store.put(Lease(IPv4Address("10.0.0.11"), LeaseState.RELEASED, b"\x01" + bytes([1] * 6), bytes([1] * 6), NOW - 5, "", NOW))
    server = ServerService(config.section("server"), "/nonexistent", reactor=clock, store=store)
    server.counters.update({"received:discover": 3, "drop:truncated": 2, "offer": 3, "nak:unknown-binding": 1, "sent": 4})
    daemon = Daemon(config, started=NOW - 60, server=server)
    return daemon, ControlResource(daemon, ControlConfig(token=token))


def call(resource: ControlResource, method: str, path: str, body: bytes = b"", args: dict | None = None, headers: dict | None = None):
    request = DummyRequest([p.encode() for p in path.strip("/").split("/")] if path.strip("/") else [])
    request.method = method.encode()
    request.content = io.BytesIO(body)
    request.args = {k.encode(): [v.encode()] for k, v in (args or {}).items()}
    if body:
        headers = {"Content-Type": "application/json", **(headers or {})}
    for name, value in (headers or {}).items():
        request.requestHeaders.setRawHeaders(name.encode(), [value.encode()])
    result = resource.render(request)
    if result is not NOT_DONE_YET:
        request.write(result)
        request.finish()
    return request


def body_of(request) -> dict:
    return json.loads(b"".join(request.written))


class ApiTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.daemon, self.resource = make_daemon()

    def test_status(self) -> None:
        request = call(self.resource, "GET", "api/v1/status")
        data = body_of(request)
        self.assertEqual(request.responseCode or 200, 200)
        self.assertEqual(data["version"], self.daemon.version)
        self.assertIn("server", data["components"])

    def test_leases_filter_and_paging(self) -> None:
        data = api.leases(self.daemon, {}, NOW)
        self.assertEqual([l["address"] for l in data["leases"]], ["10.0.0.10", "10.0.0.11"])
        active = api.leases(self.daemon, {"state": "active"}, NOW)
        self.assertEqual([l["address"] for l in active["leases"]], ["10.0.0.10"])
        released = api.leases(self.daemon, {"state": "released"}, NOW)
        self.assertEqual([l["address"] for l in released["leases"]], ["10.0.0.11"])
        by_mac = api.leases(self.daemon, {"mac": "01:01:01:01:01:01"}, NOW)
        self.assertEqual(by_mac["total"], 1)
        page = api.leases(self.daemon, {"offset": "1", "limit": "1"}, NOW)
        self.assertEqual((page["total"], [l["address"] for l in page["leases"]]), (2, ["10.0.0.11"]))
        self.assertEqual(api.leases(self.daemon, {"subnet": "10.0.0.0/24"}, NOW)["total"], 2)

    def test_leases_bad_query(self) -> None:
        for args, code in (({"state": "bogus"}, 400), ({"limit": "x"}, 400), ({"limit": "0"}, 400), ({"subnet": "10.9.0.0/24"}, 404)):
            request = call(self.resource, "GET", "api/v1/leases", args=args)
            self.assertEqual(request.responseCode, code, args)
            self.assertIn("error", body_of(request))

    def test_revoke(self) -> None:
        request = call(self.resource, "DELETE", "api/v1/leases/10.0.0.10")
        self.assertEqual(body_of(request), {"revoked": "10.0.0.10"})
        self.assertIsNone(self.daemon.server.store.get(IPv4Address("10.0.0.10")))
        self.assertEqual(call(self.resource, "DELETE", "api/v1/leases/10.0.0.10").responseCode, 404)
        self.assertEqual(call(self.resource, "DELETE", "api/v1/leases/nonsense").responseCode, 400)

    def test_unknown_endpoint_and_method(self) -> None:
        self.assertEqual(call(self.resource, "GET", "api/v1/nothing").responseCode, 404)
        self.assertEqual(call(self.resource, "GET", "nothing").responseCode, 404)
        self.assertEqual(call(self.resource, "POST", "api/v1/status").responseCode, 405)

    def test_absent_components_are_404(self) -> None:
        for path in ("api/v1/clients", "api/v1/interfaces", "api/v1/ingest"):
            request = call(self.resource, "GET", path)
            self.assertEqual(request.responseCode, 404, path)
            self.assertIn("configured", body_of(request)["error"])
        self.assertEqual(call(self.resource, "POST", "api/v1/clients/wan0/renew").responseCode, 404)

    def test_client_actions(self) -> None:
        manager = FakeClientManager()
        self.daemon.client = manager
        self.assertEqual(body_of(call(self.resource, "GET", "api/v1/clients"))["clients"][0]["state"], "BOUND")
        request = call(self.resource, "POST", "api/v1/clients/wan0/renew", body=b'{"timeout": 5}')
        self.assertEqual(manager.actions, [("wan0", "renew", 5.0)])
        self.assertFalse(request.finished)
        manager.pending.callback({"state": "BOUND"})
        self.assertTrue(request.finished)
        self.assertEqual(body_of(request), {"state": "BOUND"})

    def test_client_action_errors(self) -> None:
        self.daemon.client = FakeClientManager()
        self.assertEqual(call(self.resource, "POST", "api/v1/clients/eth9/renew").responseCode, 404)
        self.assertEqual(call(self.resource, "POST", "api/v1/clients/wan0/dance").responseCode, 404)
        self.assertEqual(call(self.resource, "POST", "api/v1/clients/wan0/renew", body=b"{nope").responseCode, 400)
        self.assertEqual(call(self.resource, "POST", "api/v1/clients/wan0/renew", body=b'{"timeout": -1}').responseCode, 400)
        self.assertEqual(call(self.resource, "POST", "api/v1/clients/wan0/renew", body=b"[1]").responseCode, 400)

    def test_client_action_timeout_is_504(self) -> None:
        from twisted.internet.defer import TimeoutError as DeferredTimeout

        manager = FakeClientManager()
        self.daemon.client = manager
        request = call(self.resource, "POST", "api/v1/clients/wan0/renew")
        manager.pending.errback(DeferredTimeout())
        self.assertEqual(request.responseCode, 504)


class TokenTests(SynchronousTestCase):
    def test_token_required(self) -> None:
        _, resource = make_daemon(token="s3cret-token-0123456789")
        self.assertEqual(call(resource, "GET", "api/v1/status").responseCode, 401)
        self.assertEqual(call(resource, "GET", "api/v1/status", headers={"Authorization": "Bearer wrong"}).responseCode, 401)
        ok = call(resource, "GET", "api/v1/status", headers={"Authorization": "Bearer s3cret-token-0123456789"})
        self.assertIn("version", body_of(ok))

    def test_browser_reads_with_basic_and_cannot_change_with_it(self) -> None:
        import base64

        daemon, resource = make_daemon(token="s3cret-token-0123456789")
        daemon.client = FakeClientManager()
        refused = call(resource, "GET", "")
        self.assertEqual(refused.responseCode, 401)
        self.assertEqual(refused.responseHeaders.getRawHeaders(b"www-authenticate"),
                         [b'Basic realm="dhcpsuite", charset="UTF-8"', b'Bearer realm="dhcpsuite"'])
        basic = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret-token-0123456789").decode()}
        page = call(resource, "GET", "", headers=basic)
        self.assertEqual(page.responseCode or 200, 200)
        self.assertIn(b"<html", b"".join(page.written).lower())
        change = call(resource, "POST", "api/v1/clients/wan0/renew", headers=basic)
        self.assertEqual(change.responseCode, 401)
        self.assertEqual(change.responseHeaders.getRawHeaders(b"www-authenticate"), [b'Bearer realm="dhcpsuite"'])
        self.assertEqual(daemon.client.actions, [])
        self.assertEqual(resource.refusals["token"], 2)

    def test_remote_listen_refused_without_token(self) -> None:
        base = "[control]\nlisten = \"tcp:8067:interface=0.0.0.0\"\n"
        with self.assertRaises(ConfigError) as raised:
            parse_config_text(base)
        self.assertEqual(raised.exception.path, "control.listen")
        self.assertIn("allow_remote", str(raised.exception))
        with self.assertRaises(ConfigError):
            parse_config_text(base + "allow_remote = true\n")
        with self.assertRaises(ConfigError):
            parse_config_text("[control]\nlisten = \"tcp:8067\"\n")
        config = parse_config_text(base + 'allow_remote = true\ntoken = "0123456789abcdef0123"\n')
        self.assertEqual(config.section("control").listen, "tcp:8067:interface=0.0.0.0")

    def test_endpoint_is_local(self) -> None:
        self.assertTrue(endpoint_is_local("tcp:8067:interface=127.0.0.1"))
        self.assertTrue(endpoint_is_local("unix:/run/dhcpsuite.sock:mode=600"))
        self.assertTrue(endpoint_is_local(r"tcp6:8067:interface=\:\:1"))
        self.assertFalse(endpoint_is_local(r"tcp6:8067:interface=\:\:"))
        self.assertFalse(endpoint_is_local("tcp:8067"))
        self.assertFalse(endpoint_is_local("tcp:8067:interface=10.0.0.1"))
        self.assertFalse(endpoint_is_local("ssl:8067"))


class MetricsAndPageTests(SynchronousTestCase):
    def test_metrics_parse(self) -> None:
        daemon, resource = make_daemon()
        request = call(resource, "GET", "metrics")
        text = b"".join(request.written).decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        received = {s.labels["type"]: s.value for s in families["dhcpsuite_server_packets_received"].samples if s.name.endswith("_total")}
        self.assertEqual(received, {"discover": 3.0})
        dropped = {s.labels["reason"]: s.value for s in families["dhcpsuite_server_packets_dropped"].samples if s.name.endswith("_total")}
        self.assertEqual(dropped, {"truncated": 2.0})
        exchanges = {(s.labels["result"], s.labels["reason"]): s.value for s in families["dhcpsuite_server_exchanges"].samples if s.name.endswith("_total")}
        self.assertEqual(exchanges, {("offer", ""): 3.0, ("nak", "unknown-binding"): 1.0})
        pools = {s.labels["use"]: s.value for s in families["dhcpsuite_server_pool_addresses"].samples}
        self.assertEqual(pools, {"active": 1.0, "free": 9.0})

    def test_commit_histogram_from_a_store_that_times_commits(self) -> None:
        """
        The commit histogram comes from the store's L{ICommitTimings}, with
        the bounds the store declares; a store without it has none.
        """
        daemon, resource = make_daemon()
        families = {f.name for f in text_string_to_metric_families(b"".join(call(resource, "GET", "metrics").written).decode())}
        self.assertNotIn("dhcpsuite_lease_store_commit_seconds", families)

        @implementer(ICommitTimings)
        class TimedStore(MemoryLeaseStore):
            commit_bucket_bounds = (0.01, 1.0, float("inf"))
            commit_buckets = [2, 1, 1]
            commit_seconds_total = 4.5
            commit_failures = 3
            conflicts_lost = 2
            reconnects = 1
            learned = 7
            unreachable_seconds = 1.5

        daemon.server.store = TimedStore()
        text = b"".join(call(resource, "GET", "metrics").written).decode()
        family = {f.name: f for f in text_string_to_metric_families(text)}["dhcpsuite_lease_store_commit_seconds"]
        buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
        self.assertEqual(buckets, {"0.01": 2.0, "1.0": 3.0, "+Inf": 4.0})
        self.assertEqual([s.value for s in family.samples if s.name.endswith("_sum")], [4.5])
        totals = {
            s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name.startswith("dhcpsuite_lease_store_") and s.name.endswith("_total")
        }
        self.assertEqual(totals, {
            "dhcpsuite_lease_store_commit_failures_total": 3.0,
            "dhcpsuite_lease_store_conflicts_lost_total": 2.0,
            "dhcpsuite_lease_store_reconnects_total": 1.0,
            "dhcpsuite_lease_store_learned_total": 7.0,
            "dhcpsuite_lease_store_unreachable_seconds_total": 1.5,
        })

    def test_status_from_component_health(self) -> None:
        """
        A component's health comes from its L{IComponentHealth}; one that
        reports a problem makes the whole status not ok.
        """
        daemon, _ = make_daemon()

        @implementer(IComponentHealth)
        class Broken(FakeClientManager):
            def health(self) -> dict:
                return {"ok": False, "why": "test"}

        daemon.client = FakeClientManager()
        self.assertEqual(api.status(daemon, NOW)["components"]["client"], {"ok": True})
        daemon.client = Broken()
        status = api.status(daemon, NOW)
        self.assertEqual((status["components"]["client"], status["ok"]), ({"ok": False, "why": "test"}, False))

    def test_status_page(self) -> None:
        daemon, resource = make_daemon()
        daemon.client = FakeClientManager()
        request = call(resource, "GET", "")
        page = b"".join(request.written).decode()
        self.assertIn("http-equiv='refresh'", page)
        self.assertIn("10.0.0.10-10.0.0.19", page)
        self.assertIn("wan0", page)
        self.assertIn("BOUND", page)
        leases = b"".join(call(resource, "GET", "leases").written).decode()
        self.assertIn("10.0.0.10", leases.split('id="leases"')[1])


class ViewTests(SynchronousTestCase):
    """
    The rows the page and the CLI show, from what the real producers give.
    """

    def test_interface_rows_from_the_netlink_table(self) -> None:
        import ipaddress

        from dhcpsuite.netlink import events
        from dhcpsuite.netlink.readiness import ReadinessTracker
        from dhcpsuite.netlink.table import InterfaceTable

        table = InterfaceTable()
        table.put_link(events.Link(3, "lan0", True, True, "UP", "02:00:00:00:00:01", 1500, 0))
        table.put_address(events.Address(ifindex=3, interface=ipaddress.ip_interface("10.0.0.1/24")))
        readiness = ReadinessTracker(table, Clock())
        readiness.watch("lan0", subnet="10.0.0.0/24")

        class Netlink:
            reader = type("Reader", (), {"table": table, "readiness": readiness})()

        daemon, _ = make_daemon()
        daemon.netlink = Netlink()
        interfaces = api.interfaces(daemon)["interfaces"]
        self.assertTrue(set(views.INTERFACE_KEYS) <= set(interfaces[0]))
        self.assertEqual(views.interface_rows(interfaces), [("lan0", 3, "up", True, True, "02:00:00:00:00:01", 1500, ["10.0.0.1/24"])])

    def test_registry_rows_for_client_and_ingested_leases(self) -> None:
        from dhcpsuite.client.testing import reply_to
        from dhcpsuite.client.core.lease import Lease as ClientLease
        from dhcpsuite.dhcp4.constants import MessageType
        from dhcpsuite.dhcp4.packet import Message
        from dhcpsuite.ingest.pluginmsg import IANA, IAPD, Lease6
        from dhcpsuite.leases.registry import LeaseRegistry
        import ipaddress

        registry = LeaseRegistry(now=lambda: NOW)
        ack = reply_to(Message(op=1, xid=1, chaddr=bytes(6)), MessageType.ACK, yiaddr="192.0.2.7", lease_time=600)
        registry.set_lease("wan0", 4, ClientLease.from_ack(ack, 0.0, NOW), "BOUND")
        registry.set_lease("wan0", 6, Lease6(ifname="wan0", expired=False,
                                             ia_na=IANA(address=ipaddress.IPv6Address("2001:db8::7")),
                                             ia_pd=IAPD(prefix=ipaddress.IPv6Network("2001:db8:1::/56"))), "updated")
        rows = views.registry_rows(api.registry_json(registry))
        self.assertEqual([r[:4] for r in rows], [
            ("wan0", "v4", "192.0.2.7", "BOUND"),
            ("wan0", "v6", "2001:db8::7 2001:db8:1::/56", "updated"),
        ])
        self.assertTrue(rows[0][4])  # learned, as a readable time


class EscapingTests(SynchronousTestCase):
    """
    Values from the network in C{dhcpsuite-ctl} tables. dhcpd's
    C{dhcp-lease-list} and Kea's C{lease4-get-all} through a shell print a
    client's hostname as sent; we show each control character as an escape.
    """

    HOSTILE = "pc\x1b[2J\x1b[H\r10.0.0.99  bound  02:00:00:00:00:99  forged\nx\x7f\x9b\u2028"

    def test_hostile_hostname_is_one_visible_row(self) -> None:
        from dhcpsuite.control import cli

        daemon, _ = make_daemon()
        daemon.server.store.put(Lease(IPv4Address("10.0.0.12"), LeaseState.BOUND, b"\x01" + bytes([2] * 6), bytes([2] * 6), NOW + 50, self.HOSTILE, NOW))
        data = api.leases(daemon, {}, NOW)
        text = cli._show_leases(json.loads(json.dumps(data)))
        lines = text.splitlines()
        self.assertEqual(len(lines), 1 + 3 + 1, text)
        row = next(line for line in lines if line.startswith("10.0.0.12"))
        self.assertIn(r"pc\x1b[2J\x1b[H\x0d10.0.0.99  bound  02:00:00:00:00:99  forged\x0ax\x7f\x9b\u2028", row)
        for raw in "\x1b\r\x7f\x9b\u2028":
            self.assertNotIn(raw, text)

    def test_status_page_shows_the_escape(self) -> None:
        daemon, resource = make_daemon()
        daemon.server.store.put(Lease(IPv4Address("10.0.0.12"), LeaseState.BOUND, b"\x01" + bytes([2] * 6), bytes([2] * 6), NOW + 50, self.HOSTILE, NOW))
        page = b"".join(call(resource, "GET", "leases").written).decode()
        self.assertIn(r"pc\x1b[2J", page)
        self.assertNotIn("\x1b", page)

    def test_error_message_escaped_on_stderr(self) -> None:
        from dhcpsuite.control import cli

        err = io.StringIO()
        self.patch(cli.sys, "stderr", err)

        def refuse(self, method, path, query=None, body=None):
            raise cli.CtlError("HTTP 404: no client on interface 'x\x1b[2J'")

        self.patch(cli.ApiClient, "request", refuse)
        self.assertEqual(cli.main(["--url", "http://127.0.0.1:1", "renew", "x"]), 1)
        self.assertNotIn("\x1b", err.getvalue())
        self.assertIn(r"\x1b[2J", err.getvalue())


class UrlFromConfigTests(SynchronousTestCase):
    def test_endpoint_read_as_twisted_reads_it(self) -> None:
        import os
        import tempfile

        from dhcpsuite.control.cli import url_from_config

        directory = tempfile.mkdtemp()
        self.addCleanup(__import__("shutil").rmtree, directory)
        path = os.path.join(directory, "c.toml")
        for listen, url in (
            ("tcp:8067:interface=127.0.0.1", "http://127.0.0.1:8067"),
            (r"tcp6:8068:interface=\\:\\:1", "http://[::1]:8068"),
            ("tcp:8069:interface=0.0.0.0:interface=127.0.0.2", "http://127.0.0.2:8069"),
            ("tcp:8070:interface=0.0.0.0", "http://127.0.0.1:8070"),
            ("unix:/run/dhcpsuite/control.sock:mode=600", "unix:/run/dhcpsuite/control.sock"),
        ):
            with open(path, "w") as f:
                f.write(f'[control]\nlisten = "{listen}"\n')
            self.assertEqual(url_from_config(path), url, listen)


class _FakeResponse:
    status = 200

    def read(self) -> bytes:
        return b'{"ok": true}'


class _FakeConnection:
    """
    One connection of L{ApiClient}: raises C{error} on its request (as a
    connection the daemon closed unread does), else answers.
    """

    def __init__(self, sent: list, error: Exception | None) -> None:
        self.sent = sent
        self.error = error

    def request(self, method, target, body=None, headers=None) -> None:
        self.sent.append(method)
        if self.error is not None:
            raise self.error

    def getresponse(self) -> _FakeResponse:
        return _FakeResponse()

    def close(self) -> None:
        pass


class RetryTests(SynchronousTestCase):
    """
    C{dhcpsuite-ctl} sends a read again when the daemon closed its
    connection unanswered (a refusal at C{max_connections} under a flood of
    slow clients), never a change. curl does not retry; urllib3, which most
    Python API clients use, retries idempotent requests on a reset the same
    way.
    """

    def client(self, errors: list) -> tuple:
        from dhcpsuite.control import cli

        sent: list = []
        pauses: list = []
        client = cli.ApiClient("http://127.0.0.1:1", sleep=pauses.append)
        client._connection = lambda: _FakeConnection(sent, errors.pop(0) if errors else None)
        return client, sent, pauses

    def test_a_read_closed_unanswered_is_sent_again(self) -> None:
        import http.client

        client, sent, pauses = self.client([ConnectionResetError(104, "reset"), http.client.RemoteDisconnected("closed")])
        self.assertEqual(client.request("GET", "status"), {"ok": True})
        self.assertEqual(sent, ["GET", "GET", "GET"])
        self.assertEqual(pauses, [0.1, 0.3])

    def test_a_read_gives_up_after_three_retries(self) -> None:
        from dhcpsuite.control import cli

        client, sent, pauses = self.client([ConnectionResetError(104, "reset")] * 5)
        error = self.assertRaises(cli.CtlError, client.request, "GET", "status")
        self.assertIn("cannot reach the dhcpsuite API", str(error))
        self.assertEqual(len(sent), 4)
        self.assertEqual(sum(pauses), 1.0)

    def test_a_change_is_never_sent_twice(self) -> None:
        from dhcpsuite.control import cli

        client, sent, pauses = self.client([ConnectionResetError(104, "reset")])
        self.assertRaises(cli.CtlError, client.request, "POST", "config/reload")
        self.assertEqual((sent, pauses), (["POST"], []))

    def test_an_unreachable_daemon_is_not_retried(self) -> None:
        from dhcpsuite.control import cli

        client, sent, pauses = self.client([ConnectionRefusedError(111, "refused")])
        self.assertRaises(cli.CtlError, client.request, "GET", "status")
        self.assertEqual((sent, pauses), (["GET"], []))
