# -*- test-case-name: tests.unit.test_control -*-
"""
The tables an operator reads, as columns and rows built from the API's JSON:
one definition for the status page and for C{dhcpsuite-ctl}, so they show
the same thing. Standard library only (the CLI imports it and must start fast).
"""

from __future__ import annotations

import time
from typing import Any

from dhcpsuite.printable import printable

INTERFACE_COLUMNS = ("interface", "index", "state", "carrier", "ready", "mac", "mtu", "addresses")
CLIENT_COLUMNS = ("interface", "state", "address", "server", "verified", "next timer", "in s")
REGISTRY_COLUMNS = ("interface", "family", "address", "cause", "learned")
LEASE_COLUMNS = ("address", "state", "mac", "hostname", "remaining s")


def _seconds(value: float | None) -> str:
    return "forever" if value is None else str(int(value))


def _when(epoch: float | None) -> str:
    return "" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def interface_rows(interfaces: list[dict]) -> list[tuple]:
    return [tuple(i.get(key) for key in INTERFACE_KEYS) for i in interfaces]


# The keys of ClientService.agents_json() each column shows, in order.
CLIENT_KEYS = ("interface", "state", "address", "server", "verified", "next_timer", "next_timer_in")
INTERFACE_KEYS = ("name", "index", "admin_state", "carrier", "ready", "mac", "mtu", "addresses")


def client_rows(clients: list[dict]) -> list[tuple]:
    return [tuple(c.get(key) for key in CLIENT_KEYS) for c in clients]


def _record_address(record: dict) -> str:
    """
    A v4 record's address, or a v6 record's IA_NA address and IA_PD prefix.
    """
    if record.get("address"):
        return str(record["address"])
    parts = [(record.get("ia_na") or {}).get("address"), (record.get("ia_pd") or {}).get("prefix")]
    return " ".join(str(p) for p in parts if p)


def registry_rows(registry: dict[str, dict]) -> list[tuple]:
    return [
        (ifname, family, _record_address(record), record.get("cause"), _when(record.get("learned")))
        for ifname, families in sorted(registry.items())
        for family, record in sorted((families or {}).items())
        if record
    ]


def lease_rows(leases: list[dict]) -> list[tuple]:
    return [(l["address"], l["state"], l["mac"], l["hostname"], _seconds(l["remaining"])) for l in leases]


def as_text(value: Any) -> str:
    """
    One table cell: a value from the API as one line of visible text, with
    control characters escaped (hostnames and messages come from the network).
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(printable(str(v)) for v in value)
    return printable(str(value))
