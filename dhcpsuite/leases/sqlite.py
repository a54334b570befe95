# -*- test-case-name: tests.unit.test_lease_stores -*-
"""
The embedded default lease store: the in-memory index, written behind to a
SQLite database (L{dhcpsuite.leases.writebehind}: one writer thread, group
commit, retries). WAL with C{synchronous=FULL}: a commit is on stable storage
when it returns, so under load many ACKs share one fsync.
"""

from __future__ import annotations

import sqlite3
from ipaddress import IPv4Address
from typing import Any, Iterator, Sequence

from dhcpsuite.leases.lease import Lease
from dhcpsuite.sqlitefile import open_private
from dhcpsuite.leases.writebehind import COMMIT_BUCKETS, Conflict, LeaseStoreError, WriteBehindStore, row_values

__all__ = ["COMMIT_BUCKETS", "LeaseStoreError", "SQLiteBackend", "SQLiteLeaseStore"]

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
# PRAGMA synchronous values; FULL syncs the WAL at every commit.
SYNCHRONOUS_FULL = 2
# Page cache (KiB) of the connection that reads every row once at start: a
# single pass gains nothing from SQLite's 2 MiB default, which the process
# would keep after the connection closes (~40 bytes a lease at 50,000).
_LOAD_CACHE_KIB = 64


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


class SQLiteBackend:
    """
    A SQLite file for L{WriteBehindStore}.
    """

    transient_errors = (sqlite3.Error, OSError)
    # A full or read-only disk is usually fixed by hand: retry often enough
    # that service resumes within a couple of seconds of the fix.
    retry_first = 0.1
    retry_most = 2.0

    def __init__(self, path: str, commit_interval: float = 0.0) -> None:
        self.path = path
        self.description = path
        # Read by the writer (WriteBehindStore): under load, one commit per
        # this many seconds carries every change made meanwhile.
        self.commit_interval = commit_interval

    def connect(self) -> sqlite3.Connection:
        # FULL: a commit is on stable storage when it returns, before the ACK.
        connection, self.rows_per_statement = open_private(self.path, "FULL", _COLUMNS, _ROWS_PER_STATEMENT)
        return connection

    def load(self) -> Iterator[tuple]:
        try:
            connection = self.connect()
        except (sqlite3.Error, OSError) as e:
            raise self._open_error(e) from None
        try:
            check = connection.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise LeaseStoreError(
                    f"lease database {self.path} is damaged ({check.splitlines()[0]}); "
                    "move it aside to start with an empty one"
                )
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA cache_size=-{_LOAD_CACHE_KIB}")
            # Row by row: a list of every row first would double the peak
            # memory of a large store, and the allocator keeps that peak.
            for row in connection.execute(
                "SELECT address, state, client_key, mac, expires, hostname, updated FROM leases"
            ):
                values = row_values(*row)
                if values is not None:
                    yield values
        except (sqlite3.Error, OSError) as e:
            raise self._open_error(e) from None
        finally:
            connection.close()

    def _open_error(self, error: BaseException) -> LeaseStoreError:
        """
        One line for the operator: a file that is not (or no longer) a
        database is to be moved aside; the rest (read-only, no space, no
        such directory) is the filesystem's to fix.
        """
        if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError):
            return LeaseStoreError(
                f"cannot open lease database {self.path}: {error}; move it aside to start with an empty one"
            )
        return LeaseStoreError(f"cannot open lease database {self.path}: {_reason(error)}")

    def write(self, connection: sqlite3.Connection, upserts: Sequence[Lease], deletes: Sequence[IPv4Address]) -> list[Conflict]:
        step = self.rows_per_statement
        try:
            connection.execute("BEGIN")
            for i in range(0, len(upserts), step):
                chunk = upserts[i : i + step]
                placeholders = ",".join(["(" + ",".join("?" * _COLUMNS) + ")"] * len(chunk))
                connection.execute(
                    f"INSERT OR REPLACE INTO leases VALUES {placeholders}", [v for lease in chunk for v in _row(lease)]
                )
            for i in range(0, len(deletes), step):
                chunk = [str(a) for a in deletes[i : i + step]]
                connection.execute(f"DELETE FROM leases WHERE address IN ({','.join('?' * len(chunk))})", chunk)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise
        # One writer owns the file: nobody else's put can win.
        return []

    def close(self, connection: sqlite3.Connection) -> None:
        try:
            connection.close()
        except sqlite3.Error:
            pass


class SQLiteLeaseStore(WriteBehindStore):
    def __init__(self, path: str, reactor: Any = None, commit_interval: float = 0.0) -> None:
        self.path = path
        super().__init__(SQLiteBackend(path, commit_interval), reactor=reactor)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
