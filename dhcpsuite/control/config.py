# -*- test-case-name: tests.unit.test_control -*-
"""
The C{[control]} section: where the HTTP API listens and who may use it.
"""

from __future__ import annotations

import ipaddress
import re

import attrs

from dhcpsuite.config import Section

DEFAULT_LISTEN = "tcp:8067:interface=127.0.0.1"


@attrs.frozen
class ControlConfig:
    listen: str = DEFAULT_LISTEN
    allow_remote: bool = False
    token: str | None = None
    # The status page reloads itself this often (seconds).
    refresh: int = 5


def endpoint_is_local(description: str) -> bool:
    """
    Is a Twisted server endpoint string bound to loopback (or a UNIX socket)?
    A TCP endpoint without C{interface=} listens on every address.
    """
    kind, _, rest = description.partition(":")
    if kind == "unix":
        return True
    if kind not in ("tcp", "tcp6"):
        return False
    # Twisted endpoint strings escape ':' inside values as '\:' (IPv6).
    for part in re.split(r"(?<!\\):", rest):
        if part.startswith("interface="):
            try:
                return ipaddress.ip_address(part[len("interface=") :].replace("\\:", ":")).is_loopback
            except ValueError:
                return False
    return False


def parse_control_config(section: Section) -> ControlConfig:
    listen = section.string("listen", DEFAULT_LISTEN)
    kind = listen.partition(":")[0]
    if kind not in ("tcp", "tcp6", "unix"):
        raise section.error("listen", f"{listen!r} is not a tcp:, tcp6: or unix: endpoint")
    allow_remote = section.boolean("allow_remote", False)
    token = section.string("token", None)
    if token is not None and len(token) < 16:
        raise section.error("token", "must be at least 16 characters")
    if not endpoint_is_local(listen) and not (allow_remote and token):
        raise section.error(
            "listen",
            f"{listen!r} is not a loopback address; set allow_remote = true and a token to listen on the network",
        )
    refresh = section.integer("refresh", 5, minimum=1, maximum=3600)
    return ControlConfig(listen, allow_remote, token, refresh)
