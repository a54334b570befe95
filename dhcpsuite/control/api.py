# -*- test-case-name: tests.unit.test_control -*-
"""
What the control API answers, as plain functions of the running L{Daemon}:
JSON-ready dicts in, no HTTP. The web layer maps URLs and errors onto them.
"""

from __future__ import annotations

import enum
import heapq
import time
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import attrs
from twisted.internet.defer import Deferred, maybeDeferred

from dhcpsuite.daemon import Daemon
from dhcpsuite.hexbytes import mac_text
from dhcpsuite.interfaces import ICluster, ICommitTimings, IComponentHealth, ILeaseRegistry
from dhcpsuite.leases.lease import Lease, LeaseState

if TYPE_CHECKING:
    from dhcpsuite.server.service import ServerService


class ApiError(Exception):
    """
    A request the API refuses: C{status} is the HTTP status to answer with.
    """

    def __init__(self, status: int, message: str, key: str | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        # The configuration key a refused reload names.
        self.key = key


def status(daemon: Daemon, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    components = {}
    for name, component in daemon.components().items():
        reporter = IComponentHealth(component, None)
        components[name] = reporter.health() if reporter is not None else {"ok": True}
    return {
        "version": daemon.version,
        "uptime": round(now - daemon.started, 3),
        "started": daemon.started,
        "config": daemon.config.source,
        "components": components,
        "ok": all(c.get("ok", False) for c in components.values()),
    }


def lease_json(lease: Lease, now: float) -> dict:
    return {
        "address": str(lease.address),
        "state": lease.state.value,
        "active": lease.holds(now),
        "mac": mac_text(lease.mac),
        "client_id": lease.client_key.hex(),
        "hostname": lease.hostname,
        "expires": None if lease.expires == float("inf") else lease.expires,
        "remaining": None if lease.expires == float("inf") else max(0.0, round(lease.expires - now, 3)),
        "updated": lease.updated,
    }


def _server(daemon: Daemon) -> ServerService:
    if daemon.server is None or daemon.server.store is None:
        raise ApiError(404, "no DHCPv4 server is configured")
    return daemon.server


def leases(daemon: Daemon, query: dict[str, str], now: float | None = None) -> dict:
    """
    Server leases, filtered by C{subnet}, C{mac}, C{state} (or C{active}),
    paged with C{offset} and C{limit}, sorted by address.
    """
    server = _server(daemon)
    now = time.time() if now is None else now
    # Filtered as a stream, and only the page's window kept: the store
    # makes a lease object of each record, and a list of all of them would
    # cost ~400 bytes a lease at once.
    selected: Iterable[Lease] = server.store.leases()
    subnet_text = query.get("subnet")
    if subnet_text:
        subnet = next((s.network for s in server.config.subnets if str(s.network) == subnet_text), None)
        if subnet is None:
            raise ApiError(404, f"no subnet {subnet_text}")
        selected = (l for l in selected if l.address in subnet)
    mac = query.get("mac")
    if mac:
        wanted = mac.lower().replace("-", ":")
        selected = (l for l in selected if mac_text(l.mac) == wanted)
    state = query.get("state")
    if state:
        if state == "active":
            selected = (l for l in selected if l.holds(now))
        else:
            try:
                wanted_state = LeaseState(state)
            except ValueError:
                raise ApiError(400, f"state must be active or one of {', '.join(s.value for s in LeaseState)}") from None
            selected = (l for l in selected if l.state is wanted_state)
    offset = _int(query, "offset", 0, 0, 1 << 31)
    limit = _int(query, "limit", 100, 1, 10000)
    counted = _Counted(selected)
    window = heapq.nsmallest(offset + limit, counted, key=lambda l: int(l.address))[offset:]
    return {
        "total": counted.count,
        "offset": offset,
        "limit": limit,
        "leases": [lease_json(l, now) for l in window],
    }


def revoke_lease(daemon: Daemon, address_text: str) -> Deferred:
    server = _server(daemon)
    try:
        address = IPv4Address(address_text)
    except ValueError:
        raise ApiError(400, f"{address_text!r} is not an IPv4 address") from None
    if server.store.get(address) is None:
        raise ApiError(404, f"no lease for {address}")
    server.store.remove(address)
    return server.store.committed().addCallback(lambda _: {"revoked": str(address)})


def history(daemon: Daemon, query: dict[str, str]) -> Deferred:
    """
    The lease history of an address or a MAC (C{key}): the binding(s) at
    C{at}, or the events and bindings from C{from} to C{to}
    (L{dhcpsuite.history.recorder.HistoryRecorder.lookup}).
    """
    from dhcpsuite.history.recorder import QueryError

    server = _server(daemon)
    if server.history is None:
        raise ApiError(404, "the lease history is off ([server.history] enabled = false)")
    try:
        return server.history.lookup(query)
    except QueryError as e:
        raise ApiError(400, str(e)) from None


def pools(daemon: Daemon) -> dict:
    return {"pools": _server(daemon).pool_usage()}


def cluster(daemon: Daemon) -> dict:
    """
    The servers sharing this one's lease database: each member's heartbeat
    age, whether it is alive and its share of each pool; this server's
    store counters.
    """
    server = _server(daemon)
    shared = ICluster(server.store, None)
    if shared is None:
        raise ApiError(404, "the lease store is not shared by a cluster (lease_store = \"postgresql\" makes one)")
    members = shared.members()
    counters: dict[str, Any] = {}
    timings = ICommitTimings(server.store, None)
    if timings is not None:
        count = sum(timings.commit_buckets)
        counters.update(
            commits=count,
            commit_seconds_mean=round(timings.commit_seconds_total / count, 6) if count else None,
            commit_failures=timings.commit_failures,
            conflicts_lost=timings.conflicts_lost,
            reconnects=timings.reconnects,
            unreachable_seconds=round(timings.unreachable_seconds, 3),
            learned=timings.learned,
        )
    if server.core is not None:
        counters["borrowed"] = server.core.engine.borrowed
    return {
        "self": shared.name,
        "alive": sum(1 for m in members if m["alive"]),
        "sharing": list(shared.share.members),
        "members": members,
        "counters": counters,
    }


def server_counters(daemon: Daemon) -> dict:
    return dict(_server(daemon).counters)


def interfaces(daemon: Daemon) -> dict:
    """
    The kernel's interface table as the netlink reader keeps it, with each
    watched interface's readiness.
    """
    if daemon.netlink is None:
        raise ApiError(404, "the netlink reader is not configured")
    reader = daemon.netlink.reader
    readiness = reader.readiness
    watched = set(readiness.watched())
    result = []
    for link in sorted(reader.table.links.values(), key=lambda l: l.ifindex):
        result.append(
            {
                "name": link.name,
                "index": link.ifindex,
                "admin_state": "up" if link.admin_up else "down",
                "carrier": link.carrier,
                "operstate": link.operstate,
                "mac": link.mac,
                "mtu": link.mtu,
                "kind": link.kind,
                "addresses": [str(a.interface) for a in reader.table.addresses_of(link.ifindex)],
                "ready": readiness.is_ready(link.name) if link.name in watched else None,
            }
        )
    return {"interfaces": result}


def clients(daemon: Daemon) -> dict:
    if daemon.client is None:
        raise ApiError(404, "no DHCPv4 client is configured")
    return {"clients": daemon.client.agents_json()}


CLIENT_ACTIONS = ("renew", "rebind", "release", "start", "stop")


def client_action(daemon: Daemon, ifname: str, action: str, timeout: float) -> Deferred:
    """
    Ask the client agent on C{ifname} to act. The caller's C{timeout} bounds
    only this wait; the agent keeps trying on its own schedule.
    """
    if daemon.client is None:
        raise ApiError(404, "no DHCPv4 client is configured")
    if action not in CLIENT_ACTIONS:
        raise ApiError(404, f"unknown action {action!r}; one of {', '.join(CLIENT_ACTIONS)}")
    if ifname not in daemon.client.interface_names():
        raise ApiError(404, f"no client on interface {ifname!r}")
    return maybeDeferred(daemon.client.act, ifname, action, timeout)


def jsonable(value: Any) -> Any:
    """
    A lease record (value classes of the client or the ingest codec) as
    JSON-ready values: addresses and networks as text, bytes as hex.
    """
    if attrs.has(type(value)):
        return {field.name: jsonable(getattr(value, field.name)) for field in attrs.fields(type(value))}
    names = getattr(type(value), "_fields", None)
    if isinstance(names, tuple):
        # The early path's value classes (L{dhcpsuite.records}, the codec's Message).
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def registry_json(registry: ILeaseRegistry) -> dict:
    """
    C{{ifname: {"v4": record, "v6": record}}}, each record with C{learned}
    (wall-clock seconds) and C{cause}.
    """
    result: dict[str, dict] = {}
    for (ifname, family), entry in sorted(registry.snapshot().items()):
        record = jsonable(entry.lease)
        if not isinstance(record, dict):
            record = {"lease": record}
        record.update(learned=entry.learned_at, cause=entry.cause)
        result.setdefault(ifname, {})[f"v{family}"] = record
    return result


def ingest(daemon: Daemon) -> dict:
    result: dict[str, Any] = {}
    if daemon.registry is not None:
        result["registry"] = registry_json(daemon.registry)
    if daemon.ingest is not None:
        result["counters"] = dict(daemon.ingest.counters)
    if not result:
        raise ApiError(404, "neither lease ingest nor a lease registry is configured")
    return result


def reload_config(daemon: Daemon) -> dict:
    """
    Re-read and apply the configuration file (L{dhcpsuite.reload}). A bad
    file, or one changing a key that cannot change live, is a 4xx naming
    the key, and nothing changes.
    """
    from dhcpsuite.config import ConfigError
    from dhcpsuite.reload import ReloadRefused

    if daemon.reloader is None:
        raise ApiError(404, "this daemon cannot reload its configuration")
    try:
        return daemon.reloader.reload()
    except ReloadRefused as e:
        raise ApiError(409, str(e), key=e.path) from None
    except ConfigError as e:
        raise ApiError(400, str(e), key=e.path) from None


class _Counted:
    """
    Passes C{items} through, counting them.
    """

    def __init__(self, items: Iterable) -> None:
        self._items = items
        self.count = 0

    def __iter__(self) -> Iterator:
        for item in self._items:
            self.count += 1
            yield item


def _int(query: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    text = query.get(key)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{key} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{key} must be between {low} and {high}")
    return value
