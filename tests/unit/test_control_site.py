"""
The control site's HTTP connections, driven byte by byte with a Clock and
string transports: refusals answered from the request head before any body
is read, the request deadline, the connection limit, the security headers,
the bound-address check and the listening endpoint's defaults.
"""

from __future__ import annotations

import json

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import ConfigError, parse_config_text
from dhcpsuite.control.config import ControlConfig, endpoint_is_local
from dhcpsuite.control.service import LocalOnlyEndpoint, RemoteListenRefused, make_control_service, remote_listen_problem
from dhcpsuite.control.web import UNHEARD_GRACE, ControlSite, _Discard, make_site
from tests.unit.test_control import FakeClientManager, make_daemon

TOKEN = "0123456789abcdef0123"


class Transport(StringTransport):
    """
    A string transport that also half-closes and aborts, as TCP does.
    """

    write_closed = False
    aborted = False

    def loseWriteConnection(self) -> None:
        self.write_closed = True

    def abortConnection(self) -> None:
        self.aborted = True
        self.disconnecting = True


def site_with(**settings) -> tuple[ControlSite, Clock]:
    daemon, _ = make_daemon()
    daemon.client = FakeClientManager()
    clock = Clock()
    return make_site(daemon, ControlConfig(**settings), reactor=clock), clock


def connect(site: ControlSite, port: int = 40000):
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", port))
    if channel is None:
        return None, None
    transport = Transport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
    channel.makeConnection(transport)
    return channel, transport


def status_of(transport: Transport) -> int:
    return int(transport.value().split(b" ", 2)[1])


def json_body(transport: Transport) -> dict:
    head, body = transport.value().split(b"\r\n\r\n", 1)
    if b"transfer-encoding: chunked" in head.lower():
        chunks = []
        while True:
            size_line, body = body.split(b"\r\n", 1)
            size = int(size_line, 16)
            if size == 0:
                break
            chunks.append(body[:size])
            body = body[size + 2 :]
        body = b"".join(chunks)
    return json.loads(body)


class EarlyRefusalTests(SynchronousTestCase):
    """
    nginx and Apache answer a request refused by its head (401, 413) without
    reading the body first, then keep reading and dropping it for a while
    (lingering close) so the client sees the answer instead of a reset. So
    does this site.
    """

    HEAD = (b"POST /api/v1/clients/wan0/renew HTTP/1.1\r\nHost: 127.0.0.1:8067\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n")

    def test_wrong_token_answered_before_the_body(self) -> None:
        site, clock = site_with(token=TOKEN)
        channel, transport = connect(site)
        channel.dataReceived(self.HEAD % (256 << 20, b"Authorization: Bearer wrong-token-00000000\r\n"))
        self.assertEqual(status_of(transport), 401)
        self.assertIn(b"www-authenticate: Bearer", transport.value())
        self.assertTrue(transport.write_closed)
        request = channel.requests[-1]
        self.assertIsInstance(request.content, _Discard)
        # The body keeps coming; none of it is kept, and the first 4 MiB do not answer twice.
        chunk = b"x" * 65536
        for _ in range(64):
            channel.dataReceived(chunk)
        self.assertEqual(transport.value().count(b"HTTP/1.1 "), 1)
        self.assertEqual(site.refusals["token"], 1)
        self.assertEqual(site.resource.daemon.client.actions, [])
        # Lingering is bounded, and not counted as a slow client.
        clock.advance(2.0)
        self.assertTrue(transport.aborted)
        self.assertEqual(site.refusals["request-timeout"], 0)

    def test_too_large_answered_before_the_body(self) -> None:
        site, _ = site_with()
        channel, transport = connect(site)
        channel.dataReceived(self.HEAD % (256 << 20, b""))
        self.assertEqual(status_of(transport), 413)
        self.assertIsInstance(channel.requests[-1].content, _Discard)
        self.assertEqual(site.refusals["too-large"], 1)

    def test_chunked_body_refused(self) -> None:
        site, _ = site_with()
        channel, transport = connect(site)
        channel.dataReceived(b"POST /api/v1/clients/wan0/renew HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        self.assertEqual(status_of(transport), 411)
        self.assertEqual(site.resource.daemon.client.actions, [])
        self.assertEqual(site.refusals["length-required"], 1)

    def test_expect_continue_not_sent_after_a_refusal(self) -> None:
        site, _ = site_with(token=TOKEN)
        channel, transport = connect(site)
        channel.dataReceived(self.HEAD % (1000, b"Expect: 100-continue\r\n"))
        self.assertEqual(status_of(transport), 401)
        self.assertNotIn(b"100 Continue", transport.value())

    def test_small_refused_body_is_not_acted_on(self) -> None:
        site, _ = site_with()
        actions = site.resource.daemon.client.actions
        channel, transport = connect(site)
        channel.dataReceived(b"POST /api/v1/clients/wan0/stop HTTP/1.1\r\nHost: 127.0.0.1:8067\r\n"
                             b"Origin: http://evil.example\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}")
        self.assertEqual(status_of(transport), 403)
        self.assertEqual(actions, [])
        self.assertTrue(transport.disconnecting)

    def test_browser_is_asked_for_the_token_and_may_only_read_with_it(self) -> None:
        """
        A browser opens the page with no credentials, gets a Basic
        challenge (it prompts; Bearer alone it cannot answer), sends the
        token as the password of any user, and gets the page. The same
        credentials do not make a change, and each refusal counts as
        C{token}.
        """
        import base64

        site, _ = site_with(token=TOKEN)
        channel, transport = connect(site)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8067\r\n\r\n")
        self.assertEqual(status_of(transport), 401)
        head = transport.value().split(b"\r\n\r\n")[0].lower().split(b"\r\n")
        self.assertIn(b'www-authenticate: basic realm="dhcpsuite", charset="utf-8"', head)
        basic = b"Authorization: Basic " + base64.b64encode(b"admin:" + TOKEN.encode()) + b"\r\n"
        for path, kind in ((b"/", b"text/html"), (b"/leases?q=10.0", b"text/html"), (b"/metrics", b"text/plain"),
                           (b"/api/v1/status", b"application/json")):
            channel, transport = connect(site)
            channel.dataReceived(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:8067\r\n" + basic + b"\r\n")
            self.assertEqual(status_of(transport), 200, path)
            self.assertIn(b"content-type: " + kind, transport.value().lower())
        channel, transport = connect(site)
        channel.dataReceived(self.HEAD % (2, basic) + b"{}")
        self.assertEqual(status_of(transport), 401)
        self.assertIn(b"www-authenticate: Bearer", transport.value())
        self.assertNotIn(b"www-authenticate: Basic", transport.value())
        self.assertEqual(site.resource.daemon.client.actions, [])
        self.assertEqual(site.refusals["token"], 2)

    def test_admitted_request_is_served(self) -> None:
        site, _ = site_with(token=TOKEN)
        channel, transport = connect(site)
        body = b'{"timeout": 5}'
        channel.dataReceived(self.HEAD % (len(body), f"Authorization: Bearer {TOKEN}\r\n".encode()) + body)
        self.assertEqual(site.resource.daemon.client.actions, [("wan0", "renew", 5.0)])
        site.resource.daemon.client.pending.callback({"state": "BOUND"})
        self.assertEqual(status_of(transport), 200)
        self.assertEqual(json_body(transport), {"state": "BOUND"})


class FailedAttemptTests(SynchronousTestCase):
    """
    Guessing the token, as a bearer header or a browser's Basic password,
    is limited per peer address: past C{auth_failures_per_minute} misses
    the address is refused everything (429, C{Retry-After}), the right
    token included, until its bucket refills. A browser's first anonymous
    request is no guess.
    """

    def get(self, site, authorization: bytes | None, host: str = "127.0.0.1"):
        channel = site.buildProtocol(IPv4Address("TCP", host, 40000))
        transport = Transport(peerAddress=IPv4Address("TCP", host, 40000))
        channel.makeConnection(transport)
        line = b"" if authorization is None else b"Authorization: " + authorization + b"\r\n"
        channel.dataReceived(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1:8067\r\n" + line + b"\r\n")
        return transport

    def test_guesses_are_limited_per_address(self) -> None:
        import base64

        site, clock = site_with(token=TOKEN, auth_failures_per_minute=3)
        right = b"Bearer " + TOKEN.encode()
        for _ in range(5):
            self.assertEqual(status_of(self.get(site, None)), 401)
        for guess in (b"Bearer wrong-token-00000000", b"Basic " + base64.b64encode(b"admin:wrong-token-000000"), b"Bearer x"):
            self.assertEqual(status_of(self.get(site, guess)), 401)
        limited = self.get(site, right)
        self.assertEqual(status_of(limited), 429)
        self.assertIn(b"retry-after: 20\r\n", limited.value().lower())
        self.assertEqual(status_of(self.get(site, right, host="192.0.2.7")), 200)
        self.assertEqual((site.refusals["token"], site.refusals["auth-failures"]), (8, 1))
        clock.advance(20)
        self.assertEqual(status_of(self.get(site, right)), 200)
        self.assertEqual(status_of(self.get(site, b"Bearer wrong-again-0000000")), 401)
        self.assertEqual(status_of(self.get(site, right)), 429)

    def test_off_without_a_token_or_when_zero(self) -> None:
        for settings in ({}, {"token": TOKEN, "auth_failures_per_minute": 0}):
            site, _ = site_with(**settings)
            for _ in range(20):
                self.get(site, b"Bearer wrong-token-00000000")
            self.assertEqual(site.refusals["auth-failures"], 0, settings)

    def test_a_reload_keeps_the_buckets_unless_the_limit_changes(self) -> None:
        site, _ = site_with(token=TOKEN, auth_failures_per_minute=1)
        self.get(site, b"Bearer wrong-token-00000000")
        site.prepare_reconfigure(ControlConfig(token=TOKEN, auth_failures_per_minute=1))()
        self.assertEqual(status_of(self.get(site, b"Bearer " + TOKEN.encode())), 429)
        site.prepare_reconfigure(ControlConfig(token=TOKEN, auth_failures_per_minute=5))()
        self.assertEqual(status_of(self.get(site, b"Bearer " + TOKEN.encode())), 200)


class DeadlineTests(SynchronousTestCase):
    """
    Slowloris: one header line every 5 s kept a connection forever
    (Twisted's idle timeout restarts with every byte). nginx's
    client_header_timeout and Apache's mod_reqtimeout bound the whole head.
    """

    def test_slow_head_closed_at_the_deadline(self) -> None:
        site, clock = site_with(request_timeout=10.0)
        channel, transport = connect(site)
        channel.dataReceived(b"GET /api/v1/status HTTP/1.1\r\n")
        for _ in range(1):
            clock.advance(5)
            channel.dataReceived(b"X-a: b\r\n")
        self.assertFalse(transport.aborted)
        clock.advance(5)
        self.assertTrue(transport.aborted)
        self.assertEqual(site.refusals["request-timeout"], 1)

    def test_kept_alive_connection_gets_a_fresh_deadline_then_closes_when_idle(self) -> None:
        site, clock = site_with(request_timeout=10.0)
        channel, transport = connect(site)
        clock.advance(9)
        channel.dataReceived(b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(status_of(transport), 200)
        clock.advance(9)
        self.assertFalse(transport.aborted)
        clock.advance(1)
        self.assertTrue(transport.aborted)

    def test_a_long_action_is_not_cut_off(self) -> None:
        site, clock = site_with(request_timeout=10.0)
        channel, transport = connect(site)
        channel.dataReceived(b"POST /api/v1/clients/wan0/renew HTTP/1.1\r\nHost: localhost\r\n\r\n")
        clock.advance(60)
        self.assertFalse(transport.aborted)
        site.resource.daemon.client.pending.callback({"state": "BOUND"})
        self.assertEqual(status_of(transport), 200)
        channel.connectionLost(None)
        self.assertEqual(clock.getDelayedCalls(), [])


class ConnectionLimitTests(SynchronousTestCase):
    def test_oldest_slow_sender_gives_way(self) -> None:
        site, _ = site_with(max_connections=3)
        (a, ta), (b, tb), (c, tc) = connect(site, 1), connect(site, 2), connect(site, 3)
        for channel in (a, b, c):
            channel.dataReceived(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        d, td = connect(site, 4)
        self.assertIsNotNone(d)
        self.assertTrue(ta.aborted)
        self.assertFalse(tb.aborted or tc.aborted)
        self.assertEqual(site.refusals["evicted"], 1)
        self.assertEqual(len(site.channels), 3)

    def test_a_newcomer_not_yet_read_survives_an_accept_burst(self) -> None:
        """
        One doRead accepts many connections before any of them is read. The
        operator's connection, accepted among a slowloris flood, used to be
        evicted by the flood's next arrivals before its complete request was
        read (CI saw a reset). Slow senders already heard from give way
        first; then newcomers are refused rather than evicting it.
        """
        site, clock = site_with(max_connections=3)
        slow = [connect(site, port) for port in (1, 2)]
        for channel, _ in slow:
            channel.dataReceived(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        operator, operator_transport = connect(site, 3)
        flood = [connect(site, port)[0] for port in range(10, 20)]
        self.assertTrue(all(transport.aborted for _, transport in slow))
        self.assertEqual(sum(channel is not None for channel in flood), 2)
        self.assertEqual(site.refusals["connections"], 8)
        self.assertFalse(operator_transport.aborted)
        operator.dataReceived(b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(status_of(operator_transport), 200)

    def test_a_silent_connection_gives_way_after_the_grace(self) -> None:
        site, clock = site_with(max_connections=1)
        _, silent = connect(site, 1)
        self.assertEqual(connect(site, 2), (None, None))
        clock.advance(UNHEARD_GRACE)
        channel, _ = connect(site, 3)
        self.assertIsNotNone(channel)
        self.assertTrue(silent.aborted)

    def test_a_connection_finishing_its_answer_is_not_cut_off(self) -> None:
        site, clock = site_with(max_connections=1)
        channel, transport = connect(site, 1)
        channel.dataReceived(b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        clock.advance(UNHEARD_GRACE)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(connect(site, 2), (None, None))
        self.assertFalse(transport.aborted)

    def test_busy_connections_are_kept_and_the_newcomer_refused(self) -> None:
        site, _ = site_with(max_connections=2)
        for port in (1, 2):
            channel, _ = connect(site, port)
            channel.dataReceived(b"POST /api/v1/clients/wan0/renew HTTP/1.1\r\nHost: localhost\r\n\r\n")
        channel, _ = connect(site, 3)
        self.assertIsNone(channel)
        self.assertEqual(site.refusals["connections"], 1)

    def test_closed_connections_are_forgotten(self) -> None:
        site, _ = site_with(max_connections=2)
        channel, _ = connect(site)
        channel.connectionLost(None)
        self.assertEqual(site.channels, {})


class ResponseTests(SynchronousTestCase):
    def test_security_headers_on_page_api_and_refusals(self) -> None:
        site, _ = site_with()
        for head in (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
                     b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n",
                     b"GET /api/v1/nothing HTTP/1.1\r\nHost: localhost\r\n\r\n",
                     b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n"):
            channel, transport = connect(site)
            channel.dataReceived(head)
            response = transport.value().lower()
            for header in (b"content-security-policy: default-src 'none'; style-src 'sha256-", b"frame-ancestors 'none'",
                           b"x-frame-options: deny", b"x-content-type-options: nosniff", b"referrer-policy: no-referrer"):
                self.assertIn(header, response, head)

    def test_page_style_matches_its_csp_hash(self) -> None:
        import base64
        import hashlib
        import re

        site, _ = site_with()
        channel, transport = connect(site)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head, page = transport.value().split(b"\r\n\r\n", 1)
        styles = re.findall(rb"<style>(.*?)</style>", page, re.S)
        self.assertEqual(len(styles), 1)
        digest = base64.b64encode(hashlib.sha256(styles[0]).digest())
        self.assertIn(b"'sha256-" + digest + b"'", head)
        self.assertNotIn(b"<script", page)

    def test_deeply_nested_json_is_400(self) -> None:
        site, _ = site_with()
        body = b"[" * 30000 + b"]" * 30000
        channel, transport = connect(site)
        channel.dataReceived(b"POST /api/v1/clients/wan0/renew HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertEqual(status_of(transport), 400)
        self.assertIn("nested", json_body(transport)["error"])
        self.assertNotIn(b"Traceback", transport.value())

    def test_refusals_in_metrics(self) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        site, _ = site_with()
        channel, _ = connect(site)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        channel, transport = connect(site)
        channel.dataReceived(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        text = transport.value().split(b"\r\n\r\n", 1)[1].decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        samples = {s.labels["reason"]: s.value for s in families["dhcpsuite_control_refusals"].samples if s.name.endswith("_total")}
        self.assertEqual(samples, {"host": 1.0})
        # The refused one is still closing (lingering); the scraping one is open.
        self.assertEqual(families["dhcpsuite_control_connections"].samples[0].value, 2.0)


def control_section(text: str) -> ControlConfig:
    return parse_config_text("[control]\n" + text).section("control")


class ListenTests(SynchronousTestCase):
    def test_repeated_interface_read_as_twisted_binds_it(self) -> None:
        """
        Twisted keeps the last C{interface=}; the old check read the first.
        """
        bypass = "tcp:8067:interface=127.0.0.1:interface=0.0.0.0"
        self.assertFalse(endpoint_is_local(bypass))
        with self.assertRaises(ConfigError) as raised:
            control_section(f'listen = "{bypass}"\n')
        self.assertEqual(raised.exception.path, "control.listen")
        self.assertTrue(endpoint_is_local("tcp:8067:interface=0.0.0.0:interface=127.0.0.1"))
        self.assertTrue(endpoint_is_local("tcp:8067:127.0.0.1"))
        self.assertTrue(endpoint_is_local("tcp:port=8067:interface=127.0.0.1"))
        self.assertFalse(endpoint_is_local("tcp6:8067:interface=\\:\\:1:interface=\\:\\:"))

    def test_bound_address_decides(self) -> None:
        config = ControlConfig()
        self.assertIsNone(remote_listen_problem(IPv4Address("TCP", "127.0.0.1", 8067), config))
        self.assertIn("0.0.0.0", remote_listen_problem(IPv4Address("TCP", "0.0.0.0", 8067), config))
        self.assertIsNone(remote_listen_problem(IPv4Address("TCP", "0.0.0.0", 8067), ControlConfig(allow_remote=True, token=TOKEN)))

    def test_service_stops_listening_on_a_non_loopback_bind(self) -> None:
        """
        Whatever the string seemed to say: a port that ends up on a
        non-loopback address is closed again and the start fails.
        (MemoryReactor reports 0.0.0.0 for every IPv4 listen.)
        """
        daemon, _ = make_daemon()
        reactor = MemoryReactor()
        service = make_control_service(ControlConfig(listen="tcp:8067:interface=127.0.0.1"), daemon, reactor)
        self.assertIsInstance(service.endpoint, LocalOnlyEndpoint)
        with self.assertRaises(RemoteListenRefused):
            service.privilegedStartService()
        self.assertEqual(len(reactor.tcpServers), 1)
        remote = ControlConfig(listen="tcp:8067:interface=0.0.0.0", allow_remote=True, token=TOKEN)
        make_control_service(remote, daemon, reactor).privilegedStartService()
        self.assertEqual(len(reactor.tcpServers), 2)

    def test_unix_socket_defaults_to_0600(self) -> None:
        self.assertEqual(control_section('listen = "unix:/run/dhcpsuite/control.sock"\n').listen, "unix:/run/dhcpsuite/control.sock:mode=600")
        self.assertEqual(control_section('listen = "unix:/run/x.sock:mode=660"\n').listen, "unix:/run/x.sock:mode=660")
        with self.assertRaises(ConfigError) as raised:
            control_section('listen = "unix:/run/x.sock:mode=666"\n')
        self.assertIn("token", str(raised.exception))
        self.assertEqual(control_section(f'listen = "unix:/run/x.sock:mode=666"\ntoken = "{TOKEN}"\n').listen, "unix:/run/x.sock:mode=666")

    def test_limits_configurable(self) -> None:
        config = control_section('allowed_hosts = ["Router.LAN"]\nmax_connections = 8\nrequest_timeout = 2.5\nmax_body = 2048\n'
                                 'auth_failures_per_minute = 0\n')
        self.assertEqual((config.allowed_hosts, config.max_connections, config.request_timeout, config.max_body,
                          config.auth_failures_per_minute), (frozenset({"router.lan"}), 8, 2.5, 2048, 0))
        self.assertEqual(control_section("").auth_failures_per_minute, 10)
        for bad in ("max_connections = 0", "request_timeout = 0", "max_body = 10", 'allowed_hosts = "x"\nnope = 1',
                    "auth_failures_per_minute = -1"):
            with self.assertRaises(ConfigError):
                control_section(bad + "\n")
