# -*- test-case-name: tests.unit.test_history -*-
"""
The history in a SQLite file of its own beside the lease database
(C{lease-history.sqlite3} in the state directory), written behind
(L{dhcpsuite.history.writebehind}).
"""

from __future__ import annotations

import sqlite3
from ipaddress import IPv4Address
from typing import Any, Sequence

from zope.interface import implementer

from dhcpsuite.history.events import HistoryRecord
from dhcpsuite.history.writebehind import COLUMNS, WriteBehindHistory, from_row, prune_statement, select_records, to_row
from dhcpsuite.interfaces import ILeaseHistory
from dhcpsuite.sqlitefile import open_private

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
_FIELDS = 12
_ROW_PLACEHOLDERS = "(" + ",".join("?" * _FIELDS) + ")"
# Many rows per statement: the writer thread takes the GIL back from a busy
# reactor for every statement it steps (executemany steps one per row), so
# a batch is a few statements (as in dhcpsuite.leases.sqlite).
_ROWS_PER_STATEMENT = 1000


class SQLiteHistoryBackend:
    transient_errors = (sqlite3.Error, OSError)

    def __init__(self, path: str) -> None:
        self.path = path
        self.description = path
        self.rows_per_statement = 1

    def connect(self) -> sqlite3.Connection:
        # NORMAL: a power cut may lose the last batch, never corrupt the file;
        # the lease store, not the history, decides what a client holds.
        connection, self.rows_per_statement = open_private(self.path, "NORMAL", _FIELDS, _ROWS_PER_STATEMENT)
        try:
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    def write(self, connection: sqlite3.Connection, batch: Sequence[HistoryRecord]) -> None:
        try:
            connection.execute("BEGIN")
            step = self.rows_per_statement
            for i in range(0, len(batch), step):
                chunk = batch[i : i + step]
                connection.execute(
                    f"INSERT INTO lease_history ({COLUMNS}) VALUES {','.join([_ROW_PLACEHOLDERS] * len(chunk))}",
                    [value for record in chunk for value in to_row(record)],
                )
            connection.execute("COMMIT")
        except BaseException:
            _rollback(connection)
            raise

    def select(self, connection: sqlite3.Connection, key: IPv4Address | bytes, start: float, end: float, limit: int) -> tuple[list[HistoryRecord], bool]:
        return select_records(connection.execute, "?", from_row, key, start, end, limit)

    def prune(self, connection: sqlite3.Connection, before: float, batch: int) -> int:
        return _prune(connection, before, batch)

    def close(self, connection: sqlite3.Connection) -> None:
        connection.close()


@implementer(ILeaseHistory)
class SQLiteHistory(WriteBehindHistory):
    def __init__(self, path: str, reactor: Any = None, max_pending: int = 100_000) -> None:
        self.path = path
        super().__init__(SQLiteHistoryBackend(path), reactor=reactor, max_pending=max_pending)


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _prune(connection: sqlite3.Connection, before: float, batch: int) -> int:
    connection.execute("BEGIN")
    try:
        deleted = connection.execute(prune_statement("?"), (batch, before)).rowcount
        connection.execute("COMMIT")
    except BaseException:
        _rollback(connection)
        raise
    return deleted
