"""
The lease-store backends by the name C{[server] lease_store} gives them: the
one place a backend is chosen.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from dhcpsuite.interfaces import IAddressShare, ILeaseStore

if TYPE_CHECKING:
    from dhcpsuite.server.config import ServerConfig

# The SQLite file's name in the state directory.
LEASE_DB_NAME = "server-leases.sqlite3"

StoreFactory = Callable[["ServerConfig", str, Any], ILeaseStore]


def _memory(config: "ServerConfig", state_dir: str, reactor: Any) -> ILeaseStore:
    from dhcpsuite.leases.memory import MemoryLeaseStore

    return MemoryLeaseStore()


def _sqlite(config: "ServerConfig", state_dir: str, reactor: Any) -> ILeaseStore:
    from dhcpsuite.leases.sqlite import SQLiteLeaseStore

    return SQLiteLeaseStore(os.path.join(state_dir, LEASE_DB_NAME), reactor=reactor,
                            commit_interval=config.commit_interval)


def _postgresql(config: "ServerConfig", state_dir: str, reactor: Any) -> ILeaseStore:
    # Imported here: psycopg is needed only by those who choose this store.
    try:
        from dhcpsuite.leases.postgresql import PostgreSQLLeaseStore
    except ImportError as e:
        from dhcpsuite.leases.writebehind import LeaseStoreError

        raise LeaseStoreError(
            f"lease_store = \"postgresql\" needs psycopg 3 ({e}); pip install 'dhcpsuite[postgresql]'"
        ) from None

    return PostgreSQLLeaseStore(config.postgresql, reactor=reactor, pools=served_pools(config))


def served_pools(config: "ServerConfig") -> list[tuple[str, str]]:
    """
    The configuration's pools as (first, last) address texts, as the
    members of a cluster compare them.
    """
    return [(str(pool.first), str(pool.last)) for subnet in config.subnets for pool in subnet.pools]


STORES: dict[str, StoreFactory] = {
    "sqlite": _sqlite,
    "memory": _memory,
    "postgresql": _postgresql,
}


def make_store(config: "ServerConfig", state_dir: str, reactor: Any) -> ILeaseStore:
    return STORES[config.lease_store](config, state_dir, reactor)


def _whole(store: ILeaseStore) -> IAddressShare:
    from dhcpsuite.server.shares import WholeShare

    return WholeShare()


def _cluster_share(store: ILeaseStore) -> IAddressShare:
    # A store given from outside (tests) may be another kind than configured.
    from dhcpsuite.interfaces import ICluster

    cluster = ICluster(store, None)
    return cluster.share if cluster is not None else _whole(store)


# Which free addresses a server offers new clients first, by backend: all of
# them unless other servers share the store.
SHARES: dict[str, Callable[[ILeaseStore], IAddressShare]] = {
    "sqlite": _whole,
    "memory": _whole,
    "postgresql": _cluster_share,
}


def make_share(config: "ServerConfig", store: ILeaseStore) -> IAddressShare:
    return SHARES[config.lease_store](store)
