# -*- test-case-name: tests.unit.test_lease_stores -*-
"""
The embedded default lease store: the in-memory index, written behind to a
SQLite database by one writer thread with group commit.

Decisions read the index and never wait for the disk. Durability is asked for
with L{SQLiteLeaseStore.committed}: the writer takes every operation queued so
far, writes them in one transaction, commits (WAL, C{synchronous=FULL}: the
commit is on stable storage when it returns) and only then fires the waiting
Deferreds in the reactor thread. Under load many ACKs share one fsync.
"""

from __future__ import annotations

import bisect
import os
import queue
import sqlite3
import threading
import time
from ipaddress import IPv4Address
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.errors import StartupError
from dhcpsuite.interfaces import ICommitTimings, ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    address TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    client_key BLOB NOT NULL,
    mac BLOB NOT NULL,
    expires REAL NOT NULL,
    hostname TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
"""
_COLUMNS = 7
# One statement carries many rows: the writer thread must take the GIL back
# from a busy reactor thread for every statement it steps (up to the 5 ms
# switch interval each), so a batch is a few statements, never one per lease.
_ROWS_PER_STATEMENT = 4000
_BATCH_LIMIT = 16384
# Upper bounds (seconds) of the commit-latency histogram buckets.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"))


class LeaseStoreError(StartupError):
    """
    The lease database cannot be opened or is damaged (or, later, a commit
    failed).
    """


def _row(lease: Lease) -> tuple:
    return (
        str(lease.address),
        lease.state.value,
        lease.client_key,
        lease.mac,
        lease.expires,
        lease.hostname,
        lease.updated,
    )


@implementer(ILeaseStore, ICommitTimings)
class SQLiteLeaseStore(MemoryLeaseStore):
    log = Logger()
    commit_bucket_bounds = COMMIT_BUCKETS

    def __init__(self, path: str, reactor: Any = None) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.path = path
        self._reactor = reactor
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._enqueued = 0
        self._closed = False
        self._unreported_error: Exception | None = None
        self.commit_count = 0
        self.commit_seconds_total = 0.0
        # Written by the writer thread only; read (racily, harmlessly) by metrics.
        self.commit_buckets = [0] * len(COMMIT_BUCKETS)
        self._load()
        self._thread = threading.Thread(target=self._write_loop, name=f"lease-writer {path}", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o750, exist_ok=True)
        # Leases name clients (MACs, hostnames): owner and group only. SQLite
        # gives its -wal and -shm files the database file's mode.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o640))
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    def _load(self) -> None:
        try:
            connection = self._connect()
            check = connection.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise LeaseStoreError(
                    f"lease database {self.path} is damaged ({check}); move it aside to start with an empty one"
                )
            connection.executescript(_SCHEMA)
            # Row by row: a list of every row first would double the peak
            # memory of a large store, and the allocator keeps that peak.
            count = 0
            for row in connection.execute(
                "SELECT address, state, client_key, mac, expires, hostname, updated FROM leases"
            ):
                self._load_row(*row)
                count += 1
            connection.close()
        except sqlite3.DatabaseError as e:
            raise LeaseStoreError(
                f"cannot open lease database {self.path}: {e}; move it aside to start with an empty one"
            ) from None
        self.log.info("Loaded {count} leases from {path}", count=count, path=self.path)

    def _load_row(self, address, state, client_key, mac, expires, hostname, updated) -> None:
        try:
            lease = Lease(IPv4Address(address), LeaseState(state), bytes(client_key), bytes(mac), expires, hostname, updated)
        except ValueError as e:
            self.log.warn("Skipping unreadable lease row {address!r}: {error}", address=address, error=str(e))
            return
        self._index(lease)

    def put(self, lease: Lease, durable: bool = True) -> None:
        self._index(lease)
        if durable:
            self._enqueue((str(lease.address), _row(lease)))

    def remove(self, address: IPv4Address) -> None:
        self._unindex(address)
        self._enqueue((str(address), None))

    def _enqueue(self, operation: tuple[str, tuple | None]) -> None:
        if self._closed:
            raise LeaseStoreError("lease store is closed")
        self._enqueued += 1
        self._queue.put(operation)

    def committed(self) -> Deferred:
        if self._closed:
            return succeed(None)
        d: Deferred = Deferred()
        self._queue.put(d)
        return d

    def close(self) -> Deferred:
        if self._closed:
            return succeed(None)
        d = self.committed()
        self._closed = True
        self._queue.put(None)
        return d

    def _write_loop(self) -> None:
        connection = self._connect()
        # Older SQLite builds allow only 999 bound variables per statement.
        self._rows_per_statement = max(
            1, min(_ROWS_PER_STATEMENT, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _COLUMNS)
        )
        try:
            while True:
                batch = [self._queue.get()]
                while len(batch) < _BATCH_LIMIT:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = self._write_batch(connection, batch)
                if stop:
                    return
        finally:
            connection.close()

    def _write_batch(self, connection: sqlite3.Connection, batch: list) -> bool:
        waiting = []
        # The last operation on an address within the batch is the one that counts.
        final: dict[str, tuple | None] = {}
        stop = False
        for item in batch:
            if item is None:
                stop = True
            elif isinstance(item, Deferred):
                waiting.append(item)
            else:
                final[item[0]] = item[1]
        error = None
        if final:
            started = time.monotonic()
            upserts = [row for row in final.values() if row is not None]
            deletes = [address for address, row in final.items() if row is None]
            try:
                connection.execute("BEGIN")
                step = self._rows_per_statement
                for i in range(0, len(upserts), step):
                    chunk = upserts[i : i + step]
                    placeholders = ",".join(["(" + ",".join("?" * _COLUMNS) + ")"] * len(chunk))
                    connection.execute(
                        f"INSERT OR REPLACE INTO leases VALUES {placeholders}", [v for row in chunk for v in row]
                    )
                for i in range(0, len(deletes), step):
                    chunk = deletes[i : i + step]
                    connection.execute(f"DELETE FROM leases WHERE address IN ({','.join('?' * len(chunk))})", chunk)
                connection.execute("COMMIT")
            except sqlite3.Error as e:
                error = e
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            elapsed = time.monotonic() - started
            self.commit_count += 1
            self.commit_seconds_total += elapsed
            self.commit_buckets[bisect.bisect_left(COMMIT_BUCKETS, elapsed)] += 1
        if error is not None:
            self.log.error("Lease commit to {path} failed: {error}", path=self.path, error=str(error))
            # Whoever waits next learns of it, even if nobody waited in this
            # batch: committed() promises every *earlier* put is stored.
            self._unreported_error = error
        if waiting:
            error, self._unreported_error = self._unreported_error, None
            self._reactor.callFromThread(self._fire, waiting, error)
        return stop

    def _fire(self, waiting: list[Deferred], error: Exception | None) -> None:
        for d in waiting:
            if error is None:
                d.callback(None)
            else:
                d.errback(LeaseStoreError(f"lease commit to {self.path} failed: {error}"))
