# -*- test-case-name: tests.unit.test_history -*-
"""
The history written behind by one thread in batches, whatever the database
(L{dhcpsuite.history.sqlite}, L{dhcpsuite.history.postgresql}): the ACK path
only appends to a bounded queue, so a slow disk or database delays the
history, never a reply. Queries and pruning go through the same thread in
order, so a query sees every record appended before it.
"""

from __future__ import annotations

import collections
import threading
import time
from ipaddress import IPv4Address
from typing import Any, Callable, Protocol, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.history.events import HistoryEvent, HistoryRecord
from dhcpsuite.interfaces import ILeaseHistory

# Records written in one transaction at most; more wait for the next.
BATCH = 2000
# Seconds the writer lets records gather before a batch that is not full:
# fewer, larger transactions, and fewer turns at the GIL taken from the
# reactor. A query waits at most this long behind them.
GATHER = 0.1
# The columns of a lease_history row, in the order the backends store them.
COLUMNS = "time, address, event, mac, client_id, hostname, giaddr, circuit_id, remote_id, lease_end, server, server_id"
# Pruning deletes at most this many rows per transaction, so a query or a
# batch of records never waits behind a year's worth of deletes.
PRUNE_BATCH = 5000


class HistoryBackend(Protocol):
    """
    One database for L{WriteBehindHistory}; every method but C{connect}
    takes the connection it made, and all run on the writer thread.
    """

    description: str
    transient_errors: tuple[type[BaseException], ...]

    def connect(self) -> Any: ...

    def write(self, connection: Any, batch: Sequence[HistoryRecord]) -> None: ...

    def select(self, connection: Any, key: IPv4Address | bytes, start: float, end: float, limit: int) -> tuple[list[HistoryRecord], bool]: ...

    def prune(self, connection: Any, before: float, batch: int) -> int: ...

    def close(self, connection: Any) -> None: ...


@implementer(ILeaseHistory)
class WriteBehindHistory:
    """
    @param max_pending: records queued for the writer at most; beyond, a
        record is dropped and counted (C{dropped}), never waited for.
    """

    log = Logger()

    def __init__(self, backend: HistoryBackend, reactor: Any = None, max_pending: int = 100_000) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.backend = backend
        self.reactor = reactor
        self.max_pending = max_pending
        self.counters: collections.Counter = collections.Counter()
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        # Opened here, so a history that cannot be opened fails the start
        # with the database's reason; reopened by the writer after a failure.
        self._connection: Any = backend.connect()
        self._thread = threading.Thread(target=self._run, name="lease-history", daemon=True)
        self._thread.start()

    # The reactor's side ----------------------------------------------------

    def append(self, record: HistoryRecord) -> bool:
        if self._closing or len(self._queue) >= self.max_pending:
            self.counters["dropped"] += 1
            return False
        self._queue.append(record)
        self.counters["recorded"] += 1
        if len(self._queue) == 1:
            with self._wake:
                self._wake.notify()
        return True

    def select(self, key: IPv4Address | bytes, start: float, end: float, limit: int) -> Deferred:
        return self._call(lambda c: self.backend.select(c, key, start, end, limit))

    def prune(self, before: float) -> Deferred:
        return self._call(lambda c: self.backend.prune(c, before, PRUNE_BATCH))

    def close(self) -> Deferred:
        if self._closing:
            return succeed(None)
        d = self._call(lambda c: None)
        # Under the lock: the writer, once the queue is empty, sees this
        # rather than waiting out its timeout.
        with self._wake:
            self._closing = True
            self._wake.notify()

        def joined(result: Any) -> None:
            # Stopping must not fail on a database that is away: what could
            # not be written is counted as lost.
            self._thread.join(5.0)

        return d.addBoth(joined)

    def _call(self, work: Callable[[Any], Any]) -> Deferred:
        d: Deferred = Deferred()
        if self._closing:
            d.errback(RuntimeError("the lease history is closed"))
            return d
        self._queue.append((work, d))
        with self._wake:
            self._wake.notify()
        return d

    # The writer thread ----------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while True:
            with self._wake:
                while not queue:
                    if self._closing:
                        if self._connection is not None:
                            self.backend.close(self._connection)
                        return
                    self._wake.wait(1.0)
            if len(queue) < BATCH and isinstance(queue[0], HistoryRecord) and not self._closing:
                time.sleep(GATHER)
            batch: list[HistoryRecord] = []
            while queue and len(batch) < BATCH and isinstance(queue[0], HistoryRecord):
                batch.append(queue.popleft())
            if batch:
                try:
                    self._write(batch)
                except Exception as e:
                    # Not the database's weather but a fault: the batch is
                    # lost, counted and logged, and the writer goes on.
                    self.counters["lost"] += len(batch)
                    self._log("Lease history batch of {count} lost: {error}", count=len(batch), error=repr(e))
                continue
            work, d = queue.popleft()
            try:
                result = work(self._usable())
            except Exception as e:
                if isinstance(e, self.backend.transient_errors):
                    self._drop_connection()
                self.reactor.callFromThread(d.errback, e)
            else:
                self.reactor.callFromThread(d.callback, result)

    def _log(self, format: str, **fields: Any) -> None:
        # Log observers run on the reactor thread only.
        self.reactor.callFromThread(lambda: self.log.error(format, **fields))

    def _usable(self) -> Any:
        if self._connection is None:
            self._connection = self.backend.connect()
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                self.backend.close(connection)
            except Exception:
                pass

    def _write(self, batch: list[HistoryRecord]) -> None:
        delay = 0.1
        while True:
            started = time.monotonic()
            try:
                self.backend.write(self._usable(), batch)
            except self.backend.transient_errors as e:
                self._drop_connection()
                self.counters["write-failed"] += 1
                self._log(
                    "Cannot write the lease history to {where}: {error}; retrying",
                    where=self.backend.description, error=" ".join(str(e).split()),
                )
                if self._closing:
                    self.counters["lost"] += len(batch)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.counters["written"] += len(batch)
            self.counters["batches"] += 1
            self.counters["write-microseconds"] += int((time.monotonic() - started) * 1e6)
            return


def select_records(
    execute: Callable[[str, tuple], Any],
    placeholder: str,
    record: Callable[[tuple], HistoryRecord],
    key: IPv4Address | bytes,
    start: float,
    end: float,
    limit: int,
) -> tuple[list[HistoryRecord], bool]:
    """
    The records of one address or MAC from C{start} to C{end}, and from the
    ack of the earliest binding that may still have held at C{start} (its
    ack or renew is earlier, its lease end later), so intervals and "who
    at" are whole. At most C{limit}; the flag says whether more were left
    off. C{execute(sql, parameters)} returns a DB-API cursor; C{placeholder}
    is the driver's (C{?} or C{%s}).
    """
    column, value = ("address", int(key)) if isinstance(key, IPv4Address) else ("mac", key)
    p = placeholder
    earliest = execute(
        f"SELECT min(time) FROM lease_history WHERE {column} = {p} AND time < {p} AND event IN ('ack', 'renew')"
        f" AND (lease_end IS NULL OR lease_end > {p})",
        (value, start, start),
    ).fetchone()[0]
    first = start
    if earliest is not None:
        # Back to the ack that began it, when the earliest is a renewal.
        acked = execute(
            f"SELECT max(time) FROM lease_history WHERE {column} = {p} AND time <= {p} AND event = 'ack'",
            (value, earliest),
        ).fetchone()[0]
        first = earliest if acked is None else acked
    rows = execute(
        f"SELECT {COLUMNS} FROM lease_history WHERE {column} = {p} AND time >= {p} AND time <= {p}"
        f" ORDER BY time, id LIMIT {p}",
        (value, first, end, limit + 1),
    ).fetchall()
    return [record(r) for r in rows[:limit]], len(rows) > limit


def prune_statement(placeholder: str) -> str:
    """
    Delete one batch of the oldest records from before a time: the oldest
    by insertion, so it needs no index on time; the caller repeats while a
    whole batch went.
    """
    p = placeholder
    return f"DELETE FROM lease_history WHERE id IN (SELECT id FROM lease_history ORDER BY id LIMIT {p}) AND time < {p}"


def to_row(record: HistoryRecord, hostname: Callable[[str], Any] = str) -> tuple:
    """
    A record as the values of L{COLUMNS}: addresses as integers; C{hostname}
    converts the hostname for a database that needs it otherwise.
    """
    return (
        record.time,
        int(record.address),
        record.event.value,
        record.mac,
        record.client_id,
        hostname(record.hostname),
        None if record.giaddr is None else int(record.giaddr),
        record.circuit_id,
        record.remote_id,
        record.lease_end,
        record.server,
        None if record.server_id is None else int(record.server_id),
    )


def from_row(row: Sequence) -> HistoryRecord:
    """
    The record of a row of L{COLUMNS} (byte columns as any bytes-like; a
    hostname stored as bytes is decoded).
    """
    time_, address, event, mac, client_id, hostname, giaddr, circuit, remote, lease_end, server, server_id = row
    if not isinstance(hostname, str):
        hostname = bytes(hostname).decode("utf-8", "replace")
    return HistoryRecord(
        time_, IPv4Address(address), HistoryEvent(event), bytes(mac), bytes(client_id), hostname,
        None if giaddr is None else IPv4Address(giaddr), bytes(circuit), bytes(remote), lease_end, server,
        None if server_id is None else IPv4Address(server_id),
    )
