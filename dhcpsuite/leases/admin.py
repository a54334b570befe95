"""
C{dhcpsuite-db [-c FILE] check|init|upgrade}: the PostgreSQL lease
database's schema, as C{kea-admin db-init} / C{db-upgrade} do for Kea.

  - C{check}: print the schema version; exit 0 when it is the one this
    dhcpsuite uses, 1 when it needs C{init} or C{upgrade}.
  - C{init}: create the schema in an empty database (a server also does
    this itself on its first start).
  - C{upgrade}: bring an older schema up to date, in one transaction.

The database is the one C{[server.postgresql]} of the configuration names.
Exit 2 for a bad configuration, 3 when the database cannot be reached or its
schema is newer than this code.
"""

from __future__ import annotations

import argparse
import sys

from dhcpsuite.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dhcpsuite-db", description="Check, create or upgrade the PostgreSQL lease schema.")
    parser.add_argument("-c", "--config", default=None, help="configuration file (default: the daemon's)")
    parser.add_argument("action", choices=("check", "init", "upgrade"))
    args = parser.parse_args(argv)
    from dhcpsuite.tap import read_config

    try:
        config = read_config(args.config)
    except ConfigError as e:
        print(f"dhcpsuite-db: configuration error: {e}", file=sys.stderr)
        return 2
    server = config.section("server")
    if server is None:
        print(f"dhcpsuite-db: {config.source} has no [server] section", file=sys.stderr)
        return 2
    try:
        from dhcpsuite.leases import postgresql
    except ImportError:
        print("dhcpsuite-db: needs psycopg (pip install 'dhcpsuite[postgresql]')", file=sys.stderr)
        return 3
    from dhcpsuite.leases.writebehind import LeaseStoreError

    pg = server.postgresql
    description = postgresql.describe(pg)
    try:
        connection = postgresql.open_connection(pg)
        try:
            if args.action == "check":
                found = postgresql.schema_version(connection)
                connection.rollback()
                if found > postgresql.SCHEMA_VERSION:
                    raise postgresql.SchemaError(
                        f"{description}: schema version {found} is newer than this dhcpsuite's {postgresql.SCHEMA_VERSION}"
                    )
                state = "current" if found == postgresql.SCHEMA_VERSION else ("empty: run init" if found == 0 else "old: run upgrade")
                print(f"{description}: schema version {found} ({state})")
                return 0 if found == postgresql.SCHEMA_VERSION else 1
            found = postgresql.ensure_schema(
                connection, description, create=args.action == "init", upgrade=args.action == "upgrade"
            )
            if found == postgresql.SCHEMA_VERSION:
                print(f"{description}: schema version {found} is already current")
            else:
                print(f"{description}: schema version {found} -> {postgresql.SCHEMA_VERSION}")
            return 0
        finally:
            connection.close()
    except LeaseStoreError as e:
        print(f"dhcpsuite-db: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
