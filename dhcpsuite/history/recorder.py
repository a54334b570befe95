# -*- test-case-name: tests.unit.test_history -*-
"""
The lease history at work: an observer of the lease store that turns each
change into a record (L{dhcpsuite.history.events.derive}) with the context
of the request being decided, hands it to the storage, prunes it to its
retention in the background, and answers the control API's questions.
"""

from __future__ import annotations

import os
import socket
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Callable

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from dhcpsuite.errors import StartupError
from dhcpsuite.hexbytes import mac_text
from dhcpsuite.history.config import HistoryConfig
from dhcpsuite.history.events import HistoryRecord, RequestContext, event_of, record_of
from dhcpsuite.history.query import Interval, TimeError, binding_at, intervals, parse_time
from dhcpsuite.interfaces import ILeaseHistory, ILeaseStore
from dhcpsuite.leases.lease import Lease

if TYPE_CHECKING:
    from dhcpsuite.server.config import ServerConfig

DAY = 86400.0
# How often the retention is applied.
PRUNE_INTERVAL = 3600.0
# Batches one pruning pass deletes at most; the rest waits for the next.
PRUNE_BATCHES_PER_PASS = 200


class QueryError(ValueError):
    """
    A history question refused: C{parameter} names what was wrong.
    """

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


class HistoryRecorder:
    """
    @param request: the context of the request being decided right now, or
        L{None} outside one (housekeeping, the control API).
    """

    log = Logger()

    def __init__(
        self,
        config: HistoryConfig,
        storage: ILeaseHistory,
        clock: Callable[[], float],
        request: Callable[[], RequestContext | None] = lambda: None,
        reactor: Any = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.clock = clock
        self.request = request
        self.reactor = reactor
        self.server_name = config.server_name or socket.gethostname()
        self._store: ILeaseStore | None = None
        self._pruning: task.LoopingCall | None = None

    @property
    def counters(self):
        return self.storage.counters

    def follow(self, store: ILeaseStore) -> None:
        self._store = store
        store.add_observer(self.lease_changed)
        if self.reactor is not None:
            self._pruning = task.LoopingCall(self.prune)
            self._pruning.clock = self.reactor
            self._pruning.start(PRUNE_INTERVAL, now=True)

    def lease_changed(self, old: Lease | None, new: Lease | None) -> None:
        now = self.clock()
        event = event_of(old, new, now, self.config.offers)
        # The request's context only for a change that is recorded: every
        # DISCOVER's offer passes here too.
        if event is not None:
            self.storage.append(record_of(event, old, new, now, self.request(), self.server_name))

    def prune(self, batches: int = PRUNE_BATCHES_PER_PASS) -> Deferred:
        """
        Delete records older than the retention, a bounded batch at a time.
        """
        before = self.clock() - self.config.retention_days * DAY

        def more(deleted: int, left: int) -> Any:
            self.storage.counters["pruned"] += deleted
            if deleted and left > 1:
                return self.storage.prune(before).addCallback(more, left - 1)
            return None

        def failed(failure):
            self.log.failure("Cannot prune the lease history", failure)

        return self.storage.prune(before).addCallback(more, batches).addErrback(failed)

    def close(self) -> Deferred:
        if self._pruning is not None and self._pruning.running:
            self._pruning.stop()
        if self._store is not None:
            self._store.remove_observer(self.lease_changed)
            self._store = None
        return self.storage.close()

    # Questions -------------------------------------------------------------

    def lookup(self, query: dict[str, str], now: float | None = None) -> Deferred:
        """
        Answer the API's C{GET /api/v1/history}: C{key} (an address or a
        MAC) and C{at}, or C{from} and C{to} (default: the last day).

        @raise QueryError: a parameter is missing or malformed, or the
            range is longer than C{max_query_days}.
        """
        now = self.clock() if now is None else now
        key = _key(query.get("key", ""))
        at = _time(query, "at")
        if at is not None:
            if query.get("from") or query.get("to"):
                raise QueryError("at", "give either at, or from and to")
            start = end = at
        else:
            end = _time(query, "to")
            end = now if end is None else end
            start = _time(query, "from")
            start = end - DAY if start is None else start
            if start > end:
                raise QueryError("from", "is after to")
            if end - start > self.config.max_query_days * DAY:
                raise QueryError("to", f"from..to spans {(end - start) / DAY:.0f} days; at most {self.config.max_query_days}")
        limit = self.config.max_results
        d = self.storage.select(key, start, end, limit)
        return d.addCallback(self._answer, key, at, start, end)

    def _answer(self, selected: tuple[list[HistoryRecord], bool], key: Any, at: float | None, start: float, end: float) -> dict:
        records, truncated = selected
        result: dict[str, Any] = {"key": str(key) if isinstance(key, IPv4Address) else mac_text(key), "truncated": truncated}
        if at is not None:
            by_address: dict[IPv4Address, list[HistoryRecord]] = {}
            for record in records:
                by_address.setdefault(record.address, []).append(record)
            holders = [binding_at(rs, at) for rs in by_address.values()]
            result["at"] = at
            result["bindings"] = [record_json(h) for h in sorted(filter(None, holders), key=lambda r: r.time)]
            return result
        result["from"] = start
        result["to"] = end
        result["events"] = [record_json(r) for r in records if start <= r.time <= end]
        result["intervals"] = [
            interval_json(i) for i in intervals(records) if i.start <= end and (i.end is None or i.end > start)
        ]
        return result


def _key(text: str) -> IPv4Address | bytes:
    text = text.strip()
    if not text:
        raise QueryError("key", "give an IPv4 address or a MAC")
    try:
        return IPv4Address(text)
    except ValueError:
        pass
    # 02:00:5e:10:20:30, 02-00-5E-10-20-30, 0200.5e10.2030 (Cisco), 02005e102030.
    digits = text.lower()
    for separator in ":-.":
        digits = digits.replace(separator, "")
    if len(digits) == 12 and all(c in "0123456789abcdef" for c in digits) and len(text) in (12, 14, 17):
        return bytes.fromhex(digits)
    raise QueryError("key", f"{text!r} is neither an IPv4 address nor a MAC")


def _time(query: dict[str, str], name: str) -> float | None:
    text = query.get(name)
    if not text:
        return None
    try:
        return parse_time(text)
    except TimeError as e:
        raise QueryError(name, str(e)) from None


def _hex(value: bytes) -> str:
    return value.hex(":") if value else ""


def record_json(record: HistoryRecord) -> dict:
    return {
        "time": record.time,
        "address": str(record.address),
        "event": record.event.value,
        "mac": mac_text(record.mac),
        "client_id": _hex(record.client_id),
        "hostname": record.hostname,
        "relay": None if record.giaddr is None else str(record.giaddr),
        "circuit_id": _hex(record.circuit_id),
        "remote_id": _hex(record.remote_id),
        "lease_end": record.lease_end,
        "server": record.server,
        "server_id": None if record.server_id is None else str(record.server_id),
    }


def interval_json(interval: Interval) -> dict:
    first = interval.first
    return {
        "address": str(interval.address),
        "mac": mac_text(interval.mac),
        "client_id": _hex(interval.client_id),
        "hostname": interval.hostname,
        "start": interval.start,
        "end": interval.end,
        "ended_by": interval.ended_by,
        "renewals": interval.renewals,
        "relay": None if first.giaddr is None else str(first.giaddr),
        "circuit_id": _hex(first.circuit_id),
        "remote_id": _hex(first.remote_id),
    }


def _sqlite(config: "ServerConfig", state_dir: str, reactor: Any) -> ILeaseHistory:
    from dhcpsuite.history.sqlite import HISTORY_DB_NAME, SQLiteHistory

    return SQLiteHistory(os.path.join(state_dir, HISTORY_DB_NAME), reactor=reactor, max_pending=config.history.max_pending)


def _postgresql(config: "ServerConfig", state_dir: str, reactor: Any) -> ILeaseHistory:
    from dhcpsuite.history.postgresql import PostgreSQLHistory

    return PostgreSQLHistory(config.postgresql, reactor=reactor, max_pending=config.history.max_pending)


# By [server] lease_store: where the history goes. Beside the lease store:
# the shared database's lease_history table, else a file in state_dir.
HISTORY_STORAGE: dict[str, Callable[["ServerConfig", str, Any], ILeaseHistory]] = {
    "sqlite": _sqlite,
    "memory": _sqlite,
    "postgresql": _postgresql,
}


def open_history(
    config: "ServerConfig", state_dir: str, reactor: Any, request: Callable[[], RequestContext | None]
) -> HistoryRecorder:
    """
    The history as C{[server.history]} configures it, beside the lease store.

    @raise StartupError: it cannot be opened (one line, the reason).
    """
    open_storage = HISTORY_STORAGE[config.lease_store]
    try:
        storage = open_storage(config, state_dir, reactor)
    except StartupError:
        raise
    except Exception as e:
        raise StartupError(f"cannot open the lease history ([server.history]): {' '.join(str(e).split())}") from None
    return HistoryRecorder(config.history, storage, reactor.seconds, request, reactor)
