# -*- test-case-name: tests.unit.test_control -*-
"""
The C{[control]} section: where the HTTP API listens, who may use it, and
how much of the daemon a client of it may hold.
"""

from __future__ import annotations

import ipaddress
import re

import attrs
from twisted.internet.endpoints import _parseServer

from dhcpsuite.config import Section

DEFAULT_LISTEN = "tcp:8067:interface=127.0.0.1"
# A UNIX socket without :mode= would be 0666 (Twisted's default): anyone on
# the host could steer the daemon with no token.
DEFAULT_UNIX_MODE = 0o600


@attrs.frozen
class ControlConfig:
    listen: str = DEFAULT_LISTEN
    allow_remote: bool = False
    token: str | None = None
    # The status page reloads itself this often (seconds).
    refresh: int = 5
    # Host names (besides loopback names and address literals) a request's
    # Host header may carry: anything else may be a DNS-rebinding page.
    allowed_hosts: frozenset[str] = frozenset()
    # Concurrent HTTP connections; at the limit the oldest idle one is
    # closed for a newcomer, or the newcomer is refused when none is idle.
    max_connections: int = 64
    # Seconds in which a request's head and body must arrive, and the most
    # a kept-alive connection may sit idle between requests.
    request_timeout: float = 10.0
    max_body: int = 64 * 1024
    # Failed token attempts one peer address may make a minute (0: no limit).
    auth_failures_per_minute: int = 10


def _split(description: str) -> list[str]:
    # Twisted endpoint strings escape ':' inside values as '\:' (IPv6).
    return re.split(r"(?<!\\):", description)


def bound_interface(description: str) -> str | None:
    """
    The address a C{tcp:}/C{tcp6:} endpoint binds, read with Twisted's own
    parser (so a repeated C{interface=} means what it means to Twisted: the
    last one wins), or C{None} for a UNIX socket.

    @raise ValueError: for any other kind of endpoint.
    """
    kind = description.partition(":")[0].lower()
    if kind == "unix":
        return None
    if kind not in ("tcp", "tcp6"):
        raise ValueError(f"{description!r} is not a tcp:, tcp6: or unix: endpoint")
    _, args, kwargs = _parseServer(description, None)
    if kind == "tcp":
        return kwargs.get("interface", "")
    # tcp6 is a plugin parser: (port, backlog, interface) positionally.
    return kwargs.get("interface", args[2] if len(args) > 2 else "::")


def address_is_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_is_local(description: str) -> bool:
    """
    Is a Twisted server endpoint string bound to loopback (or a UNIX socket)?
    A TCP endpoint without an interface listens on every address.
    """
    try:
        interface = bound_interface(description)
    except ValueError:
        return False
    return interface is None or address_is_local(interface)


def unix_mode(description: str) -> int | None:
    """
    The C{mode=} a UNIX endpoint string gives, or C{None} when it gives none.
    """
    for part in _split(description)[2:]:
        if part.startswith("mode="):
            return int(part[len("mode=") :], 8)
    return None


def parse_control_config(section: Section) -> ControlConfig:
    listen = section.string("listen", DEFAULT_LISTEN)
    kind = listen.partition(":")[0]
    if kind not in ("tcp", "tcp6", "unix"):
        raise section.error("listen", f"{listen!r} is not a tcp:, tcp6: or unix: endpoint")
    try:
        _parseServer(listen, None)
        mode = unix_mode(listen) if kind == "unix" else None
    except (ValueError, TypeError) as e:
        raise section.error("listen", f"{listen!r} is not a valid endpoint: {e}") from None
    allow_remote = section.boolean("allow_remote", False)
    token = section.string("token", None)
    if token is not None and len(token) < 16:
        raise section.error("token", "must be at least 16 characters")
    if not endpoint_is_local(listen) and not (allow_remote and token):
        raise section.error(
            "listen",
            f"{listen!r} is not a loopback address; set allow_remote = true and a token to listen on the network",
        )
    if kind == "unix":
        if mode is None:
            listen = f"{listen}:mode={DEFAULT_UNIX_MODE:o}"
        elif mode & 0o002 and token is None:
            raise section.error("listen", f"mode {mode:o} lets every local user steer the daemon; set a token, or a mode like 600 or 660")
    allowed_hosts = frozenset(h.lower().rstrip(".") for h in section.string_list("allowed_hosts", []))
    return ControlConfig(
        listen,
        allow_remote,
        token,
        refresh=section.integer("refresh", 5, minimum=1, maximum=3600),
        allowed_hosts=allowed_hosts,
        max_connections=section.integer("max_connections", 64, minimum=1, maximum=100000),
        request_timeout=float(section.number("request_timeout", 10.0, minimum=0.1)),
        max_body=section.integer("max_body", 64 * 1024, minimum=1024, maximum=16 * 1024 * 1024),
        auth_failures_per_minute=section.integer("auth_failures_per_minute", 10, minimum=0, maximum=100000),
    )
