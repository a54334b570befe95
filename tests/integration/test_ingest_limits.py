"""
What a local process can make the ingest endpoint hold, measured from
outside: the service runs alone in a child process with the usual
1024-descriptor limit (tests/support/ingest_child.py), hostile connections
come over real loopback TCP, and a real nanocat push must still land.

The attack this answers (issue 16): 1,011 idle connections filled the
descriptor table, after which pushes were reset; 500 connections
announcing 999,999-byte messages took the daemon from 42 MB to 531 MB.
nanomsg's own PULL socket bounds neither (only the message size, at 1 MiB).
"""

from __future__ import annotations

import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dhcpsuite.ingest import sp
from tests.support.environment import require_programs
from tests.support.ingest import v4_message

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """
    The ingest service in its own process, limited to 1024 descriptors.
    """

    def __init__(self, **cfg) -> None:
        cfg.setdefault("endpoint", "tcp:0:interface=127.0.0.1")
        cfg.setdefault("interfaces", ["erouter0"])

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.ingest_child", json.dumps(cfg)], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=limit,
            start_new_session=True)
        self.port = self._line(15)["port"]

    def _line(self, seconds: float) -> dict:
        deadline = time.monotonic() + seconds
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                raise AssertionError(f"the ingest child said nothing within {seconds} s")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError("the ingest child exited")
            data += chunk
        return json.loads(data)

    def report(self) -> dict:
        self.process.stdin.write(b"report\n")
        self.process.stdin.flush()
        return self._line(10)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def wait_for_lease(self, ifname: str, address: str, seconds: float) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            report = self.report()
            if report["leases"].get(ifname) == address:
                return report
            time.sleep(0.1)
        raise AssertionError(f"no lease {address} on {ifname} within {seconds} s: {report}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
        self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()


@pytest.fixture
def child():
    started = []

    def make(**cfg):
        started.append(Child(**cfg))
        return started[-1]

    yield make
    for one in started:
        one.stop()


@pytest.fixture
def many_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_connections(port: int, count: int, first: bytes) -> list[socket.socket]:
    """
    C{count} connections, each sending C{first}; refused ones are kept too
    (as an attacker would keep them).
    """
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            sockets.append(s)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(first)
            except OSError:
                pass
    except BaseException:
        close_all(sockets)
        raise
    return sockets


def close_all(sockets) -> None:
    for s in sockets:
        s.close()


def nanocat_push(ingest: Child, tmp_path: Path, ifname: str, address: str) -> dict:
    """
    Push one lease with a real nanocat and wait (10 s at most) until the
    child has it.

    @return: the child's report then.
    """
    path = tmp_path / f"{ifname}.bin"
    path.write_bytes(v4_message(ifname, address))
    # nanocat keeps reconnecting (100 ms apart) until it has sent.
    pusher = subprocess.Popen(["timeout", "15", "nanocat", "--push", "--connect", f"tcp://127.0.0.1:{ingest.port}",
                               "--file", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        return ingest.wait_for_lease(ifname, address, 10)
    finally:
        pusher.kill()
        pusher.wait(5)


def test_idle_connections_cannot_exhaust_descriptors(child, many_descriptors, tmp_path):
    """
    1,100 idle handshaken connections against a 1024-descriptor daemon: it
    holds at most max_connections (64) of them, each refusal is counted, and
    a real nanocat push still lands while all 1,100 stay open on our side.
    """
    require_programs("nanocat")
    ingest = child()
    before = ingest.descriptors()
    sockets = open_connections(ingest.port, 1100, sp.PUSH_HEADER)
    try:
        time.sleep(0.5)
        held = ingest.descriptors() - before
        assert held <= 64, held
        counters = nanocat_push(ingest, tmp_path, "erouter0", "10.0.0.5")["counters"]
        assert counters["refused.connection-limit"] + counters.get("closed.evicted", 0) >= 1100 - 64, counters
        assert ingest.descriptors() - before <= 64
    finally:
        close_all(sockets)


def test_huge_announced_messages_keep_memory_bounded(child, many_descriptors, tmp_path):
    """
    500 connections each announce a 999,999-byte message and send 200 KB of
    it (100 MB in all), with max_message_size at nanomsg's 1 MiB so that
    only the connection limit and the buffer budget stand in the way:
    resident memory grows by a few MB, not by the 100 MB sent, and a real
    nanocat push lands.
    """
    require_programs("nanocat")
    ingest = child(max_message_size=1 << 20)
    time.sleep(0.3)
    rss_before = ingest.rss_kb()
    announce = sp.PUSH_HEADER + (999_999).to_bytes(8, "big")
    sockets = open_connections(ingest.port, 500, announce)
    body = b"\xa5" * 65536
    try:
        for s in sockets:
            for _ in range(3):
                try:
                    s.sendall(body)
                except OSError:
                    break
        time.sleep(0.5)
        grown_kb = ingest.rss_kb() - rss_before
        counters = nanocat_push(ingest, tmp_path, "erouter0", "10.0.0.6")["counters"]
        print(f"RSS before {rss_before} kB, grown {grown_kb} kB; counters {counters}")
        assert grown_kb < 20 * 1024, (grown_kb, counters)
        assert counters.get("closed.buffer-budget", 0) >= 1, counters
    finally:
        close_all(sockets)
