"""
Netlink burst benchmark: our reader against a plain pyroute2 loop.

Run as root from the repository root:

    .venv/bin/python bench/netlink_burst.py [--reps 3]

In a namespace of its own (unique name, deleted at the end) with one veth,
each rep makes the same 10,000 address changes with ``ip -batch`` (6,000
adds then 4,000 deletes; every change also brings route notifications).

1. Throughput: the socket has a receive buffer big enough for the whole
   burst, nobody reads during it, then the queue is drained and timed:
   - "reader": NetlinkReader.doRead (decode, cache, events to a listener
     that rebuilds its own view), driven without a reactor;
   - "pyroute2": ``recv(16384)`` + ``MarshalRtnl().parse`` per datagram,
     exactly what ``IPRSocket.get()`` does, in a blocking loop.
   Reps alternate which runs first. Reported: notifications per CPU second
   of the draining loop (the ratio is on these) and per wall-clock second.
2. Overrun recovery: a 16 KiB receive buffer, the reader reading while the
   burst runs (ENOBUFS is certain); reported is the time from the end of the
   burst (``ip`` exits) to the reader's cache equalling ``ip -j addr`` /
   ``ip -j route`` exactly.

Prints medians and the reader/pyroute2 ratio, and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from twisted.internet.testing import MemoryReactorClock  # noqa: E402

from dhcpsuite.netlink.reader import NetlinkReader  # noqa: E402
from dhcpsuite.netlink.system import MONITOR_GROUPS, open_netlink_socket  # noqa: E402
from dhcpsuite.netlink.testing import ViewListener, ip_view, table_view  # noqa: E402

BIG_BUFFER = 256 << 20
CHANGES = 10_000
DEADLINE = 120.0


def batch_file() -> str:
    commands = [f"addr add 10.{100 + i // 250}.{i % 250}.1/24 dev bu0" for i in range(6000)]
    commands += [f"addr del 10.{100 + i // 250}.{i % 250}.1/24 dev bu0" for i in range(4000)]
    assert len(commands) == CHANGES
    f = tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False)
    f.write("\n".join(commands) + "\n")
    f.close()
    return f.name


class Rate:
    """
    Notifications handled, per wall-clock second and per CPU second of this
    process. Both loops are single-threaded and never wait (the burst is
    already queued), so CPU time is their work; on a shared machine it is
    the steadier figure, and the ratio is taken on it.
    """

    def __init__(self, count: int, wall: float, cpu: float) -> None:
        self.count = count
        self.wall = count / wall
        self.cpu = count / cpu


class Bench:
    def __init__(self) -> None:
        self.ns = f"nlbench{os.getpid()}"
        self.batch = batch_file()

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.ns, *args], check=True, capture_output=True, timeout=120)

    def __enter__(self) -> "Bench":
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.ip("link", "add", "bu0", "type", "veth", "peer", "name", "bu1")
        self.ip("link", "set", "bu0", "up")
        self.ip("link", "set", "bu1", "up")
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        os.unlink(self.batch)

    def reset(self) -> None:
        self.ip("addr", "flush", "dev", "bu0")
        time.sleep(0.2)

    def burst(self) -> None:
        self.ip("-batch", self.batch)

    def reader_throughput(self) -> float:
        self.reset()
        clock = MemoryReactorClock()
        reader = NetlinkReader(reactor=clock, netns=self.ns, receive_buffer=BIG_BUFFER, resync_min_interval=3600)
        view = ViewListener(keep_events=False)
        reader.add_listener(view)
        reader.start()
        clock.advance(0)
        deadline = time.monotonic() + DEADLINE
        while not reader.synced and time.monotonic() < deadline:
            reader.doRead()
        self.burst()
        datagrams = _counting(reader)
        start, cpu = time.perf_counter(), time.process_time()
        while time.monotonic() < deadline:
            before = datagrams[0]
            reader.doRead()
            if datagrams[0] - before < reader.max_reads:
                break
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert reader.overruns == 0, "the big buffer overflowed: the throughput figure would be wrong"
        assert table_view(reader.table) == ip_view(self.ns) == view.view()
        reader.stop()
        return Rate(datagrams[0], elapsed, cpu)

    def pyroute2_throughput(self) -> float:
        from pyroute2.netlink.rtnl.marshal import MarshalRtnl

        self.reset()
        sock = open_netlink_socket(MONITOR_GROUPS, BIG_BUFFER, self.ns)
        marshal = MarshalRtnl()
        self.burst()
        count = 0
        deadline = time.monotonic() + DEADLINE
        start, cpu = time.perf_counter(), time.process_time()
        try:
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(16384)
                except BlockingIOError:
                    break
                for msg in marshal.parse(data):
                    count += 1
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            sock.close()
        return Rate(count, elapsed, cpu)

    def overrun_recovery(self) -> dict:
        self.reset()
        clock = MemoryReactorClock()
        reader = NetlinkReader(reactor=clock, netns=self.ns, receive_buffer=16384, resync_min_interval=0.25)
        view = ViewListener(keep_events=False)
        reader.add_listener(view)
        reader.start()
        origin = time.monotonic()
        deadline = origin + DEADLINE

        def step() -> None:
            reader.doRead()
            clock.advance(max(0.0, time.monotonic() - origin - clock.seconds()))

        while not reader.synced and time.monotonic() < deadline:
            step()
        process = subprocess.Popen(["ip", "-n", self.ns, "-batch", self.batch])
        while process.poll() is None and time.monotonic() < deadline:
            step()
        last_change = time.monotonic()
        kernel = ip_view(self.ns)
        converged = None
        while time.monotonic() < deadline:
            step()
            idle = reader._dump is None and reader._resync_call is None and not reader._wanted
            if idle and table_view(reader.table) == kernel:
                converged = time.monotonic() - last_change
                break
        assert converged is not None, "the cache never equalled the kernel"
        assert view.view() == kernel
        result = {"overruns": reader.overruns, "resyncs": reader.resyncs, "converged_s": converged}
        reader.stop()
        return result


def _counting(reader: NetlinkReader) -> list[int]:
    count = [0]
    receive = reader._system.recv

    def recv(fd, size):
        data = receive(fd, size)
        count[0] += 1
        return data

    reader._system.recv = recv
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    ours, theirs, recoveries = [], [], []
    with Bench() as bench:
        for rep in range(options.reps):
            order = (bench.reader_throughput, bench.pyroute2_throughput)
            for run in (order if rep % 2 == 0 else order[::-1]):
                (ours if run == bench.reader_throughput else theirs).append(run())
            recoveries.append(bench.overrun_recovery())
            print(
                f"rep {rep + 1}: {ours[-1].count} notifications; reader {ours[-1].cpu:,.0f}/cpu-s "
                f"({ours[-1].wall:,.0f}/s wall)  pyroute2 {theirs[-1].cpu:,.0f}/cpu-s ({theirs[-1].wall:,.0f}/s wall)  "
                f"overrun: {recoveries[-1]['overruns']} ENOBUFS, {recoveries[-1]['resyncs']} resyncs, "
                f"cache == kernel {recoveries[-1]['converged_s']:.3f} s after the last change",
                flush=True,
            )
    cpu_ours, cpu_theirs = statistics.median(r.cpu for r in ours), statistics.median(r.cpu for r in theirs)
    wall_ours, wall_theirs = statistics.median(r.wall for r in ours), statistics.median(r.wall for r in theirs)
    ratio = cpu_ours / cpu_theirs
    converged = [r["converged_s"] for r in recoveries]
    print(f"median reader   {cpu_ours:,.0f} notifications per CPU second ({wall_ours:,.0f}/s wall)")
    print(f"median pyroute2 {cpu_theirs:,.0f} notifications per CPU second ({wall_theirs:,.0f}/s wall)")
    print(f"ratio reader/pyroute2 {ratio:.2f} (CPU), {wall_ours / wall_theirs:.2f} (wall)")
    print(f"median last change -> cache == kernel {statistics.median(converged):.3f} s (max {max(converged):.3f} s)")
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "reps": options.reps,
        "notifications": [r.count for r in ours],
        "reader_per_cpu_s": [round(r.cpu) for r in ours], "pyroute2_per_cpu_s": [round(r.cpu) for r in theirs],
        "reader_per_wall_s": [round(r.wall) for r in ours], "pyroute2_per_wall_s": [round(r.wall) for r in theirs],
        "ratio_cpu": round(ratio, 3), "ratio_wall": round(wall_ours / wall_theirs, 3), "converged_s": converged,
    }))


if __name__ == "__main__":
    main()
