"""
Lease-ingest throughput: our PULL endpoint (framing + full decode + routing +
handler + registry) against nanomsg's own C receiver, C{nanocat --pull}, fed
the same stream by the same senders, alternating, in one run.

    .venv/bin/python bench/ingest.py [--messages 200000] [--pushers 4] [--reps 3]

Senders: C{--pushers} C{nanocat --push -i 0} processes, each repeating its own
1720-byte PLUGIN_MSG (x86_64 layout, v4, its own interface and address) over
one connection. Each receiver counts until it has C{--messages} messages;
the rate is measured from the first message to the last, so connection
set-up is not counted. Everything is on 127.0.0.1; every process is killed
by PID; every wait is bounded (C{--time-limit} seconds per run).

Also printed: the decoder alone (no network), on one repeated message and on
messages whose addresses are all different (the address caches missing).

Our receiver runs in a child process (C{--serve}), as a daemon would, so the
two receivers are measured the same way: each is one process.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from dhcpsuite.ingest import layout  # noqa: E402

MESSAGE_SIZE = layout.DEFAULT.size


def message(index: int) -> bytes:
    return layout.encode(layout.DEFAULT, layout.VERSION_V4, f"wan{index}", {
        "address_assigned": 1, "address": f"10.{index}.0.10", "netmask": "255.255.0.0",
        "gateway": f"10.{index}.0.1", "dns_server": "10.0.0.53", "dns_server1": "10.0.0.54",
        "ifname": f"wan{index}", "lease_time": 3600, "renewal_time": 1800, "rebinding_time": 3150,
        "server_id": f"10.{index}.0.1", "state": "renew", "hostname": "cpe", "domain_name": "isp.example",
    })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"receiver exited early ({process.returncode})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError("receiver did not listen")


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(10)


def start_pushers(port: int, files: list[Path], time_limit: float) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(["timeout", str(int(time_limit)), "nanocat", "--push", "--connect", f"tcp://127.0.0.1:{port}",
                          "-F", str(path), "-i", "0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for path in files
    ]


# ---- receivers -----------------------------------------------------------------

def run_ours(files: list[Path], count: int, time_limit: float) -> float:
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--messages", str(count), "--time-limit", str(time_limit)],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    pushers = []
    try:
        wait_listening(port, receiver)
        pushers = start_pushers(port, files, time_limit)
        out, _ = receiver.communicate(timeout=time_limit + 10)
    finally:
        for process in pushers:
            kill(process)
        kill(receiver)
    fields = dict(item.split("=") for item in out.split())
    if int(fields["messages"]) < count:
        raise RuntimeError(f"ours received only {fields['messages']} messages: {out}")
    return float(fields["rate"])


def run_peer(files: list[Path], count: int, time_limit: float) -> float:
    port = free_port()
    receiver = subprocess.Popen(
        ["timeout", str(int(time_limit)), "nanocat", "--pull", "--bind", f"tcp://127.0.0.1:{port}", "--raw"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    pushers = []
    try:
        wait_listening(port, receiver)
        pushers = start_pushers(port, files, time_limit)
        want = count * MESSAGE_SIZE
        got = 0
        first = None
        deadline = time.monotonic() + time_limit
        stream = receiver.stdout
        while got < want and time.monotonic() < deadline:
            chunk = stream.read1(1 << 20)
            if not chunk:
                break
            if first is None:
                first = time.perf_counter()
                got_at_first = len(chunk)
            got += len(chunk)
        last = time.perf_counter()
    finally:
        for process in pushers:
            kill(process)
        kill(receiver)
    if got < want:
        raise RuntimeError(f"nanocat received only {got // MESSAGE_SIZE} messages")
    return (want - got_at_first) / MESSAGE_SIZE / (last - first)


def serve(port: int, count: int, time_limit: float) -> None:
    """
    The child process: our service on 127.0.0.1:port until C{count} messages
    were accepted (decoded and handled), then print the rate.
    """
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor, task

    from dhcpsuite.ingest.config import IngestConfig
    from dhcpsuite.ingest.service import make_ingest_service
    from dhcpsuite.leases.registry import LeaseRegistry

    service = make_ingest_service(IngestConfig(endpoint=f"tcp:{port}:interface=127.0.0.1", accept_unmanaged=True),
                                  LeaseRegistry(), reactor=reactor)
    state = {"first": None, "first_count": 0, "last": None}

    def check():
        accepted = service.counters["accepted.v4"]
        now = time.perf_counter()
        if state["first"] is None and accepted:
            state["first"], state["first_count"] = now, accepted
        if accepted >= count:
            state["last"] = now
            reactor.stop()

    poll = task.LoopingCall(check)
    reactor.callWhenRunning(service.startService)
    reactor.callWhenRunning(poll.start, 0.005)
    reactor.callLater(time_limit, reactor.stop)
    reactor.run()
    counters = service.counters
    accepted = counters["accepted.v4"]
    rejected = sum(v for k, v in counters.items() if k.startswith("rejected."))
    if state["last"] is None:
        print(f"messages={accepted} rate=0 rejected={rejected}")
        return
    rate = (accepted - state["first_count"]) / (state["last"] - state["first"])
    print(f"messages={accepted} rate={rate:.0f} rejected={rejected}")


# ---- decoder alone -----------------------------------------------------------------

def decode_rates(n: int = 100000) -> tuple[float, float]:
    from dhcpsuite.ingest import pluginmsg

    same = message(1)
    start = time.perf_counter()
    for _ in range(n):
        pluginmsg.decode(same)
    repeated = n / (time.perf_counter() - start)
    distinct = [layout.encode(layout.DEFAULT, 0, "wan0", {
        "address_assigned": 1, "address": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "netmask": "255.255.0.0",
        "gateway": f"11.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "dns_server": f"12.0.{i >> 8 & 255}.{i & 255}",
        "server_id": f"13.0.{i >> 8 & 255}.{i & 255}", "state": "bound", "hostname": f"h{i}",
    }) for i in range(n)]
    start = time.perf_counter()
    for data in distinct:
        pluginmsg.decode(data)
    unique = n / (time.perf_counter() - start)
    return repeated, unique


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=200000)
    parser.add_argument("--pushers", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.messages, args.time_limit)
        return
    if not 1 <= args.messages <= 1_000_000 or not 1 <= args.pushers <= 32 or not 1 <= args.reps <= 10:
        parser.error("bounds: messages 1..1000000, pushers 1..32, reps 1..10")
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"ingest-bench-{os.getpid()}"
    workdir.mkdir()
    files = []
    for index in range(args.pushers):
        path = workdir / f"msg{index}.bin"
        path.write_bytes(message(index + 1))
        files.append(path)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')} {platform.node()} cores={os.cpu_count()} "
          f"python={platform.python_version()} messages={args.messages} size={MESSAGE_SIZE} pushers={args.pushers}")
    ours, peer = [], []
    try:
        for rep in range(args.reps):
            ours.append(run_ours(files, args.messages, args.time_limit))
            print(f"rep={rep} receiver=dhcpsuite msgs_per_s={ours[-1]:.0f}", flush=True)
            peer.append(run_peer(files, args.messages, args.time_limit))
            print(f"rep={rep} receiver=nanocat-pull msgs_per_s={peer[-1]:.0f}", flush=True)
    finally:
        for path in files:
            path.unlink()
        workdir.rmdir()
    repeated, unique = decode_rates()
    ours_median, peer_median = statistics.median(ours), statistics.median(peer)
    print(f"MEDIAN receiver=dhcpsuite msgs_per_s={ours_median:.0f}")
    print(f"MEDIAN receiver=nanocat-pull msgs_per_s={peer_median:.0f}")
    print(f"RATIO dhcpsuite/nanocat={ours_median / peer_median:.2f}")
    print(f"DECODE-ONLY repeated_msgs_per_s={repeated:.0f} all_distinct_msgs_per_s={unique:.0f}")


if __name__ == "__main__":
    main()
