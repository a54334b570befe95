"""
A throwaway PostgreSQL cluster for tests: C{initdb} into a temporary
directory, started with C{pg_ctl} on a unix socket only (no TCP listener,
fsync left on), one role and database for dhcpsuite with a password, stopped
with its own C{pg_ctl -m fast stop} and removed at the end, also when the
test fails.

As root the cluster runs as the Debian user C{postgres} (PostgreSQL refuses
to run as root); otherwise as the user running the tests.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from typing import Any

import pytest

from tests.support.environment import missing, require_module

ROLE = "dhcpsuite"
DATABASE = "dhcpsuite"
# The socket's port number only names the socket file: there is no TCP listener.
PORT = 5432
# Bound on every pg_ctl call (seconds).
TIMEOUT = 60


def binaries() -> str:
    """
    The newest installed PostgreSQL's bin directory.
    """
    found = sorted(
        (d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(os.path.join(d, "initdb"), os.X_OK)),
        key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0,
    )
    if not found:
        missing("needs PostgreSQL server binaries in /usr/lib/postgresql/*/bin (Debian package postgresql)")
    return found[-1]


class PostgresCluster:
    """
    @ivar socket_dir: the C{host} to give libpq (the unix-socket directory).
    @ivar password_file: the dhcpsuite role's password, mode 0600.
    """

    def __init__(self) -> None:
        require_module("psycopg")
        self.bin = binaries()
        self.directory = tempfile.mkdtemp(prefix="dhcpsuite-pg-")
        os.chmod(self.directory, 0o755)
        self.data = os.path.join(self.directory, "data")
        self.socket_dir = os.path.join(self.directory, "socket")
        self.log_path = os.path.join(self.directory, "postgres.log")
        self.password = "test-" + os.urandom(8).hex()
        self.superuser_password = "super-" + os.urandom(8).hex()
        self.password_file = os.path.join(self.directory, "password")
        with open(os.open(self.password_file, os.O_CREAT | os.O_WRONLY, 0o600), "w") as f:
            f.write(self.password + "\n")
        self.port = PORT
        self.running = False
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                missing("needs the system user 'postgres' to run PostgreSQL as root (Debian package postgresql)")
            self._user = "postgres"
            self._uid, self._gid = entry.pw_uid, entry.pw_gid
        os.makedirs(self.socket_dir, mode=0o755)
        superuser_file = os.path.join(self.directory, "superuser-password")
        with open(superuser_file, "w") as f:
            f.write(self.superuser_password + "\n")
        self._own(self.directory, self.socket_dir, superuser_file, self.log_path)
        self._run(
            "initdb", "-D", self.data, "-U", "postgres", "--pwfile", superuser_file,
            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8",
        )
        os.remove(superuser_file)

    def _own(self, *paths: str) -> None:
        if self._user is None:
            return
        for path in paths:
            if not os.path.exists(path):
                open(path, "a").close()
            os.chown(path, self._uid, self._gid)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [os.path.join(self.bin, program), *args],
            user=self._user, capture_output=True, text=True, timeout=TIMEOUT, cwd=self.directory,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()} {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t", str(TIMEOUT),
            "-o", f"-c listen_addresses='' -k {self.socket_dir} -p {self.port} -c max_connections=50",
            "start",
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self.running = False
            self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", str(TIMEOUT), "stop")

    def superuser(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.socket_dir, port=self.port, user="postgres", dbname="postgres",
            password=self.superuser_password, autocommit=True,
        )

    def create_database(self, name: str = DATABASE) -> None:
        """
        The dhcpsuite role (made once) and an empty database C{name} it owns.
        """
        with self.superuser() as connection:
            exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
            if not exists:
                connection.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{self.password}'")
            connection.execute(f'CREATE DATABASE "{name}" OWNER {ROLE}')

    def connect(self, dbname: str = DATABASE) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.socket_dir, port=self.port, user=ROLE, dbname=dbname, password=self.password, autocommit=True,
        )

    def config(self, dbname: str = DATABASE, **changes: Any) -> Any:
        from dhcpsuite.server.config import PostgreSQLConfig

        fields = dict(host=self.socket_dir, port=self.port, dbname=dbname, user=ROLE,
                      password_file=self.password_file, connect_timeout=5.0, pool_size=1)
        fields.update(changes)
        return PostgreSQLConfig(**fields)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    """
    One started cluster per test module (import this fixture by name).
    """
    cluster = start_cluster()
    yield cluster
    cluster.destroy()


_databases = itertools.count(1)


def fresh_database(cluster: PostgresCluster) -> str:
    """
    A new empty database's name, unique in this process.
    """
    name = f"leases_{os.getpid()}_{next(_databases)}"
    cluster.create_database(name)
    return name


def start_cluster() -> PostgresCluster:
    """
    A started cluster with the dhcpsuite role and database; the caller
    calls C{destroy()} (pytest: use the C{postgres} fixture in conftest).
    """
    cluster = PostgresCluster()
    try:
        cluster.start()
        cluster.create_database()
    except BaseException:
        cluster.destroy()
        raise
    return cluster
