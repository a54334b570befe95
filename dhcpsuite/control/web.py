# -*- test-case-name: tests.unit.test_control -*-
"""
The control plane over HTTP (twisted.web): JSON under C{/api/v1/},
Prometheus text at C{/metrics}, and a small self-refreshing status page at
C{/}. Errors are JSON C{{"error": message}} with the right status code.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server

from dhcpsuite.control import api
from dhcpsuite.control.config import ControlConfig
from dhcpsuite.control.metrics import render_metrics
from dhcpsuite.control.page import render_status_page
from dhcpsuite.daemon import Daemon

API_PREFIX = (b"api", b"v1")
DEFAULT_ACTION_TIMEOUT = 30.0
MAX_BODY = 64 * 1024


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

    def __init__(self, daemon: Daemon, config: ControlConfig) -> None:
        super().__init__()
        self.daemon = daemon
        self.config = config

    def render(self, request: server.Request) -> bytes | int:
        path = [segment for segment in request.postpath if segment]
        method = request.method.decode("ascii", "replace")
        if self.config.token is not None and not self._authorised(request):
            request.setHeader(b"www-authenticate", b'Bearer realm="dhcpsuite"')
            return self._error(request, 401, "a valid bearer token is required")
        try:
            if path == [] and method == "GET":
                request.setHeader(b"content-type", b"text/html; charset=utf-8")
                return render_status_page(self.daemon, self.config.refresh).encode("utf-8")
            if path == [b"metrics"] and method == "GET":
                request.setHeader(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
                return render_metrics(self.daemon)
            if tuple(path[:2]) == API_PREFIX:
                return self._api(request, method, [p.decode("utf-8", "replace") for p in path[2:]])
            return self._error(request, 404, "not found")
        except api.ApiError as e:
            return self._error(request, e.status, e.message)

    def _authorised(self, request: server.Request) -> bool:
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        scheme, _, presented = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode("utf-8"), (self.config.token or "").encode("utf-8")
        )

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
            ("GET", "server"): lambda: api.server_counters(daemon),
            ("GET", "clients"): lambda: api.clients(daemon),
            ("GET", "ingest"): lambda: api.ingest(daemon),
        }
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
        known = {p for _, p in routes} | {"leases", "clients"}
        if path and path[0] in known:
            return self._error(request, 405, f"{method} is not allowed here")
        return self._error(request, 404, f"no API endpoint /{'/'.join(path)}")

    def _body(self, request: server.Request) -> dict:
        raw = request.content.read(MAX_BODY + 1) if request.content is not None else b""
        if len(raw) > MAX_BODY:
            raise api.ApiError(413, "request body too large")
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise api.ApiError(400, f"body is not JSON: {e}") from None
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

    def _error(self, request: server.Request, code: int, message: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        return _json_bytes({"error": message})


def make_site(daemon: Daemon, config: ControlConfig) -> server.Site:
    site = server.Site(ControlResource(daemon, config))
    site.displayTracebacks = False
    # Per-request access lines would drown the DHCP log; errors still log.
    site.log = lambda request: None
    return site

