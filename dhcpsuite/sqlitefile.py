"""
Opening the daemon's own SQLite files (the lease store, the lease history)
the same way: private modes, WAL, and how many rows one statement may carry.
"""

from __future__ import annotations

import os
import sqlite3


def open_private(path: str, synchronous: str, columns: int, most_rows: int) -> tuple[sqlite3.Connection, int]:
    """
    Open (creating it if need be) the SQLite database at C{path} in WAL
    mode with C{PRAGMA synchronous=}C{synchronous}.

    The file is created mode 0640 in a directory of mode 0750: it names
    clients (MACs, hostnames, line ids), so owner and group only; SQLite
    gives its C{-wal} and C{-shm} files the database file's mode.

    @return: the connection (usable from any thread) and the number of rows
        of C{columns} values a multi-row statement may carry (older SQLite
        builds allow only 999 bound variables), at most C{most_rows}.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o750, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o640))
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        # Read to the end: the PRAGMA answers a row, and a statement left
        # unread keeps every later COMMIT on this connection failing until a
        # collector finalises it (CPython does at once, PyPy does not).
        connection.execute("PRAGMA journal_mode=WAL").fetchall()
        connection.execute(f"PRAGMA synchronous={synchronous}")
        rows = max(1, min(most_rows, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // columns))
    except BaseException:
        connection.close()
        raise
    return connection, rows
