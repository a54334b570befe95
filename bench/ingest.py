"""
Lease-ingest throughput: our PULL endpoint (framing + full decode + routing +
handler + registry) against nanomsg's own C receiver, C{nanocat --pull}, fed
the same stream by the same senders, alternating, in one run.

    .venv/bin/python bench/ingest.py [--mode distinct,repeated] [--messages 200000] [--pushers 4] [--reps 3]
    .venv/bin/python bench/ingest.py --check-supply     # what the distinct pushers can send into a bare sink

Two streams (C{--mode}; both by default, alternating receivers within each):

  - C{distinct}: every message differs from every other one. Each pusher
    sends its own pool of C{--pool} messages (made in advance and framed
    into one file, so a pusher only writes) round and round over one
    connection: interface (16 per pusher, 64 in all with 4 pushers: within
    the default C{max_unmanaged_interfaces}), address (its own for every
    message), gateway and server id (one per /24), lease, T1 and T2 times,
    host name and state all vary; DNS servers and the domain are one per
    pusher (one ISP each), the netmask is /24. The pushers are small Python
    processes (C{--push}) writing the pre-framed pool with C{sendall} after
    the SP handshake, since C{nanocat --push} can only repeat one file.
  - C{repeated}: C{nanocat --push -i 0} processes, each repeating one
    1720-byte PLUGIN_MSG (its own interface and address): an unchanged
    renewal, which the repeat decoder recognises without decoding.

Every message is the x86_64 layout (1720 bytes), DHCPv4. Each receiver counts
until it has C{--messages} messages; the rate is measured from the first
message to the last, so connection set-up is not counted. Our receiver runs
in a child process (C{--serve}), as a daemon would, so the two receivers are
measured the same way: each is one process. Our receiver must reject none
(a rejected message fails the run). Everything is on 127.0.0.1; every
process is killed by PID; every wait is bounded (C{--time-limit} seconds per
run).

Also printed: the decoder alone (no network), on one repeated message and on
messages whose address fields are all different (every address cache missing).
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

from dhcpsuite.ingest import layout, sp  # noqa: E402

MESSAGE_SIZE = layout.DEFAULT.size
MODES = ("distinct", "repeated")
INTERFACES_PER_PUSHER = 16


def message(index: int) -> bytes:
    return layout.encode(layout.DEFAULT, layout.VERSION_V4, f"wan{index}", {
        "address_assigned": 1, "address": f"10.{index}.0.10", "netmask": "255.255.0.0",
        "gateway": f"10.{index}.0.1", "dns_server": "10.0.0.53", "dns_server1": "10.0.0.54",
        "ifname": f"wan{index}", "lease_time": 3600, "renewal_time": 1800, "rebinding_time": 3150,
        "server_id": f"10.{index}.0.1", "state": "renew", "hostname": "cpe", "domain_name": "isp.example",
    })


def distinct_message(pusher: int, index: int) -> bytes:
    """
    Message C{index} of pusher C{pusher}'s pool: its own address, lease
    times and host name; one of the pusher's 16 interfaces.
    """
    subnet, host = divmod(index, 250)
    network = f"{10 + pusher}.{subnet >> 8 & 255}.{subnet & 255}"
    ifname = f"wan{pusher * INTERFACES_PER_PUSHER + index % INTERFACES_PER_PUSHER}"
    lease = 600 + index
    return layout.encode(layout.DEFAULT, layout.VERSION_V4, ifname, {
        "address_assigned": 1, "address": f"{network}.{host + 2}", "netmask": "255.255.255.0",
        "gateway": f"{network}.1", "dns_server": f"192.0.2.{pusher + 1}", "dns_server1": f"198.51.100.{pusher + 1}",
        "ifname": ifname, "lease_time": lease, "renewal_time": lease // 2, "rebinding_time": lease * 7 // 8,
        "server_id": f"{network}.1", "state": ("bound", "renew", "rebind")[index % 3],
        "hostname": f"cpe-{pusher}-{index}", "domain_name": f"isp{pusher}.example",
    })


def distinct_pool(pusher: int, count: int) -> bytes:
    """
    The pusher's whole stream, framed (length prefixes) and ready to write.
    """
    return b"".join(sp.frame(distinct_message(pusher, index)) for index in range(count))


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


def start_pushers(mode: str, port: int, files: list[Path], time_limit: float) -> list[subprocess.Popen]:
    if mode == "repeated":
        argvs = [["timeout", str(int(time_limit)), "nanocat", "--push", "--connect", f"tcp://127.0.0.1:{port}",
                  "-F", str(path), "-i", "0"] for path in files]
    else:
        argvs = [[sys.executable, __file__, "--push", str(port), "--pool-file", str(path), "--time-limit",
                  str(time_limit)] for path in files]
    return [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            for argv in argvs]


def push(port: int, path: Path, time_limit: float) -> None:
    """
    A distinct-stream pusher (child process): SP handshake as a PUSH peer,
    then the pre-framed pool, round and round, until the receiver closes or
    the time limit.
    """
    pool = path.read_bytes()
    deadline = time.monotonic() + time_limit
    with socket.create_connection(("127.0.0.1", port), timeout=time_limit) as sock:
        sock.sendall(sp.PUSH_HEADER)
        received = b""
        while len(received) < sp.HEADER_SIZE:
            chunk = sock.recv(sp.HEADER_SIZE - len(received))
            if not chunk:
                return
            received += chunk
        if sp.check_header(received, sp.PROTOCOL_PULL) is not None:
            raise SystemExit(f"not a PULL peer: {received.hex()}")
        try:
            while time.monotonic() < deadline:
                sock.sendall(pool)
        except OSError:
            pass  # the receiver has enough and closed


# ---- receivers -----------------------------------------------------------------

def _child_rate(argv: list[str], mode: str, port: int, files: list[Path], count: int, time_limit: float,
                name: str) -> float:
    receiver = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    pushers = []
    try:
        wait_listening(port, receiver)
        pushers = start_pushers(mode, port, files, time_limit)
        out, _ = receiver.communicate(timeout=time_limit + 10)
    finally:
        for process in pushers:
            kill(process)
        kill(receiver)
    fields = dict(item.split("=") for item in out.split())
    if int(fields["messages"]) < count:
        raise RuntimeError(f"{name} received only {fields['messages']} messages: {out}")
    if int(fields.get("rejected", 0)):
        raise RuntimeError(f"{name} rejected messages: {out}")
    return float(fields["rate"])


def run_ours(mode: str, files: list[Path], count: int, time_limit: float) -> float:
    port = free_port()
    argv = [sys.executable, __file__, "--serve", str(port), "--messages", str(count), "--time-limit", str(time_limit)]
    return _child_rate(argv, mode, port, files, count, time_limit, "ours")


def run_sink(files: list[Path], count: int, time_limit: float) -> float:
    port = free_port()
    argv = [sys.executable, __file__, "--sink", str(port), "--messages", str(count), "--time-limit", str(time_limit)]
    return _child_rate(argv, "distinct", port, files, count, time_limit, "the sink")


def run_peer(mode: str, files: list[Path], count: int, time_limit: float) -> float:
    port = free_port()
    receiver = subprocess.Popen(
        ["timeout", str(int(time_limit)), "nanocat", "--pull", "--bind", f"tcp://127.0.0.1:{port}", "--raw"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    pushers = []
    try:
        wait_listening(port, receiver)
        pushers = start_pushers(mode, port, files, time_limit)
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


def sink(port: int, count: int, time_limit: float) -> None:
    """
    The child process for C{--check-supply}: accept PUSH peers, answer their
    header and throw away what they send; print the rate at which
    C{count} messages' bytes arrived (what the pushers can supply).
    """
    import selectors

    listener = socket.create_server(("127.0.0.1", port))
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    buffer = bytearray(1 << 20)
    frame_size = sp.LENGTH_SIZE + MESSAGE_SIZE
    want = count * frame_size
    got = first_got = 0
    first = last = None
    deadline = time.monotonic() + time_limit
    connections = []
    while got < want and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.1):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                conn.sendall(sp.PULL_HEADER)
                connections.append(conn)
                selector.register(conn, selectors.EVENT_READ)
                continue
            n = key.fileobj.recv_into(buffer)
            if not n:
                selector.unregister(key.fileobj)
                continue
            if first is None:
                first, first_got = time.perf_counter(), n
            got += n
    last = time.perf_counter()
    for conn in connections:
        conn.close()
    listener.close()
    rate = 0 if first is None or got < want else (got - first_got) / frame_size / (last - first)
    print(f"messages={got // frame_size} rate={rate:.0f} rejected=0")


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


def write_streams(workdir: Path, pushers: int, pool: int) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {"repeated": [], "distinct": []}
    for index in range(pushers):
        path = workdir / f"repeated{index}.bin"
        path.write_bytes(message(index + 1))
        files["repeated"].append(path)
        path = workdir / f"distinct{index}.bin"
        path.write_bytes(distinct_pool(index, pool))
        files["distinct"].append(path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--mode", default=",".join(MODES), help="distinct, repeated or both (comma-separated)")
    parser.add_argument("--messages", type=int, default=200000)
    parser.add_argument("--pushers", type=int, default=4)
    parser.add_argument("--pool", type=int, default=20000, help="distinct messages per pusher")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--check-supply", action="store_true",
                        help="measure the distinct pushers into a bare sink and nanocat --pull, then stop")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--push", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pool-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.messages, args.time_limit)
        return
    if args.sink:
        sink(args.sink, args.messages, args.time_limit)
        return
    if args.push:
        push(args.push, args.pool_file, args.time_limit)
        return
    modes = tuple(mode for mode in args.mode.split(",") if mode)
    if (not 1 <= args.messages <= 1_000_000 or not 1 <= args.pushers <= 16 or not 1 <= args.reps <= 10
            or not 1 <= args.pool <= 100_000 or not set(modes) <= set(MODES) or not modes):
        parser.error(f"bounds: messages 1..1000000, pushers 1..16, reps 1..10, pool 1..100000, modes {MODES}")
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"ingest-bench-{os.getpid()}"
    workdir.mkdir()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')} {platform.node()} cores={os.cpu_count()} "
          f"python={platform.python_version()} messages={args.messages} size={MESSAGE_SIZE} pushers={args.pushers} "
          f"pool={args.pool} loadavg={' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: dict[tuple[str, str], list[float]] = {}
    try:
        files = write_streams(workdir, args.pushers, args.pool)
        if args.check_supply:
            for rep in range(args.reps):
                for name, run in (("sink", run_sink), ("nanocat-pull", lambda *a: run_peer("distinct", *a))):
                    rate = run(files["distinct"], args.messages, args.time_limit)
                    print(f"SUPPLY rep={rep} mode=distinct receiver={name} msgs_per_s={rate:.0f}", flush=True)
            return
        for rep in range(args.reps):
            for mode in modes:
                for name, run in (("dhcpsuite", run_ours), ("nanocat-pull", run_peer)):
                    rate = run(mode, files[mode], args.messages, args.time_limit)
                    results.setdefault((mode, name), []).append(rate)
                    print(f"rep={rep} mode={mode} receiver={name} msgs_per_s={rate:.0f}", flush=True)
    finally:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    repeated, unique = decode_rates()
    for mode in modes:
        ours, peer = (statistics.median(results[mode, name]) for name in ("dhcpsuite", "nanocat-pull"))
        print(f"MEDIAN mode={mode} receiver=dhcpsuite msgs_per_s={ours:.0f}")
        print(f"MEDIAN mode={mode} receiver=nanocat-pull msgs_per_s={peer:.0f}")
        print(f"RATIO mode={mode} dhcpsuite/nanocat={ours / peer:.2f}")
    print(f"DECODE-ONLY repeated_msgs_per_s={repeated:.0f} all_distinct_msgs_per_s={unique:.0f}")


if __name__ == "__main__":
    main()
