# -*- test-case-name: tests.unit.test_control -*-
"""
The tables an operator reads, as columns and rows built from the API's JSON:
one definition for the status page and for C{dhcpsuite-ctl}, so they show
the same thing. Standard library only (the CLI imports it and must start fast).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from dhcpsuite.printable import printable

INTERFACE_COLUMNS = ("interface", "index", "state", "carrier", "ready", "mac", "mtu", "addresses")
CLIENT_COLUMNS = ("interface", "state", "address", "server", "verified", "next timer", "in s")
REGISTRY_COLUMNS = ("interface", "family", "address", "cause", "learned")
LEASE_COLUMNS = ("address", "state", "mac", "hostname", "remaining s")
HISTORY_BINDING_COLUMNS = ("address", "mac", "hostname", "client id", "last ack", "lease end", "relay", "circuit id", "remote id", "server")
HISTORY_INTERVAL_COLUMNS = ("address", "mac", "hostname", "start", "end", "ended by", "renewals", "relay", "circuit id", "remote id")
HISTORY_EVENT_COLUMNS = ("time", "event", "address", "mac", "hostname", "lease end", "relay", "circuit id", "remote id", "server")


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


def registry_rows(registry: dict[str, dict], when: Callable[[float | None], str] = _when) -> list[tuple]:
    """
    One row per interface and family; C{when} shows the time it was learned.
    """
    return [
        (ifname, family, _record_address(record), record.get("cause"), when(record.get("learned")))
        for ifname, families in sorted(registry.items())
        for family, record in sorted((families or {}).items())
        if record
    ]


def lease_rows(leases: list[dict]) -> list[tuple]:
    return [(l["address"], l["state"], l["mac"], l["hostname"], _seconds(l["remaining"])) for l in leases]


def when(epoch: float | None) -> str:
    """
    A time from the API as local date and time, to the second.
    """
    return _when(epoch)


def _end(epoch: float | None) -> str:
    return "never" if epoch is None else _when(epoch)


def history_binding_rows(bindings: list[dict]) -> list[tuple]:
    """
    Who held the address (or what the MAC held) at one instant: the ack or
    renew that covered it.
    """
    return [
        (b["address"], b["mac"], b["hostname"], b["client_id"], _when(b["time"]), _end(b["lease_end"]),
         b["relay"], b["circuit_id"], b["remote_id"], b["server"])
        for b in bindings
    ]


def history_interval_rows(intervals: list[dict]) -> list[tuple]:
    return [
        (i["address"], i["mac"], i["hostname"], _when(i["start"]), _end(i["end"]),
         i["ended_by"], i["renewals"], i["relay"], i["circuit_id"], i["remote_id"])
        for i in intervals
    ]


def history_event_rows(events: list[dict]) -> list[tuple]:
    return [
        (_when(e["time"]), e["event"], e["address"], e["mac"], e["hostname"], _when(e["lease_end"]),
         e["relay"], e["circuit_id"], e["remote_id"], e["server"])
        for e in events
    ]


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


def duration(seconds: float) -> str:
    """
    A span of time as an operator says it, to its two largest units:
    C{45 s}, C{59 min}, C{3 h 2 min}, C{2 d 5 h}. Rounded down, so a lease
    is never shown with more time left than it has.
    """
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def lease_time(lease: dict, now: float) -> str:
    """
    What a lease's C{expires} means in its state: time left while it holds
    the address, or how long ago it ended.
    """
    expires = lease.get("expires")
    if expires is None:
        return "never expires"
    if lease.get("active"):
        return f"{duration(expires - now)} left"
    verb = {"released": "released", "declined": "probation ended"}.get(lease.get("state", ""), "expired")
    return f"{verb} {duration(now - expires)} ago"


def readable(value: Any) -> str:
    """
    A value from a component's health or the API as words, never a Python
    repr: yes/no, a dash for nothing, C{key: value} pairs, lists joined.
    Control characters are escaped (see L{as_text}).
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, dict):
        if not value:
            return "—"
        return ", ".join(f"{label(k)}: {readable(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(readable(v) for v in value) if value else "—"
    return printable(str(value))


def label(key: Any) -> str:
    """
    A field name as a label: C{next_timer_in} reads C{next timer in}.
    """
    return printable(str(key)).replace("_", " ")
