# -*- test-case-name: tests.unit.test_migration_importer -*-
"""
Offline import of another server's leases into our store, through
L{ILeaseStore} only (C{put} each binding, then wait for C{committed}), so it
works with every store that implements the interface.

Offline: the daemon must be stopped. Two writers on one database would each
keep an index the other does not see, so the import refuses to run while
any other process has the database open.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Generator

import attrs
from twisted.internet import defer

from dhcpsuite.errors import StartupError
from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.stores import LEASE_DB_NAME, STORES
from dhcpsuite.migration.leasefiles import LeaseFile
from dhcpsuite.migration.plan import ImportPlan, plan_import
from dhcpsuite.server.config import ServerConfig


class ImportRefused(StartupError):
    """
    The store cannot be written now (the daemon holds it, or it keeps
    nothing on disk).
    """


@attrs.frozen
class StoreKind:
    """
    How to open one kind of lease store offline, and who else has it open.
    """

    open: Callable[[ServerConfig, str, Any], ILeaseStore]
    holders: Callable[[ServerConfig, str], list[int]]


def _sqlite_path(state_dir: str) -> str:
    return os.path.join(state_dir, LEASE_DB_NAME)


def _sqlite_holders(config: ServerConfig, state_dir: str) -> list[int]:
    return processes_holding(_sqlite_path(state_dir))


def _memory_refused(config: ServerConfig, state_dir: str, reactor: Any) -> ILeaseStore:
    raise ImportRefused("server.lease_store is \"memory\": it keeps nothing between runs, so there is nothing to import into")


STORE_KINDS: dict[str, StoreKind] = {
    "sqlite": StoreKind(STORES["sqlite"], _sqlite_holders),
    "memory": StoreKind(_memory_refused, lambda config, state_dir: []),
    # A shared database arbitrates every write itself: an imported binding
    # that a running server has given to another client is refused at commit.
    "postgresql": StoreKind(STORES["postgresql"], lambda config, state_dir: []),
}


def processes_holding(path: str, proc: str = "/proc") -> list[int]:
    """
    The PIDs of other processes with C{path} (or its SQLite C{-wal}) open,
    read from C{/proc/PID/fd} as C{fuser} does.
    """
    wanted = {os.path.realpath(path), os.path.realpath(path) + "-wal"}
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        fd_dir = os.path.join(proc, entry, "fd")
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in names:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target in wanted:
                found.append(int(entry))
                break
    return found


@defer.inlineCallbacks
def import_leases(
    source: LeaseFile,
    config: ServerConfig,
    state_dir: str,
    reactor: Any,
    now: float,
    dry_run: bool = False,
    kind: StoreKind | None = None,
) -> Generator[Any, Any, ImportPlan]:
    """
    Plan the import against what the store holds, write the bindings and
    wait until they are committed.

    @param kind: how to open the store; by default the row of
        L{STORE_KINDS} for C{server.lease_store}.
    """
    kind = kind or STORE_KINDS[config.lease_store]
    holders = kind.holders(config, state_dir)
    if holders:
        raise ImportRefused(
            f"the lease store is in use by process {', '.join(map(str, holders))}: stop the daemon before importing"
        )
    store = kind.open(config, state_dir, reactor)
    try:
        plan = plan_import(source, config, store, now)
        if not dry_run:
            for entry in plan.imported:
                store.put(entry.lease)
            yield store.committed()
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            yield close()
    return plan
