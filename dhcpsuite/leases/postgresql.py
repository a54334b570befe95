# -*- test-case-name: tests.unit.test_lease_store_postgresql -*-
"""
The lease store on a PostgreSQL database several servers may share: the
in-memory index, written behind (L{dhcpsuite.leases.writebehind}) by writer
threads, each with its own psycopg connection.

A batch is one statement, whatever its size (one round trip, one
transaction, one WAL flush): a conditional upsert of the batch, the
deletes, and a notification for the other servers. The database
is the arbiter of who holds an address: the upsert replaces a row only when
it is the same client's, free, lapsed, or a quarantine (DECLINE), so two
servers with stale caches can never both commit one address to different
clients; the put that loses is handed back with the row that won. A
reclaim (the same client's row marked expired) applies only to a row that
has lapsed: a server that has not yet learned another one's renewal of
that client must not expire the fresh binding.

Why a writer thread and a blocking connection rather than psycopg's asyncio
side or a pool: Twisted here runs its own reactor, not asyncio; group commit
wants one ordered stream of batches per connection anyway, and a thread per
connection keeps the reactor thread free of any database work.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from ipaddress import IPv4Address
from typing import Any, Iterator, Sequence

import psycopg
from zope.interface import implementer

from dhcpsuite.interfaces import ICluster

from dhcpsuite.leases.lease import Lease
from dhcpsuite.leases.writebehind import Conflict, LeaseStoreError, WriteBehindStore, lease_from_row, one_line, row_values
from dhcpsuite.server.config import PostgreSQLConfig
from dhcpsuite.server.shares import RendezvousShare, share_sizes

# The schema version this code writes; see MIGRATIONS.
SCHEMA_VERSION = 2
# version -> statements that bring the schema from version - 1 to it.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """
        CREATE TABLE leases (
            address inet PRIMARY KEY,
            state text NOT NULL
                CHECK (state IN ('offered', 'bound', 'released', 'expired', 'declined')),
            client_key bytea NOT NULL,
            mac bytea NOT NULL,
            -- Seconds since the epoch (the servers' clocks), as in memory.
            expires double precision NOT NULL,
            hostname text NOT NULL DEFAULT '',
            updated double precision NOT NULL
        )
        """,
        # No index beyond the key: every lookup is by address, and each
        # index costs every write of every binding.
    ),
    2: (
        # The servers sharing the database: each one's pools (to refuse a
        # pair whose pools overlap but differ) and a heartbeat.
        """
        CREATE TABLE members (
            name text PRIMARY KEY,
            pools text NOT NULL,
            started timestamptz NOT NULL DEFAULT now(),
            heartbeat timestamptz NOT NULL DEFAULT now()
        )
        """,
    ),
}
# Seconds between heartbeats, and between looks at who else is alive (a
# look is one small query; it bounds how soon a killed member's share is
# handed out after its session ended).
HEARTBEAT_INTERVAL = 1.0
LOOK_INTERVAL = 0.25
# Rows of members gone this long are deleted when a server joins.
MEMBER_FORGET = 86400
# Any constant: serialises schema creation between servers starting at once.
_SCHEMA_LOCK = 0x64686370
# Session advisory locks (this, hashtext(member name)): held by each
# member's listener connection while its session lives.
_MEMBER_LOCK = 0x6D656D62
# Joins and clean leaves, so the others recompute shares at once.
MEMBERS_CHANNEL = "dhcpsuite_members"
# Every member with whether its session holds its lock, and its heartbeat's
# age by the database's clock (the servers' clocks may differ).
_MEMBERS = f"""
SELECT m.name, m.pools, m.started, extract(epoch FROM now() - m.heartbeat)::float8,
       EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 2
               AND k.classid = {_MEMBER_LOCK}::oid AND k.objid = hashtext(m.name)::oid)
FROM members m ORDER BY m.name
"""

# Other servers learn a batch's addresses from one notification per chunk
# (a payload must stay under 8,000 bytes).
CHANNEL = "dhcpsuite_leases"
_PAYLOAD_ADDRESSES = 400
# A whole batch is this one statement, run in autocommit: one round trip,
# one transaction, one WAL flush. The columns come as array literals of
# quoted plain tokens (addresses, states, hex, numbers: nothing to escape;
# the hostname travels as hex of its UTF-8), which psycopg passes as seven
# strings instead of dumping every value. The upsert is conditional: the
# database is the arbiter of who holds an address. The notification names
# what changed, for the other servers, and is delivered only on commit.
_BATCH = f"""
WITH batch AS (
    SELECT a::inet AS address, s AS state, decode(k, 'hex') AS client_key, decode(m, 'hex') AS mac,
           e::float8 AS expires, convert_from(decode(h, 'hex'), 'UTF8') AS hostname, u::float8 AS updated
    FROM unnest(%(a)s::text[], %(s)s::text[], %(k)s::text[], %(m)s::text[], %(e)s::text[], %(h)s::text[],
                %(u)s::text[]) AS t(a, s, k, m, e, h, u)
), up AS (
    INSERT INTO leases AS l (address, state, client_key, mac, expires, hostname, updated)
    SELECT * FROM batch ORDER BY address
    ON CONFLICT (address) DO UPDATE SET
        state = EXCLUDED.state, client_key = EXCLUDED.client_key, mac = EXCLUDED.mac,
        expires = EXCLUDED.expires, hostname = EXCLUDED.hostname, updated = EXCLUDED.updated
    WHERE (l.client_key = EXCLUDED.client_key AND EXCLUDED.state <> 'expired')
       OR EXCLUDED.state = 'declined'
       OR l.state NOT IN ('offered', 'bound', 'declined')
       OR l.expires <= EXCLUDED.updated
    RETURNING l.address
), gone AS (
    DELETE FROM leases WHERE address = ANY(%(d)s::inet[]) RETURNING address
), changed AS (
    SELECT address, (row_number() OVER ()) / {_PAYLOAD_ADDRESSES} AS chunk
    FROM (SELECT address FROM up UNION ALL SELECT address FROM gone) AS c
), told AS (
    SELECT pg_notify('{CHANNEL}', %(token)s || ' ' || string_agg(host(address), ',')) FROM changed GROUP BY chunk
)
SELECT host(address) FROM up UNION ALL SELECT NULL FROM told
"""
_SELECT = "SELECT host(address), state, client_key, mac, expires, hostname, updated FROM leases"


class SchemaError(LeaseStoreError):
    """
    The database's schema is missing, older or newer than this code wants.
    """


def connect_arguments(config: PostgreSQLConfig) -> dict[str, Any]:
    """
    libpq connection parameters for C{config}; the password is read from
    its file now, so a rotated password is picked up at the next connect.
    """
    arguments: dict[str, Any] = dict(
        host=config.host,
        port=config.port,
        dbname=config.dbname,
        user=config.user,
        # libpq takes whole seconds (and treats 1 as 2).
        connect_timeout=max(2, math.ceil(config.connect_timeout)),
        application_name="dhcpsuite",
        # Over TCP: notice a dead server or path in seconds, not the kernel's hours.
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=3,
        tcp_user_timeout=int(config.connect_timeout * 1000),
        # A batch stuck behind another server's row lock gives up and retries.
        options=f"-c statement_timeout={int(max(5.0, 2 * config.connect_timeout) * 1000)}",
    )
    if config.password_file is not None:
        with open(config.password_file, encoding="utf-8") as f:
            arguments["password"] = f.readline().rstrip("\r\n")
    return arguments


def describe(config: PostgreSQLConfig) -> str:
    return f"postgresql://{config.user}@{config.host}:{config.port}/{config.dbname}"


def open_connection(config: PostgreSQLConfig) -> psycopg.Connection:
    """
    A connection for the operator-facing paths (start, C{dhcpsuite-db}):
    every failure becomes one L{LeaseStoreError} line.
    """
    try:
        return psycopg.connect(**connect_arguments(config))
    except OSError as e:
        raise LeaseStoreError(
            f"cannot read server.postgresql.password_file {config.password_file}: {e.strerror or e}"
        ) from None
    except psycopg.Error as e:
        raise LeaseStoreError(f"cannot connect to the lease database {describe(config)}: {one_line(e)}") from None


def schema_version(connection: psycopg.Connection) -> int:
    """
    The database's schema version; 0 when it has no dhcpsuite schema.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute("SELECT max(version) FROM schema_version")
        return cursor.fetchone()[0] or 0


def ensure_schema(connection: psycopg.Connection, description: str, create: bool = True, upgrade: bool = False) -> int:
    """
    Check the schema; create it in an empty database when C{create}, bring
    an older one up to date when C{upgrade}. Returns the version found.

    @raise SchemaError: newer than this code, or older and not upgraded.
    """
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        found = schema_version(connection)
        if found > SCHEMA_VERSION:
            raise SchemaError(
                f"lease database {description} has schema version {found}, newer than this dhcpsuite's "
                f"{SCHEMA_VERSION}; upgrade dhcpsuite"
            )
        if found == SCHEMA_VERSION:
            return found
        if (found == 0 and not create) or (found > 0 and not upgrade):
            action = "init" if found == 0 else "upgrade"
            raise SchemaError(
                f"lease database {description} has schema version {found}, this dhcpsuite needs "
                f"{SCHEMA_VERSION}; run dhcpsuite-db {action}"
            )
        if found == 0:
            connection.execute(
                "CREATE TABLE schema_version (version integer PRIMARY KEY, "
                "applied timestamptz NOT NULL DEFAULT now())"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                connection.execute(statement)
            connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    return found


class PostgreSQLBackend:
    """
    A PostgreSQL database for L{WriteBehindStore}.
    """

    # OSError: the password file went away between connects.
    transient_errors = (psycopg.Error, OSError)
    retry_first = 0.1
    # A restarting server is back in seconds; a failover of the database
    # takes longer, and every retry costs the database a connection attempt.
    retry_most = 5.0

    def __init__(self, config: PostgreSQLConfig, pools: Sequence[tuple[str, str]] = (), name: str | None = None) -> None:
        """
        @param pools: this server's pools as (first, last) address texts,
            compared with the other members' at start.
        @param name: this server in the members table (default: host and
            process id).
        """
        self.config = config
        self.description = describe(config)
        # Names this server in its notifications, so it skips its own.
        self.token = os.urandom(6).hex()
        self.pools = pools_text(pools)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{self.token}"

    def load(self) -> Iterator[tuple]:
        connection = open_connection(self.config)
        try:
            try:
                ensure_schema(connection, self.description)
                self._join(connection)
                with connection.transaction(), connection.cursor(name="dhcpsuite_load") as cursor:
                    cursor.itersize = 10000
                    cursor.execute(_SELECT)
                    for row in cursor:
                        values = row_values(*row)
                        if values is not None:
                            yield values
            except psycopg.Error as e:
                raise LeaseStoreError(f"cannot read the lease database {self.description}: {one_line(e)}") from None
        finally:
            connection.close()

    def _join(self, connection: psycopg.Connection) -> None:
        """
        Refuse to serve pools that overlap a live member's but differ from
        them (the two would hand out addresses the other never considers);
        else enter this server in the members table.
        """
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            connection.execute(
                "DELETE FROM members WHERE heartbeat < now() - make_interval(secs => %s)", (MEMBER_FORGET,)
            )
            live = connection.execute(
                "SELECT name, pools FROM members WHERE heartbeat >= now() - make_interval(secs => %s) ORDER BY name",
                (self.config.member_timeout,),
            ).fetchall()
            refused = pools_refused(self.pools, live)
            if refused:
                raise LeaseStoreError(f"lease database {self.description}: {refused}")
            connection.execute(
                "INSERT INTO members (name, pools) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                "SET pools = EXCLUDED.pools, started = now(), heartbeat = now()",
                (self.name, self.pools),
            )

    def heartbeat(self, connection: psycopg.Connection) -> None:
        # The pools too: a reload may have changed them.
        connection.execute(
            "INSERT INTO members (name, pools) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET heartbeat = now(), pools = EXCLUDED.pools",
            (self.name, self.pools),
        )

    def enter(self, connection: psycopg.Connection) -> None:
        """
        On the listener's connection, at each connect: hold this member's
        session lock (released by PostgreSQL the moment the session ends:
        a killed process's socket closes, a dead host's TCP keepalives
        fail), beat, and tell the others to look again.
        """
        connection.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_MEMBER_LOCK, self.name))
        self.heartbeat(connection)
        connection.execute("SELECT pg_notify(%s, %s)", (MEMBERS_CHANNEL, self.name))

    def leave(self, connection: psycopg.Connection) -> None:
        try:
            connection.execute("DELETE FROM members WHERE name = %s", (self.name,))
            connection.execute("SELECT pg_notify(%s, %s)", (MEMBERS_CHANNEL, self.name))
        except psycopg.Error:
            pass  # Its session ends and its heartbeat stops anyway.

    def members(self, connection: psycopg.Connection) -> list[tuple[str, str, str, float, bool]]:
        """
        (name, pools, started, heartbeat age, session lock held) of every member.
        """
        return [
            (name, pools, started.isoformat(), float(age), bool(locked))
            for name, pools, started, age, locked in connection.execute(_MEMBERS).fetchall()
        ]

    def connect(self) -> psycopg.Connection:
        # prepare_threshold 0: the batch statement is prepared at its first
        # use on each connection, so a batch is parsed and planned once.
        return psycopg.connect(**connect_arguments(self.config), prepare_threshold=0, autocommit=True)

    def write(self, connection: psycopg.Connection, upserts: Sequence[Lease], deletes: Sequence[IPv4Address]) -> list[Conflict]:
        with connection.cursor() as cursor:
            cursor.execute(_BATCH, _batch_parameters(self.token, upserts, deletes))
            written = {row[0] for row in cursor.fetchall() if row[0] is not None}
            if len(written) == len(upserts):
                return []
            # Lost: read the rows that won (after the commit; they are only
            # shown to the index, which a later notification corrects anyway).
            lost = [lease for lease in upserts if str(lease.address) not in written]
            cursor.execute(_SELECT + " WHERE address = ANY(%s::inet[])", ([str(l.address) for l in lost],))
            winners = {row[0]: lease_from_row(*row) for row in cursor.fetchall()}
        return [Conflict(lease, winners.get(str(lease.address))) for lease in lost]

    def close(self, connection: psycopg.Connection) -> None:
        try:
            connection.close()
        except psycopg.Error:
            pass


def pools_text(pools: Sequence[tuple[str, str]]) -> str:
    """
    Pools as the members table holds them: C{first-last,...} in address order.
    """
    return ",".join(f"{first}-{last}" for first, last in sorted(pools, key=lambda p: IPv4Address(p[0])))


def pools_refused(ours: str, members: Sequence[tuple[str, str]]) -> str:
    """
    Why pools C{ours} may not be served beside the live C{members}' (name,
    pools): they overlap one's but differ (the two would hand out addresses
    the other never considers), as isc-dhcpd failover refuses a peer with
    other pool definitions. C{""} when they may.
    """
    ranges = _ranges(ours)
    for name, pools in members:
        if pools == ours:
            continue
        try:
            theirs = _ranges(pools)
        except ValueError:
            # Not written by dhcpsuite: nothing can be said to be disjoint.
            return f"server {name} has unreadable pools {pools!r} in the members table"
        if _overlap(ranges, theirs):
            return (
                f"server {name} serves pools {pools or '(none)'}, which overlap but differ from this server's "
                f"{ours or '(none)'}; give every server sharing a pool the same pools"
            )
    return ""


def _host_and_pid(name: str) -> tuple[str | None, int | None]:
    """
    A default member name is host:pid:token; a configured one may be anything.
    """
    parts = name.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return None, None


def _ranges(pools: str) -> list[tuple[int, int]]:
    ranges = []
    for text in filter(None, pools.split(",")):
        first, _, last = text.partition("-")
        ranges.append((int(IPv4Address(first)), int(IPv4Address(last))))
    return ranges


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    return any(first <= other_last and other_first <= last for first, last in a for other_first, other_last in b)


def _array(values: list[str]) -> str:
    # Every element quoted: an empty one (no hostname) is then "" and not a
    # syntax error; none of the values holds a quote or a backslash.
    return '{"' + '","'.join(values) + '"}' if values else "{}"


def _batch_parameters(token: str, upserts: Sequence[Lease], deletes: Sequence[IPv4Address]) -> dict[str, str]:
    return {
        "a": _array([str(lease.address) for lease in upserts]),
        "s": _array([lease.state.value for lease in upserts]),
        "k": _array([lease.client_key.hex() for lease in upserts]),
        "m": _array([lease.mac.hex() for lease in upserts]),
        "e": _array([repr(lease.expires) for lease in upserts]),
        # PostgreSQL text holds no NUL and only valid UTF-8: a client's
        # hostname carrying either must not make every later batch fail.
        "h": _array([lease.hostname.replace("\x00", "").encode("utf-8", "replace").hex() for lease in upserts]),
        "u": _array([repr(lease.updated) for lease in upserts]),
        "d": _array([str(address) for address in deletes]),
        "token": token,
    }


class _Listener:
    """
    A thread with its own connection that LISTENs for other servers'
    commits, reads the rows they name and hands them to the store's
    L{WriteBehindStore.learn} in the reactor thread. At every connect (the
    first, and after a lost connection, with backoff) it reads every row
    once more: what was committed while it was not listening sent its
    notifications to nobody.
    """

    # Rows handed to the reactor at a time (a full reload is sliced).
    CHUNK = 5000

    def __init__(self, store: "PostgreSQLLeaseStore") -> None:
        self.store = store
        self.backend: PostgreSQLBackend = store.backend
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"lease-listener {self.backend.description}", daemon=True)

    def run(self) -> None:
        backend = self.backend
        delay = backend.retry_first
        while not self.stopping.is_set():
            connection = None
            try:
                connection = psycopg.connect(**connect_arguments(backend.config), autocommit=True)
                connection.execute(f"LISTEN {CHANNEL}")
                connection.execute(f"LISTEN {MEMBERS_CHANNEL}")
                backend.enter(connection)
                # What was committed while nobody listened: since the store
                # loaded, or while the connection was lost.
                self._hand_over(self._rows(connection, None))
                delay = backend.retry_first
                self._listen(connection)
            except backend.transient_errors as e:
                if not self.stopping.is_set():
                    self.store.log.warn(
                        "Lease listener on {store} lost its connection ({error}); reconnecting",
                        store=backend.description, error=one_line(e),
                    )
                    self.stopping.wait(delay)
                    delay = min(delay * 2, backend.retry_most)
            finally:
                if connection is not None:
                    backend.close(connection)

    def _listen(self, connection: psycopg.Connection) -> None:
        token = self.backend.token
        beat = 0.0
        looked = 0.0
        look = True
        while not self.stopping.is_set():
            now = time.monotonic()
            if now - beat >= HEARTBEAT_INTERVAL:
                self.backend.heartbeat(connection)
                beat = now
            if look or now - looked >= LOOK_INTERVAL:
                self.store._reactor.callFromThread(self.store.members_seen, self.backend.members(connection))
                looked = now
                look = False
            addresses: list[str] = []
            # Wait for one (at most until the next look), then
            # take what else has arrived within a few milliseconds: handed
            # over at once, and one read for a burst of batches.
            notifies = list(connection.notifies(timeout=LOOK_INTERVAL, stop_after=1))
            if notifies:
                notifies += connection.notifies(timeout=0.005, stop_after=1000)
            for notify in notifies:
                if notify.channel == MEMBERS_CHANNEL:
                    look = True
                    continue
                sender, _, names = notify.payload.partition(" ")
                if sender != token and names:
                    addresses.extend(names.split(","))
            if addresses:
                self._hand_over(self._rows(connection, list(dict.fromkeys(addresses))))
        self.backend.leave(connection)

    @staticmethod
    def _rows(connection: psycopg.Connection, addresses: list[str] | None) -> list[tuple[IPv4Address, Lease | None]]:
        with connection.cursor() as cursor:
            if addresses is None:
                cursor.execute(_SELECT)
            else:
                cursor.execute(_SELECT + " WHERE address = ANY(%s::inet[])", (addresses,))
            found = {}
            for row in cursor:
                lease = lease_from_row(*row)
                if lease is not None:
                    found[lease.address] = lease
        rows: list[tuple[IPv4Address, Lease | None]] = list(found.items())
        for name in addresses or ():
            address = IPv4Address(name)
            if address not in found:
                rows.append((address, None))
        return rows

    def _hand_over(self, rows: list) -> None:
        for i in range(0, len(rows), self.CHUNK):
            self.store._reactor.callFromThread(self.store.learn, rows[i : i + self.CHUNK])


@implementer(ICluster)
class PostgreSQLLeaseStore(WriteBehindStore):
    """
    Also learns what other servers on the same database commit (a
    listener thread: L{_Listener}), so any server can answer a client that
    another one bound, and who the other servers are: the live members
    serving the same pools share their free addresses (L{share}).

    A member is alive while its heartbeat is younger than
    C{member_timeout} and its session holds its advisory lock: the lock
    ends with the session (at once for a killed process, after the TCP
    keepalives for a dead host), the heartbeat catches a hung one.
    """

    def __init__(self, config: PostgreSQLConfig, reactor: Any = None, listen: bool = True,
                 pools: Sequence[tuple[str, str]] = (), name: str | None = None) -> None:
        """
        @param listen: learn other servers' commits and send heartbeats;
            off only in tests that need a server with a stale view.
        @param pools: see L{PostgreSQLBackend}.
        """
        self.config = config
        super().__init__(PostgreSQLBackend(config, pools, name), reactor=reactor, lanes=config.pool_size)
        self.name = self.backend.name
        self.share = RendezvousShare(self.name)
        # The members as last read (reactor thread), and when.
        self._member_rows: list[tuple[str, str, str, float, bool]] = []
        self._members_at = time.monotonic()
        self._sizes: tuple[int, dict[str, dict[str, int]]] = (-1, {})
        self._listener = _Listener(self)
        if listen:
            self._listener.thread.start()

    def alive(self, row: tuple[str, str, str, float, bool]) -> bool:
        name, _, _, age, locked = row
        return name == self.name or (locked and age <= self.config.member_timeout)

    def members_seen(self, rows: list[tuple[str, str, str, float, bool]]) -> None:
        """
        The members as the listener just read them (reactor thread): the
        live ones serving this server's pools share its free addresses.
        """
        self._member_rows = rows
        self._members_at = time.monotonic()
        pools = self.backend.pools
        if self.share.set_members([row[0] for row in rows if row[1] == pools and self.alive(row)]):
            self.log.info("Cluster members sharing {pools}: {members}", pools=pools or "(none)",
                          members=", ".join(self.share.members))

    def share_sizes(self) -> dict[str, dict[str, int]]:
        """
        Addresses per pool (\"first-last\") each live member of this
        server's pools owns; computed once per change of the members.
        """
        generation, sizes = self._sizes
        if generation != self.share.generation:
            sizes = {name: {} for name in self.share.members}
            for first, last in _ranges(self.backend.pools):
                pool = f"{IPv4Address(first)}-{IPv4Address(last)}"
                for name, count in share_sizes(IPv4Address(first), IPv4Address(last), self.share.members).items():
                    sizes[name][pool] = count
            self._sizes = (self.share.generation, sizes)
        return sizes

    def members(self) -> list[dict]:
        elapsed = time.monotonic() - self._members_at
        sizes = self.share_sizes()
        result = []
        for row in self._member_rows:
            name, pools, started, age, locked = row
            host, pid = _host_and_pid(name)
            result.append({
                "id": name, "host": host, "pid": pid, "pools": pools, "started": started,
                "heartbeat_age": round(age + elapsed, 3), "session": locked, "alive": self.alive(row),
                "share": sizes.get(name), "self": name == self.name,
            })
        return result

    def pools_refused(self, pools: Sequence[tuple[str, str]]) -> str:
        # From the members as last read (at most a look old).
        others = [(row[0], row[1]) for row in self._member_rows if row[0] != self.name and self.alive(row)]
        return pools_refused(pools_text(pools), others)

    def serve_pools(self, pools: Sequence[tuple[str, str]]) -> None:
        # Read by the listener thread at its next heartbeat (one assignment).
        self.backend.pools = pools_text(pools)
        self._sizes = (-1, {})
        self.members_seen(self._member_rows)

    def close(self):
        # The listener leaves the members table on its way out.
        self._listener.stopping.set()
        return super().close()

    def join(self, timeout: float) -> bool:
        if self._listener.thread.ident is not None:
            self._listener.thread.join(timeout)
        return super().join(timeout) and not self._listener.thread.is_alive()
