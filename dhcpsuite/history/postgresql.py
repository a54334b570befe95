# -*- test-case-name: tests.integration.test_history_postgresql -*-
"""
The history as a C{lease_history} table in the shared PostgreSQL lease
database (with C{lease_store = "postgresql"}): every server of a cluster
appends to it, so one query answers for all of them (C{server} says which).
Written behind (L{dhcpsuite.history.writebehind}) on a connection of its
own, one COPY per batch.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any, Sequence

import psycopg
from zope.interface import implementer

from dhcpsuite.history.events import HistoryRecord
from dhcpsuite.history.writebehind import COLUMNS, WriteBehindHistory, from_row, prune_statement, select_records, to_row
from dhcpsuite.interfaces import ILeaseHistory
from dhcpsuite.leases.postgresql import connect_arguments, describe
from dhcpsuite.server.config import PostgreSQLConfig

# Hostnames as bytes: text from the network may hold NUL, which a
# PostgreSQL text column refuses.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS lease_history (
    id bigserial PRIMARY KEY,
    time double precision NOT NULL,
    address bigint NOT NULL,
    event text NOT NULL,
    mac bytea NOT NULL,
    client_id bytea NOT NULL,
    hostname bytea NOT NULL,
    giaddr bigint,
    circuit_id bytea NOT NULL,
    remote_id bytea NOT NULL,
    lease_end double precision,
    server text NOT NULL,
    server_id bigint
);
CREATE INDEX IF NOT EXISTS lease_history_address_time ON lease_history (address, time);
CREATE INDEX IF NOT EXISTS lease_history_mac_time ON lease_history (mac, time);
"""


def _hostname(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class PostgreSQLHistoryBackend:
    transient_errors = (psycopg.Error, OSError)

    def __init__(self, config: PostgreSQLConfig) -> None:
        self.config = config
        self.description = describe(config) + " (lease_history)"

    def connect(self) -> psycopg.Connection:
        connection = psycopg.connect(**connect_arguments(self.config), autocommit=True)
        try:
            # Servers starting together may race to create it: the loser's
            # CREATE fails on the catalog, and the table is there anyway.
            for attempt in (1, 2):
                try:
                    with connection.transaction():
                        connection.execute(_SCHEMA)
                    break
                except psycopg.errors.UniqueViolation:
                    if attempt == 2:
                        raise
        except BaseException:
            connection.close()
            raise
        return connection

    def write(self, connection: psycopg.Connection, batch: Sequence[HistoryRecord]) -> None:
        with connection.transaction():
            with connection.cursor() as cursor:
                with cursor.copy(f"COPY lease_history ({COLUMNS}) FROM STDIN") as copy:
                    for record in batch:
                        copy.write_row(to_row(record, _hostname))

    def select(self, connection: psycopg.Connection, key: IPv4Address | bytes, start: float, end: float, limit: int) -> tuple[list[HistoryRecord], bool]:
        return select_records(connection.execute, "%s", from_row, key, start, end, limit)

    def prune(self, connection: psycopg.Connection, before: float, batch: int) -> int:
        with connection.transaction():
            return connection.execute(prune_statement("%s"), (batch, before)).rowcount

    def close(self, connection: psycopg.Connection) -> None:
        connection.close()


@implementer(ILeaseHistory)
class PostgreSQLHistory(WriteBehindHistory):
    def __init__(self, config: PostgreSQLConfig, reactor: Any = None, max_pending: int = 100_000) -> None:
        super().__init__(PostgreSQLHistoryBackend(config), reactor=reactor, max_pending=max_pending)
