#!/usr/bin/env python3
"""
What the lease history costs per binding change, in one process, no network:

    .venv/bin/python -m bench.history_cost [--rate 2000] [--changes 8000]

The recorder (the lease store's observer) is called on the calling thread,
as the reactor calls it, at --rate changes a second (the thread spins between
them, like a busy reactor, so the writer thread must take the GIL from it);
it prints the wall time of each call (p50, p99, max), then how fast the
writer thread drains a burst of 100,000 changes and the process CPU per
change. The ACK path pays the first figure; the rest runs on the writer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from ipaddress import IPv4Address

from bench.common import REPOSITORY  # noqa: F401  (puts the repository on sys.path)
from dhcpsuite.history.config import HistoryConfig
from dhcpsuite.history.events import RequestContext
from dhcpsuite.history.recorder import HistoryRecorder
from dhcpsuite.history.sqlite import HISTORY_DB_NAME, SQLiteHistory
from dhcpsuite.leases.lease import Lease, LeaseState


class _Reactor:
    def callFromThread(self, f, *args, **kwargs) -> None:
        f(*args, **kwargs)


def _recorder(directory: str) -> HistoryRecorder:
    storage = SQLiteHistory(os.path.join(directory, HISTORY_DB_NAME), reactor=_Reactor(), max_pending=10_000_000)
    # A relayed request with option 82, the fullest record.
    context = RequestContext(IPv4Address("10.0.0.2"), b"eth0/1/3:100", b"cpe-00112233", b"", IPv4Address("10.0.0.1"))
    return HistoryRecorder(HistoryConfig(enabled=True), storage, time.time, lambda: context)


def _leases(count: int) -> list[Lease]:
    return [
        Lease(IPv4Address(0x0A000000 + i), LeaseState.BOUND, b"\x01" + i.to_bytes(6, "big"), i.to_bytes(6, "big"),
              2e9, "host-name", 1.8e9)
        for i in range(count)
    ]


def paced(rate: int, count: int) -> dict:
    directory = tempfile.mkdtemp(prefix="history-cost-")
    try:
        recorder = _recorder(directory)
        durations = []
        start = time.perf_counter()
        for i, lease in enumerate(_leases(count)):
            due = start + i / rate
            while time.perf_counter() < due:
                pass
            t = time.perf_counter()
            recorder.lease_changed(None, lease)
            durations.append(time.perf_counter() - t)
        durations.sort()
        quantile = lambda q: round(durations[int(q * (len(durations) - 1))] * 1e6, 1)  # noqa: E731
        deadline = time.monotonic() + 30
        while recorder.counters["written"] < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"rate": rate, "changes": count, "p50_us": quantile(0.5), "p99_us": quantile(0.99),
                "max_us": quantile(1.0), "written": recorder.counters["written"], "batches": recorder.counters["batches"]}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def burst(count: int) -> dict:
    directory = tempfile.mkdtemp(prefix="history-cost-")
    try:
        recorder = _recorder(directory)
        leases = _leases(count)
        cpu = time.process_time()
        started = time.perf_counter()
        for lease in leases:
            recorder.lease_changed(None, lease)
        appended = time.perf_counter()
        while recorder.counters["written"] < count:
            time.sleep(0.005)
        drained = time.perf_counter()
        return {"changes": count, "append_us_each": round((appended - started) / count * 1e6, 2),
                "drained_per_s": round(count / (drained - started)),
                "process_cpu_us_each": round((time.process_time() - cpu) / count * 1e6, 2)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=8000)
    args = parser.parse_args(argv)
    print("PACED", paced(args.rate, args.changes))
    print("BURST", burst(100_000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
