# -*- test-case-name: tests.unit.test_history -*-
"""
The history in a SQLite file of its own beside the lease database
(C{lease-history.sqlite3} in the state directory), written behind by one
thread in batches: the ACK path only appends to a bounded queue, so a slow
disk delays the history, never a reply. Queries and pruning go through the
same thread in order, so a query sees every record appended before it.
"""

from __future__ import annotations

import collections
import os
import sqlite3
import threading
import time
from ipaddress import IPv4Address
from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.history.events import HistoryEvent, HistoryRecord
from dhcpsuite.interfaces import ILeaseHistory

HISTORY_DB_NAME = "lease-history.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lease_history (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    address INTEGER NOT NULL,
    event TEXT NOT NULL,
    mac BLOB NOT NULL,
    client_id BLOB NOT NULL,
    hostname TEXT NOT NULL,
    giaddr INTEGER,
    circuit_id BLOB NOT NULL,
    remote_id BLOB NOT NULL,
    lease_end REAL,
    server TEXT NOT NULL,
    server_id INTEGER
);
CREATE INDEX IF NOT EXISTS lease_history_address_time ON lease_history (address, time);
CREATE INDEX IF NOT EXISTS lease_history_mac_time ON lease_history (mac, time);
"""
_COLUMNS = "time, address, event, mac, client_id, hostname, giaddr, circuit_id, remote_id, lease_end, server, server_id"
_FIELDS = 12
_ROW_PLACEHOLDERS = "(" + ",".join("?" * _FIELDS) + ")"
# Many rows per statement: the writer thread takes the GIL back from a busy
# reactor for every statement it steps (executemany steps one per row), so
# a batch is a few statements (as in dhcpsuite.leases.sqlite).
_ROWS_PER_STATEMENT = 1000
# Records written in one transaction at most; more wait for the next.
BATCH = 2000
# Seconds the writer lets records gather before a batch that is not full:
# fewer, larger transactions, and fewer turns at the GIL taken from the
# reactor. A query waits at most this long behind them.
GATHER = 0.1
# Pruning deletes at most this many rows per transaction, so a query or a
# batch of records never waits behind a year's worth of deletes.
PRUNE_BATCH = 5000


def _row(record: HistoryRecord) -> tuple:
    return (
        record.time,
        int(record.address),
        record.event.value,
        record.mac,
        record.client_id,
        record.hostname,
        None if record.giaddr is None else int(record.giaddr),
        record.circuit_id,
        record.remote_id,
        record.lease_end,
        record.server,
        None if record.server_id is None else int(record.server_id),
    )


def _record(row: tuple) -> HistoryRecord:
    time_, address, event, mac, client_id, hostname, giaddr, circuit, remote, lease_end, server, server_id = row
    return HistoryRecord(
        time=time_,
        address=IPv4Address(address),
        event=HistoryEvent(event),
        mac=bytes(mac),
        client_id=bytes(client_id),
        hostname=hostname,
        giaddr=None if giaddr is None else IPv4Address(giaddr),
        circuit_id=bytes(circuit),
        remote_id=bytes(remote),
        lease_end=lease_end,
        server=server,
        server_id=None if server_id is None else IPv4Address(server_id),
    )


@implementer(ILeaseHistory)
class SQLiteHistory:
    """
    @param max_pending: records queued for the writer at most; beyond, a
        record is dropped and counted (C{dropped}), never waited for.
    """

    log = Logger()

    def __init__(self, path: str, reactor: Any = None, max_pending: int = 100_000) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.path = path
        self.reactor = reactor
        self.max_pending = max_pending
        self.counters: collections.Counter = collections.Counter()
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        self._connection = self._connect()
        self._thread = threading.Thread(target=self._run, name="lease-history", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o750, exist_ok=True)
        # It names clients (MACs, hostnames, line ids): owner and group only.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o640))
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            # A power cut may lose the last batch, never corrupt the file;
            # the lease store, not the history, decides what a client holds.
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            # Older SQLite builds allow only 999 bound variables per statement.
            self._rows_per_statement = max(
                1, min(_ROWS_PER_STATEMENT, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _FIELDS)
            )
        except BaseException:
            connection.close()
            raise
        return connection

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
        return self._call(lambda c: _select(c, key, start, end, limit))

    def prune(self, before: float) -> Deferred:
        return self._call(lambda c: _prune(c, before))

    def close(self) -> Deferred:
        if self._closing:
            return succeed(None)
        d = self._call(lambda c: None)
        # Under the lock: the writer, once the queue is empty, sees this
        # rather than waiting out its timeout.
        with self._wake:
            self._closing = True
            self._wake.notify()

        def joined(result: Any) -> Any:
            self._thread.join(5.0)
            return result

        return d.addBoth(joined)

    def _call(self, work: Callable[[sqlite3.Connection], Any]) -> Deferred:
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
                        self._connection.close()
                        return
                    self._wake.wait(1.0)
            if len(queue) < BATCH and isinstance(queue[0], HistoryRecord) and not self._closing:
                time.sleep(GATHER)
            batch: list[HistoryRecord] = []
            while queue and len(batch) < BATCH and isinstance(queue[0], HistoryRecord):
                batch.append(queue.popleft())
            if batch:
                self._write(batch)
                continue
            work, d = queue.popleft()
            try:
                result = work(self._connection)
            except Exception as e:
                self.reactor.callFromThread(d.errback, e)
            else:
                self.reactor.callFromThread(d.callback, result)

    def _write(self, batch: list[HistoryRecord]) -> None:
        delay = 0.1
        while True:
            started = time.monotonic()
            try:
                self._connection.execute("BEGIN")
                step = self._rows_per_statement
                for i in range(0, len(batch), step):
                    chunk = batch[i : i + step]
                    self._connection.execute(
                        f"INSERT INTO lease_history ({_COLUMNS}) VALUES {','.join([_ROW_PLACEHOLDERS] * len(chunk))}",
                        [value for record in chunk for value in _row(record)],
                    )
                self._connection.execute("COMMIT")
            except (sqlite3.Error, OSError) as e:
                if self._connection.in_transaction:
                    try:
                        self._connection.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                self.counters["write-failed"] += 1
                self.log.error("Cannot write the lease history to {path}: {error}; retrying", path=self.path, error=str(e))
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


def _select(connection: sqlite3.Connection, key: IPv4Address | bytes, start: float, end: float, limit: int) -> tuple[list[HistoryRecord], bool]:
    """
    The records of one address or MAC from C{start} to C{end}, and from the
    earliest binding that may still have held at C{start} (its ack or renew
    is earlier, its lease end later), so intervals and "who at" are whole.
    At most C{limit}; the flag says whether more were left off.
    """
    column, value = ("address", int(key)) if isinstance(key, IPv4Address) else ("mac", key)
    earliest = connection.execute(
        f"SELECT min(time) FROM lease_history WHERE {column} = ? AND time < ? AND event IN ('ack', 'renew')"
        " AND (lease_end IS NULL OR lease_end > ?)",
        (value, start, start),
    ).fetchone()[0]
    first = start
    if earliest is not None:
        # Back to the ack that began it, when the earliest is a renewal.
        acked = connection.execute(
            f"SELECT max(time) FROM lease_history WHERE {column} = ? AND time <= ? AND event = 'ack'", (value, earliest)
        ).fetchone()[0]
        first = earliest if acked is None else acked
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM lease_history WHERE {column} = ? AND time >= ? AND time <= ? ORDER BY time, id LIMIT ?",
        (value, first, end, limit + 1),
    ).fetchall()
    return [_record(r) for r in rows[:limit]], len(rows) > limit


def _prune(connection: sqlite3.Connection, before: float) -> int:
    """
    Delete one batch of the oldest records from before C{before}; the
    caller repeats while a whole batch went.
    """
    connection.execute("BEGIN")
    try:
        deleted = connection.execute(
            "DELETE FROM lease_history WHERE id IN (SELECT id FROM lease_history ORDER BY id LIMIT ?) AND time < ?",
            (PRUNE_BATCH, before),
        ).rowcount
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return deleted
