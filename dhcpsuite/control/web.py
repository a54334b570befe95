# -*- test-case-name: tests.unit.test_control -*-
"""
The control plane over HTTP (twisted.web): JSON under C{/api/v1/},
Prometheus text at C{/metrics}, a self-refreshing status page at C{/} and
the lease search at C{/leases} (L{page}). Errors are JSON C{{"error": message}} with the right status code.

The site bounds what a client can hold: connections (the oldest idle one
gives way to a newcomer), the time to send a request, and the body, which
is refused from the request head (host, origin, token, size, type; see
L{admission}) before a byte of it is read. Every refusal is counted.
"""

from __future__ import annotations

import collections
import json
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, resource, server
from zope.interface import implementer

from dhcpsuite.control import api
from dhcpsuite.control.admission import AdmissionPolicy, FailedAttempts, Refusal, Refused, admit, credentials_presented
from dhcpsuite.control.config import ControlConfig
from dhcpsuite.control.metrics import render_metrics
from dhcpsuite.control.page import STYLE_SOURCE, StatusPage
from dhcpsuite.daemon import Daemon
from dhcpsuite.interfaces import IReconfigurable

API_PREFIX = (b"api", b"v1")
DEFAULT_ACTION_TIMEOUT = 30.0
# After a refusal the rest of a body is read and dropped this long (so the
# client sees the answer instead of a reset), then the connection is closed.
LINGER_SECONDS = 2.0
# How long a connection not yet read from is spared from eviction at the
# connection limit (see ControlChannel.eviction_rank).
UNHEARD_GRACE = 1.0
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        f"default-src 'none'; style-src {STYLE_SOURCE}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'".encode("ascii"),
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True, default=str).encode() + b"\n"


class ControlResource(resource.Resource):
    """
    The root of the control site. Routing is done here by path segments
    rather than a tree of child resources: the API is small and a flat
    table reads better.
    """

    isLeaf = True
    log = Logger()

    def __init__(self, daemon: Daemon, config: ControlConfig, reactor: Any = None) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.daemon = daemon
        self.config = config
        self.page = StatusPage(daemon, reactor, config.refresh)
        self.policy = policy_of(config)
        # Refusals by reason; the site counts its connection limits here too.
        self.refusals: collections.Counter = collections.Counter()
        # Set by the site that serves this resource.
        self.open_connections: Callable[[], int | None] = lambda: None

    def render(self, request: server.Request) -> bytes | int:
        path = [segment for segment in request.postpath if segment]
        method = request.method.decode("ascii", "replace")
        for name, value in SECURITY_HEADERS:
            request.setHeader(name, value)
        # Requests through ControlSite were admitted from their head already;
        # this covers any other way in.
        content = request.content
        length = len(content.getvalue()) if hasattr(content, "getvalue") else 0
        refused = admit(request.method, request.requestHeaders, length, self.policy)
        if refused is not None:
            self.refusals[refused.reason.value] += 1
            for challenge in refused.challenges:
                request.responseHeaders.addRawHeader(b"www-authenticate", challenge)
            return self._error(request, refused.status, refused.message)
        try:
            if path == [] and method == "GET":
                request.setHeader(b"content-type", b"text/html; charset=utf-8")
                return self.page.overview().encode("utf-8")
            if path == [b"leases"] and method == "GET":
                request.setHeader(b"content-type", b"text/html; charset=utf-8")
                return self.page.leases(self._query(request)).encode("utf-8")
            if path == [b"metrics"] and method == "GET":
                request.setHeader(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
                return render_metrics(self.daemon, self.refusals, self.open_connections())
            if tuple(path[:2]) == API_PREFIX:
                return self._api(request, method, [p.decode("utf-8", "replace") for p in path[2:]])
            return self._error(request, 404, "not found")
        except api.ApiError as e:
            return self._error(request, e.status, e.message, e.key)

    def _query(self, request: server.Request) -> dict[str, str]:
        return {
            key.decode("utf-8", "replace"): values[-1].decode("utf-8", "replace")
            for key, values in (request.args or {}).items()
        }

    def _api(self, request: server.Request, method: str, path: list[str]) -> bytes | int:
        daemon = self.daemon
        routes: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "status"): lambda: api.status(daemon),
            ("GET", "interfaces"): lambda: api.interfaces(daemon),
            ("GET", "leases"): lambda: api.leases(daemon, self._query(request)),
            ("GET", "pools"): lambda: api.pools(daemon),
            ("GET", "history"): lambda: api.history(daemon, self._query(request)),
            ("GET", "cluster"): lambda: api.cluster(daemon),
            ("GET", "server"): lambda: api.server_counters(daemon),
            ("GET", "clients"): lambda: api.clients(daemon),
            ("GET", "ingest"): lambda: api.ingest(daemon),
        }
        if path == ["config", "reload"] and method == "POST":
            return self._respond(request, lambda: api.reload_config(daemon))
        if len(path) == 1 and (method, path[0]) in routes:
            return self._respond(request, routes[(method, path[0])])
        if len(path) == 2 and path[0] == "leases" and method == "DELETE":
            return self._respond(request, lambda: api.revoke_lease(daemon, path[1]))
        if len(path) == 3 and path[0] == "clients" and method == "POST":
            body = self._body(request)
            timeout = body.get("timeout", DEFAULT_ACTION_TIMEOUT)
            if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
                raise api.ApiError(400, "timeout must be a number of seconds between 0 and 3600")
            return self._respond(request, lambda: api.client_action(daemon, path[1], path[2], float(timeout)))
        known = {p for _, p in routes} | {"leases", "clients", "config"}
        if path and path[0] in known:
            return self._error(request, 405, f"{method} is not allowed here")
        return self._error(request, 404, f"no API endpoint /{'/'.join(path)}")

    def _body(self, request: server.Request) -> dict:
        raw = request.content.read(self.config.max_body + 1) if request.content is not None else b""
        if len(raw) > self.config.max_body:
            raise api.ApiError(413, "request body too large")
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise api.ApiError(400, f"body is not JSON: {e}") from None
        except RecursionError:
            raise api.ApiError(400, "body is not JSON: nested too deeply") from None
        if not isinstance(body, dict):
            raise api.ApiError(400, "body must be a JSON object")
        return body

    def _respond(self, request: server.Request, produce: Callable[[], Any]) -> bytes | int:
        result = produce()
        if not isinstance(result, Deferred):
            request.setHeader(b"content-type", b"application/json")
            return _json_bytes(result)
        # A caller that hangs up stops waiting; the action itself goes on.
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        result.addCallbacks(
            lambda value: None if gone else self._finish(request, 200, value),
            lambda f: None if gone else self._failed(request, f),
        )
        return server.NOT_DONE_YET

    def _failed(self, request: server.Request, failure: Failure) -> None:
        if failure.check(api.ApiError):
            self._finish(request, failure.value.status, {"error": failure.value.message})
            return
        from twisted.internet.defer import TimeoutError as DeferredTimeout

        if failure.check(DeferredTimeout):
            self._finish(request, 504, {"error": "timed out waiting; the agent keeps trying on its own"})
            return
        self.log.failure("Control API action failed", failure)
        self._finish(request, 500, {"error": failure.getErrorMessage()})

    def _finish(self, request: server.Request, code: int, value: Any) -> None:
        if request.finished:
            return
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        request.write(_json_bytes(value))
        request.finish()

    def _error(self, request: server.Request, code: int, message: str, key: str | None = None) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        return _json_bytes({"error": message} if key is None else {"error": message, "key": key})


def policy_of(config: ControlConfig) -> AdmissionPolicy:
    return AdmissionPolicy(
        token=config.token,
        allowed_hosts=config.allowed_hosts,
        max_body=config.max_body,
        browser_reachable=not config.listen.startswith("unix:"),
    )


def refusal_response(refused: Refused) -> bytes:
    """
    A complete HTTP/1.1 response for a request refused from its head, sent
    before its body is read; the connection closes after it.
    """
    body = _json_bytes({"error": refused.message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"connection", b"close"),
        *SECURITY_HEADERS,
        *((b"www-authenticate", challenge) for challenge in refused.challenges),
        *(() if refused.retry_after is None else ((b"retry-after", str(refused.retry_after).encode("ascii")),)),
    ]
    head = b"HTTP/1.1 %d %s\r\n" % (refused.status, http.RESPONSES.get(refused.status, b"Refused"))
    return head + b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n" + body


class _Discard:
    """
    The body of a refused request: read so the client sees the answer, kept nowhere.
    """

    def write(self, data: bytes) -> None:
        pass

    def seek(self, *args: Any) -> None:
        pass

    def read(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        pass


class ControlRequest(server.Request):
    refused: Refused | None = None

    def gotLength(self, length: int | None) -> None:
        channel = self.channel
        site = channel.site
        peer = getattr(channel.transport.getPeer(), "host", None)
        failures = site.failures if site.policy.token is not None and peer is not None else None
        now = site.reactor.seconds()
        refused = failures.refused(peer, now) if failures is not None else None
        if refused is None:
            refused = admit(channel._command, self.requestHeaders, length, site.policy)
            if failures is not None and refused is not None and refused.reason is Refusal.TOKEN and credentials_presented(self.requestHeaders):
                failures.failed(peer, now)
        if refused is None:
            super().gotLength(length)
            return
        self.refused = refused
        self.content = _Discard()
        channel.refuse(refused)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.refused is not None:
            # Answered from the head; the body has been dropped.
            self.channel.loseConnection()
            return
        super().requestReceived(command, path, version)


class ControlChannel(http.HTTPChannel):
    """
    One HTTP connection with a deadline: the request head and body must
    arrive within C{request_timeout}, and a kept-alive connection may idle
    no longer than that between requests. (Twisted's own timeout restarts
    with every byte, so one header line every few seconds held a
    connection forever.)
    """

    site: "ControlSite"
    _deadline: IDelayedCall | None = None
    _lingering = False
    # Set by the site when it accepts the connection.
    accepted_at = 0.0
    # Whether any byte has been read from it yet.
    _heard = False

    def connectionMade(self) -> None:
        super().connectionMade()
        self._restart(self.site.config.request_timeout)

    def dataReceived(self, data: bytes) -> None:
        self._heard = True
        super().dataReceived(data)

    def eviction_rank(self, now: float) -> int | None:
        """
        How readily this connection gives way to a newcomer at the limit,
        lowest first, or C{None} when it must not.

          0. lingering after a refusal, or heard from and not working on a
             request (a slow head, a kept-alive connection between requests);
          1. never heard from for C{UNHEARD_GRACE} seconds.

        A connection not yet read from is spared for C{UNHEARD_GRACE}: a
        burst of accepts (one C{doRead} takes many) would otherwise evict a
        newcomer before its first read, whatever it had sent — an operator's
        complete request looks just like a slow sender's first line until it
        is read. One still finishing its response is spared too, since an
        abort would discard the answer.
        """
        if self._lingering:
            return 0
        if self._handlingRequest or self.transport.disconnecting:
            return None
        if self._heard:
            return 0
        return 1 if now - self.accepted_at >= UNHEARD_GRACE else None

    def _restart(self, seconds: float | None) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None if seconds is None else self.callLater(seconds, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if not self._lingering:
            self.site.refusals["request-timeout"] += 1
        self.transport.abortConnection()

    def refuse(self, refused: Refused) -> None:
        self.site.refusals[refused.reason.value] += 1
        self._lingering = True
        self.persistent = False
        self.transport.write(refusal_response(refused))
        self.transport.loseWriteConnection()
        self._restart(LINGER_SECONDS)

    def _send100Continue(self) -> None:
        if not self._lingering:
            super()._send100Continue()

    def allContentReceived(self) -> None:
        if not self._lingering:
            self._restart(None)
        super().allContentReceived()

    def requestDone(self, request: server.Request) -> None:
        super().requestDone(request)
        if self.persistent and not self.transport.disconnecting:
            self._restart(self.site.config.request_timeout)

    def connectionLost(self, reason: Failure) -> None:
        self._restart(None)
        self.site.forget(self)
        super().connectionLost(reason)


@implementer(IReconfigurable)
class ControlSite(server.Site):
    """
    The control site, with at most C{max_connections} connections. At the
    limit the oldest idle connection (a slow or stalled sender, or a
    kept-alive one) is closed for the newcomer, so a flood of slow clients
    cannot lock the operator out: the operator's request is complete at its
    first read, a slow sender's never is. When no connection can give way
    (see L{ControlChannel.eviction_rank}) the newcomer is refused.
    """

    protocol = ControlChannel
    requestFactory = ControlRequest

    def __init__(self, resource: ControlResource, config: ControlConfig, reactor: Any = None) -> None:
        super().__init__(resource, reactor=reactor)
        self.config = config
        self.policy = resource.policy
        self.refusals = resource.refusals
        # Insertion order is age: the first idle one found is the oldest.
        self.channels: dict[ControlChannel, None] = {}
        resource.open_connections = lambda: len(self.channels)
        self.failures = _failed_attempts(config)
        self.displayTracebacks = False
        self.page = resource.page

    def startFactory(self) -> None:
        super().startFactory()
        self.page.start()

    def stopFactory(self) -> None:
        self.page.stop()
        super().stopFactory()

    def log(self, request: server.Request) -> None:
        # Per-request access lines would drown the DHCP log; errors still log.
        pass

    def buildProtocol(self, addr: Any) -> ControlChannel | None:
        now = self.reactor.seconds()
        if len(self.channels) >= self.config.max_connections:
            victim = self._victim(now)
            if victim is None:
                self.refusals["connections"] += 1
                return None
            self.refusals["evicted"] += 1
            self.forget(victim)
            victim.transport.abortConnection()
        channel = super().buildProtocol(addr)
        channel.accepted_at = now
        self.channels[channel] = None
        return channel

    def _victim(self, now: float) -> ControlChannel | None:
        """
        The oldest connection of the lowest L{ControlChannel.eviction_rank}.
        """
        fallback = None
        for channel in self.channels:
            rank = channel.eviction_rank(now)
            if rank == 0:
                return channel
            if rank is not None and fallback is None:
                fallback = channel
        return fallback

    def forget(self, channel: ControlChannel) -> None:
        self.channels.pop(channel, None)

    def prepare_reconfigure(self, new: ControlConfig) -> Callable[[], None]:
        """
        The token, allowed hosts, limits and refresh change live and hold
        from the next request on (the reload request itself was admitted
        with the old token). C{listen} cannot (L{dhcpsuite.reload.FIXED_KEYS}).
        """
        resource = self.resource

        def apply() -> None:
            policy = policy_of(new)
            if new.auth_failures_per_minute != self.config.auth_failures_per_minute:
                self.failures = _failed_attempts(new)
            self.config = resource.config = new
            self.policy = resource.policy = policy
            self.page.refresh = new.refresh

        return apply


def _failed_attempts(config: ControlConfig) -> FailedAttempts | None:
    return FailedAttempts(config.auth_failures_per_minute) if config.auth_failures_per_minute else None


def make_site(daemon: Daemon, config: ControlConfig, reactor: Any = None) -> ControlSite:
    return ControlSite(ControlResource(daemon, config, reactor), config, reactor)
