# -*- test-case-name: tests.unit.test_history -*-
"""
The history in a SQLite file of its own beside the lease database
(C{lease-history.sqlite3} in the state directory), written behind
(L{dhcpsuite.history.writebehind}).
"""

from __future__ import annotations

import os
import sqlite3
from ipaddress import IPv4Address
from typing import Any, Sequence

from zope.interface import implementer

from dhcpsuite.history.events import HistoryEvent, HistoryRecord
from dhcpsuite.history.writebehind import WriteBehindHistory
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


class SQLiteHistoryBackend:
    transient_errors = (sqlite3.Error, OSError)

    def __init__(self, path: str) -> None:
        self.path = path
        self.description = path
        self.rows_per_statement = 1

    def connect(self) -> sqlite3.Connection:
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
            self.rows_per_statement = max(
                1, min(_ROWS_PER_STATEMENT, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _FIELDS)
            )
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
                    f"INSERT INTO lease_history ({_COLUMNS}) VALUES {','.join([_ROW_PLACEHOLDERS] * len(chunk))}",
                    [value for record in chunk for value in _row(record)],
                )
            connection.execute("COMMIT")
        except BaseException:
            _rollback(connection)
            raise

    def select(self, connection: sqlite3.Connection, key: IPv4Address | bytes, start: float, end: float, limit: int) -> tuple[list[HistoryRecord], bool]:
        return _select(connection, key, start, end, limit)

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


def _prune(connection: sqlite3.Connection, before: float, batch: int) -> int:
    """
    Delete one batch of the oldest records from before C{before}; the
    caller repeats while a whole batch went.
    """
    connection.execute("BEGIN")
    try:
        deleted = connection.execute(
            "DELETE FROM lease_history WHERE id IN (SELECT id FROM lease_history ORDER BY id LIMIT ?) AND time < ?",
            (batch, before),
        ).rowcount
        connection.execute("COMMIT")
    except BaseException:
        _rollback(connection)
        raise
    return deleted
