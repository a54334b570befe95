# -*- test-case-name: tests.unit.test_lease_stores -*-
"""
The write-behind machinery both persistent lease stores share: the in-memory
index, a queue of durable changes, writer threads that take everything queued
so far and write it in one transaction (group commit), the commit-latency
histogram, and what happens when a commit fails.

A backend (L{WriteBackend}) supplies only "connect", "write this batch in one
transaction" and "load everything"; this module decides the rest, once:

  - Decisions read the index and never wait for the database. Durability is
    asked for with L{WriteBehindStore.committed}, whose Deferred fires in the
    reactor thread only once every earlier durable change is committed.
  - A failed batch is not dropped: its changes stay pending (the last change
    per address wins) and are retried with backoff until they commit, so the
    index and the database converge as soon as the database is back. Every
    C{committed()} waiting meanwhile fails: no ACK leaves without a commit.
    A writer that cannot connect retries the same way instead of dying.
  - Failures are counted and logged once per L{FAILURE_LOG_INTERVAL}, not per
    batch; the recovery is logged with how long it took.
  - A backend that shares its database with other servers may refuse a put
    (another server holds the address): the writer hands back the row that
    won, and the index takes it before the waiters fire, so the caller sees
    the address is not its client's.

Several writer lanes (one thread and one connection each) may share the
work; an address always goes to the same lane, so its changes stay in order.
"""

from __future__ import annotations

import bisect
import queue
import socket
import threading
import time
from ipaddress import IPv4Address
from typing import Any, Iterable, Protocol, Sequence

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.errors import StartupError
from dhcpsuite.interfaces import ICommitTimings, ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import STATE_NUMBERS, MemoryLeaseStore, load_rows

# Upper bounds (seconds) of the commit-latency histogram buckets.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"))
# Most queue items one batch takes.
BATCH_LIMIT = 16384
# Seconds between log lines while commits keep failing.
FAILURE_LOG_INTERVAL = 10.0


class LeaseStoreError(StartupError):
    """
    The lease database cannot be opened, is damaged or refused (at start), or
    a commit failed (then given to the failed C{committed()} Deferreds).
    """


@attrs.frozen
class Conflict:
    """
    A put the database refused because another server holds the address.

    @ivar ours: the lease this store tried to write.
    @ivar winner: the row the database holds for the address, or L{None}.
    """

    ours: Lease
    winner: Lease | None


class WriteBackend(Protocol):
    """
    What a database gives the write-behind store. C{connect}, C{write} and
    C{close} run in a writer thread, C{load} in the reactor thread at start.
    """

    #: For log lines and errors: a path or a connection description.
    description: str
    #: Exceptions a connect or a write may raise when the database is
    #: (perhaps for now) unusable; anything else is a bug and kills nothing
    #: either, but is logged with its traceback.
    transient_errors: tuple[type[BaseException], ...]
    #: Backoff between retries while the database fails (seconds).
    retry_first: float
    retry_most: float
    # Optional, read with getattr (0 when absent): commit_interval, the least
    # time (seconds) between the starts of two commits while changes keep
    # coming (group commit).

    def load(self) -> Iterable[tuple]:
        """
        Check (and create or upgrade) the schema and yield every stored
        lease as L{row_values} gives it. Raises L{LeaseStoreError} with one
        line for the operator.
        """

    def connect(self) -> Any:
        """
        A new connection for one writer lane.
        """

    def write(self, connection: Any, upserts: Sequence[Lease], deletes: Sequence[IPv4Address]) -> list[Conflict]:
        """
        Write C{upserts} and C{deletes} (at most one per address) in one
        transaction and commit it durably; return the puts refused.
        """

    def close(self, connection: Any) -> None:
        """
        Close a connection, quietly.
        """


class _Lane:
    """
    One writer thread with its queue and its connection.
    """

    def __init__(self, store: "WriteBehindStore", number: int) -> None:
        self.store = store
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        # The writer's connection while it has one (read by tests only).
        self.connection: Any = None
        self.thread = threading.Thread(
            target=self.run, name=f"lease-writer {number} {store.backend.description}", daemon=True
        )

    def run(self) -> None:
        store = self.store
        backend = store.backend
        connection = None
        # address -> the lease to write, or None to delete; kept across failures.
        pending: dict[IPv4Address, Lease | None] = {}
        # How many queued changes each pending address stands for.
        changes: dict[IPv4Address, int] = {}
        delay = backend.retry_first
        # While failing: the last error, and when the next attempt is due.
        # Changes and waiters arriving before then do not trigger one (a
        # dead database is not hammered at packet rate): the waiters wait
        # for that attempt and learn its outcome.
        last_error: BaseException | None = None
        retry_at = 0.0
        waiting: list[Deferred] = []
        stop = False
        # Group commit under load: at most one commit per interval, so a
        # busy server's changes share a transaction (and an fsync) instead
        # of each paying one; an idle server's first change is not delayed.
        interval = getattr(backend, "commit_interval", 0.0)
        last_commit = float("-inf")
        # Connected from the start, not at the first batch: the daemon holds
        # its database open while it runs (what an offline import checks
        # for), and a broken database shows at once. A failure here is
        # retried, and counted, by the first batch.
        connection, _ = self._connect()
        self.connection = connection
        try:
            while not stop:
                timeout = max(0.0, retry_at - time.monotonic()) if pending else None
                try:
                    items = [self.queue.get(timeout=timeout)]
                except queue.Empty:
                    items = []
                stop = self._take(items, pending, changes, waiting)
                if interval and pending and last_error is None and not stop:
                    wait = last_commit + interval - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                        stop = self._take([], pending, changes, waiting)
                conflicts: list[Conflict] = []
                error: BaseException | None = None
                committed: dict[IPv4Address, int] = {}
                if pending:
                    if last_error is not None and time.monotonic() < retry_at and not stop:
                        continue
                    else:
                        if connection is None:
                            connection, error = self._connect()
                            self.connection = connection
                        if connection is not None:
                            last_commit = time.monotonic()
                            conflicts, error = self._write(connection, pending)
                            if error is not None:
                                # A fresh connection for the retry: after a lost
                                # server or a remounted disk the old one is useless.
                                backend.close(connection)
                                connection = self.connection = None
                        if error is None:
                            pending.clear()
                            committed, changes = changes, {}
                            delay = backend.retry_first
                            last_error = None
                            store._succeeded()
                        else:
                            last_error = error
                            retry_at = time.monotonic() + delay
                            delay = min(delay * 2, backend.retry_most)
                            store._failed(error, len(pending))
                if waiting or conflicts or committed:
                    store._reactor.callFromThread(store._fire, waiting, conflicts, error, committed)
                    waiting = []
            if pending:
                store._lost_at_close(len(pending))
        finally:
            if connection is not None:
                backend.close(connection)

    def _take(self, items: list, pending: dict, changes: dict, waiting: list[Deferred]) -> bool:
        """
        C{items} and whatever else is queued now (up to L{BATCH_LIMIT}) into
        the batch: changes into C{pending} (the last per address wins) and
        C{changes}, commit waiters into C{waiting}; whether a stop came.
        """
        while len(items) < BATCH_LIMIT:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        stop = False
        for item in items:
            if item is None:
                stop = True
            elif isinstance(item, Deferred):
                waiting.append(item)
            else:
                pending[item[0]] = item[1]
                changes[item[0]] = changes.get(item[0], 0) + 1
        return stop

    def _connect(self) -> tuple[Any, BaseException | None]:
        store = self.store
        try:
            connection = store.backend.connect()
        except store.backend.transient_errors as e:
            return None, e
        except Exception as e:
            store.log.failure("Lease writer could not connect to {store}", store=store.backend.description)
            return None, e
        store.connects += 1
        return connection, None

    def _write(self, connection: Any, pending: dict) -> tuple[list[Conflict], BaseException | None]:
        store = self.store
        upserts = [lease for lease in pending.values() if lease is not None]
        deletes = [address for address, lease in pending.items() if lease is None]
        started = time.monotonic()
        try:
            conflicts = store.backend.write(connection, upserts, deletes)
        except store.backend.transient_errors as e:
            return [], e
        except Exception as e:
            store.log.failure("Lease writer failed on {store}", store=store.backend.description)
            return [], e
        elapsed = time.monotonic() - started
        store.commit_count += 1
        store.commit_seconds_total += elapsed
        store.commit_buckets[bisect.bisect_left(COMMIT_BUCKETS, elapsed)] += 1
        return conflicts, None


@implementer(ILeaseStore, ICommitTimings)
class WriteBehindStore(MemoryLeaseStore):
    """
    The index, written behind to C{backend} by C{lanes} writer threads.

    Counters (written by the writers, read racily and harmlessly by
    metrics): C{commit_count}, C{commit_seconds_total}, C{commit_buckets},
    C{commit_failures}, C{conflicts_lost}, C{connects} (the first connection
    of each lane and every reconnect) and L{unreachable_seconds}.
    """

    log = Logger()
    commit_bucket_bounds = COMMIT_BUCKETS

    def __init__(self, backend: WriteBackend, reactor: Any = None, lanes: int = 1) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.backend = backend
        self._reactor = reactor
        self._closed = False
        self.commit_count = 0
        self.commit_seconds_total = 0.0
        self.commit_buckets = [0] * len(COMMIT_BUCKETS)
        self.commit_failures = 0
        self.conflicts_lost = 0
        self.connects = 0
        self.learned = 0
        # Address -> changes queued here and not yet committed (reactor
        # thread only): what another server's row must not overwrite.
        self._unconfirmed: dict[IPv4Address, int] = {}
        # Failure bookkeeping, shared by the lanes.
        self._failure_lock = threading.Lock()
        self._failing_since: float | None = None
        self._failed_seconds = 0.0
        self._last_failure_log = 0.0
        self._failures_since_log = 0
        count = load_rows(self, backend.load())
        self.log.info("Loaded {count} leases from {store}", count=count, store=backend.description)
        self._lanes = [_Lane(self, n) for n in range(max(1, lanes))]
        for lane in self._lanes:
            lane.thread.start()

    @property
    def unreachable_seconds(self) -> float:
        """
        Seconds the database has failed commits, in total (the current
        outage included).
        """
        with self._failure_lock:
            since = self._failing_since
            return self._failed_seconds + (time.monotonic() - since if since is not None else 0.0)

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - len(self._lanes))

    def put(self, lease: Lease, durable: bool = True) -> None:
        self._index(lease)
        if durable:
            self._enqueue(lease.address, lease)

    def remove(self, address: IPv4Address) -> None:
        current = self.get(address)
        self._unindex(address)
        # An offer is never written (offers are not durable), so withdrawing
        # one has nothing of this server's to delete; on a shared database a
        # delete would remove whatever is there now: the binding another
        # server just committed for the same client and address (both
        # offered it, the client chose the other one).
        if current is not None and current.state is LeaseState.OFFERED:
            return
        self._enqueue(address, None)

    def _enqueue(self, address: IPv4Address, lease: Lease | None) -> None:
        if self._closed:
            raise LeaseStoreError("lease store is closed")
        unconfirmed = self._unconfirmed
        unconfirmed[address] = unconfirmed.get(address, 0) + 1
        lanes = self._lanes
        lane = lanes[0] if len(lanes) == 1 else lanes[int(address) % len(lanes)]
        lane.queue.put((address, lease))

    def committed(self) -> Deferred:
        if self._closed:
            return succeed(None)
        return self._wait_all()

    def _wait_all(self) -> Deferred:
        lanes = self._lanes
        if len(lanes) == 1:
            d: Deferred = Deferred()
            lanes[0].queue.put(d)
            return d
        return _all_of([self._wait_one(lane) for lane in lanes])

    @staticmethod
    def _wait_one(lane: _Lane) -> Deferred:
        d: Deferred = Deferred()
        lane.queue.put(d)
        return d

    def close(self) -> Deferred:
        """
        Write what is queued and stop the writers. Fires with L{None} even
        when the last write fails (that is logged): nothing waits on it but
        the shutdown.
        """
        if self._closed:
            return succeed(None)
        d = self._wait_all()
        self._closed = True
        for lane in self._lanes:
            lane.queue.put(None)
        d.addErrback(lambda _: None)
        return d

    def join(self, timeout: float) -> bool:
        """
        Wait (blocking) for the writer threads to end after L{close}; for tests.
        """
        for lane in self._lanes:
            lane.thread.join(timeout)
        return not any(lane.thread.is_alive() for lane in self._lanes)

    # In the reactor thread:

    def learn(self, rows: Iterable[tuple[IPv4Address, Lease | None]]) -> None:
        """
        Take what another server committed (C{None}: the row is gone),
        except where this server has a change of its own on the way: that
        change either wins in the database, or loses and brings the winner
        back as a conflict. In the reactor thread.
        """
        unconfirmed = self._unconfirmed
        for address, lease in rows:
            if address in unconfirmed:
                continue
            current = self.get(address)
            if lease is None:
                if current is not None and current.state is not LeaseState.OFFERED:
                    self._unindex(address)
                    self.learned += 1
            elif current != lease:
                self._index(lease)
                self.learned += 1

    def _fire(self, waiting: list[Deferred], conflicts: list[Conflict], error: BaseException | None,
              committed: dict[IPv4Address, int] | None = None) -> None:
        if committed:
            unconfirmed = self._unconfirmed
            for address, count in committed.items():
                left = unconfirmed.get(address, 0) - count
                if left > 0:
                    unconfirmed[address] = left
                else:
                    unconfirmed.pop(address, None)
        # The index takes what the database holds before anyone waiting
        # looks at it, unless this store has changed the address since.
        for conflict in conflicts:
            self.conflicts_lost += 1
            address = conflict.ours.address
            self.log.warn(
                "Lost {address} at commit: the lease database holds it for another client",
                address=str(address), client=conflict.ours.client_key.hex(),
            )
            if self.get(address) == conflict.ours:
                if conflict.winner is None:
                    self._unindex(address)
                else:
                    self._index(conflict.winner)
        if error is None:
            for d in waiting:
                d.callback(None)
            return
        failure = LeaseStoreError(f"lease commit to {self.backend.description} failed: {one_line(error)}")
        for d in waiting:
            d.errback(failure)

    # In the writer threads:

    def _failed(self, error: BaseException, pending: int) -> None:
        now = time.monotonic()
        with self._failure_lock:
            self.commit_failures += 1
            self._failures_since_log += 1
            first = self._failing_since is None
            if first:
                self._failing_since = now
            due = first or now - self._last_failure_log >= FAILURE_LOG_INTERVAL
            if due:
                self._last_failure_log = now
                failures, self._failures_since_log = self._failures_since_log, 0
        if due:
            self.log.error(
                "Lease commits to {store} failing ({failures} failed attempts since the last report, "
                "{pending} changes waiting; no ACK until they commit, retrying): {error}",
                store=self.backend.description, failures=failures, pending=pending, error=one_line(error),
            )

    def _succeeded(self) -> None:
        if self._failing_since is None:
            return
        with self._failure_lock:
            since, self._failing_since = self._failing_since, None
            if since is None:
                return
            outage = time.monotonic() - since
            self._failed_seconds += outage
            self._failures_since_log = 0
        self.log.info(
            "Lease commits to {store} work again after {seconds:.1f} s of failures",
            store=self.backend.description, seconds=outage,
        )

    def _lost_at_close(self, count: int) -> None:
        self.log.error(
            "Closed the lease store with {count} changes not committed to {store}",
            count=count, store=self.backend.description,
        )


def _all_of(deferreds: list[Deferred]) -> Deferred:
    """
    Fires with L{None} once all fired, or with the first failure once all fired.
    """
    result: Deferred = Deferred()
    remaining = [len(deferreds)]
    failures: list = []

    def one(outcome: Any) -> None:
        if not isinstance(outcome, type(None)):
            failures.append(outcome)
        remaining[0] -= 1
        if remaining[0] == 0:
            if failures:
                result.errback(failures[0])
            else:
                result.callback(None)

    for d in deferreds:
        d.addBoth(one)
    return result


def row_values(address: Any, state: str, client_key: bytes, mac: bytes, expires: float, hostname: str,
               updated: float) -> tuple | None:
    """
    A stored row as the store's loader takes it (L{load_rows}): the address
    as an integer, the state as its number, the rest as L{Lease} has them; L{None}
    (and a warning) for a row nobody can use, rather than a store that will
    not start. Made without a L{Lease} or an L{IPv4Address}: a start with
    hundreds of thousands of leases spends most of its time here.
    """
    try:
        if isinstance(address, str):
            value = int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
        else:
            value = int(IPv4Address(address))
        return (value, STATE_NUMBERS[state], bytes(client_key), bytes(mac), float(expires), str(hostname), float(updated))
    except KeyError:
        error = f"unknown state {state!r}"
    except (OSError, TypeError, ValueError) as e:
        error = str(e)
    WriteBehindStore.log.warn("Skipping unreadable lease row {address!r}: {error}", address=address, error=error)
    return None


def lease_row(lease: Lease) -> tuple:
    """
    A L{Lease} in the form L{row_values} gives (for a backend that holds
    leases as objects).
    """
    return (int(lease.address), STATE_NUMBERS[lease.state.value], lease.client_key, lease.mac, lease.expires,
            lease.hostname, lease.updated)


def lease_from_row(address: Any, state: str, client_key: bytes, mac: bytes, expires: float, hostname: str,
                   updated: float) -> Lease | None:
    """
    A stored row as a L{Lease}; L{None} (and a warning) for a row nobody
    can use, rather than a store that will not start.
    """
    try:
        return Lease(IPv4Address(address), LeaseState(state), bytes(client_key), bytes(mac), expires, hostname, updated)
    except ValueError as e:
        WriteBehindStore.log.warn("Skipping unreadable lease row {address!r}: {error}", address=address, error=str(e))
        return None


def one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
