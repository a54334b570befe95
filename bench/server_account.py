#!/usr/bin/env python3
"""
Where the dhcpsuite server's CPU goes per DORA, at a fixed offered rate
below its capacity (the set-up of bench/server_perfdhcp.py: perfdhcp as a
relay from cli0, the server pinned to CPU 0, perfdhcp to CPU 1).

    sudo flock /tmp/dhcpsuite-bench.lock .venv/bin/python bench/server_account.py --rate 4000
    sudo ... bench/server_account.py --rate 4000 --kinds dhcpsuite,dhcpsuite-base --base-tree DIR --reps 3

Kinds: dhcpsuite, dhcpsuite-base (from --base-tree, the code before a
change) and kea (Kea 2.2 memfile, one thread: bench/server_perfdhcp.py's).
For each repetition and kind (the order alternating), a fresh server and
one perfdhcp run at --rate; after a 2 s warm-up, over --window seconds, per
thread of the server (/proc/PID/task/*; the main thread is the reactor):

  CPU µs per DORA (schedstat's run time, kernel time in the thread's
    context included), µs per DORA runnable but waiting for the CPU, and
    voluntary and involuntary context switches per DORA.

The window's DORAs are taken as rate x window: meaningful only while
perfdhcp's drops (printed) stay near 0, i.e. below the server's capacity.
Then, one after the other (each perturbs the server):

  --strace S   `strace -c -f` for S seconds: syscalls per DORA by name (a
               relayed DORA is two sendto, OFFER and ACK);
  --trace S    every syscall of every thread for S seconds (strace -f -tt -T);
  --pyspy S    `py-spy record --native --threads` for S seconds, the raw
               stacks written to --out (py-spy: pip install py-spy).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import server_perfdhcp  # noqa: E402
from bench.common import find_program, median, perfdhcp_counts  # noqa: E402
from tests.support.netns import VethPair  # noqa: E402

WARMUP = 2.0


def threads(pid: int) -> dict[int, dict]:
    """
    Per thread of C{pid}: its name, run and run-queue nanoseconds, context switches.
    """
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run_ns, wait_ns, _ = (int(v) for v in (task / "schedstat").read_text().split())
            status = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
            name = (task / "comm").read_text().strip()
        except (OSError, ValueError):
            continue
        out[int(task.name)] = {"name": name, "run_ns": run_ns, "wait_ns": wait_ns,
                               "vcs": int(status["voluntary_ctxt_switches"]),
                               "ivcs": int(status["nonvoluntary_ctxt_switches"])}
    return out


def thread_delta(pid: int, before: dict, after: dict, doras: float) -> dict[str, dict]:
    rows = {}
    others = 0
    for tid, b in sorted(before.items()):
        a = after.get(tid)
        if a is None:
            continue
        # The main thread runs the reactor; the others, in the order they
        # started: the lease writer first.
        if tid == pid:
            label = "reactor"
        else:
            others += 1
            label = f"thread {others}"
        rows[label] = {
            "cpu_us_per_dora": round((a["run_ns"] - b["run_ns"]) / 1e3 / doras, 1),
            "runqueue_us_per_dora": round((a["wait_ns"] - b["wait_ns"]) / 1e3 / doras, 1),
            "voluntary_cs_per_dora": round((a["vcs"] - b["vcs"]) / doras, 3),
            "involuntary_cs_per_dora": round((a["ivcs"] - b["ivcs"]) / doras, 3),
        }
    return rows


def strace_counts(pid: int, seconds: float, out: Path) -> dict[str, int]:
    path = out / f"strace-{pid}.txt"
    process = subprocess.Popen(["strace", "-c", "-f", "-S", "calls", "-o", str(path), "-p", str(pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    process.send_signal(2)
    process.wait(10)
    calls = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] not in ("total", "syscall"):
            calls[parts[-1]] = int(parts[3])
    return calls


def pyspy(pid: int, seconds: float, out: Path, kind: str) -> Path:
    path = out / f"pyspy-{kind}-{pid}.txt"
    spy = str(Path(sys.executable).with_name("py-spy"))
    subprocess.run([spy, "record", "--native", "--threads", "-r", "250", "-d", str(int(seconds)), "-f", "raw",
                    "-o", str(path), "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=seconds + 60)
    return path


def step(pair: VethPair, kind: str, args, workdir: Path) -> dict:
    server = server_perfdhcp.Server(kind, pair.server, workdir, pin=True)
    extra = (args.strace or 0) + (args.pyspy or 0) + (args.trace or 0) + 1
    seconds = int(WARMUP + args.window + extra + 1)
    perfdhcp = ["taskset", "-c", server_perfdhcp.CLIENT_CPU, find_program("perfdhcp"), "-4", "-l", pair.client_if,
                "-r", str(args.rate), "-R", "50000", "-p", str(seconds), "-W", "1000000"]
    client = pair.client.spawn(["timeout", "--signal=INT", "--kill-after=5", str(seconds + 20), *perfdhcp],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(WARMUP)
        before = threads(server.pid)
        load = os.getloadavg()[0]
        time.sleep(args.window)
        after = threads(server.pid)
        doras = args.rate * args.window
        result = {"kind": kind, "rate": args.rate, "loadavg_1min": load,
                  "threads": thread_delta(server.pid, before, after, doras)}
        result["cpu_us_per_dora"] = round(sum(t["cpu_us_per_dora"] for t in result["threads"].values()), 1)
        if args.strace:
            calls = strace_counts(server.pid, args.strace, args.out)
            dora = calls.get("sendto", 0) / 2 or 1
            result["syscalls_per_dora"] = {name: round(n / dora, 2) for name, n in calls.items()}
        if args.trace:
            path = args.out / f"trace-{kind}-{server.pid}.txt"
            tracer = subprocess.Popen(["strace", "-f", "-tt", "-T", "-o", str(path), "-p", str(server.pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(args.trace)
            tracer.send_signal(2)
            tracer.wait(10)
            result["trace"] = str(path)
        if args.pyspy:
            result["pyspy"] = str(pyspy(server.pid, args.pyspy, args.out, kind))
        output, _ = client.communicate(timeout=seconds + 40)
    finally:
        if client.poll() is None:
            pair.client.stop(client)
        server.stop()
        server.discard()
    counts = perfdhcp_counts(output) or {}
    sent = counts.get("discovers_sent", 0)
    result["drops_pct"] = round(100.0 * (1 - counts.get("acks_received", 0) / sent), 2) if sent else 100.0
    result.update(server_perfdhcp.exchange_delays(output))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--rate", type=int, default=4000)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--kinds", default="dhcpsuite")
    parser.add_argument("--base-tree", default=None)
    parser.add_argument("--strace", type=float, default=0.0, metavar="S")
    parser.add_argument("--trace", type=float, default=0.0, metavar="S",
                        help="`strace -f -tt -T` (every call, timed) for S seconds, into --out")
    parser.add_argument("--pyspy", type=float, default=0.0, metavar="S")
    parser.add_argument("--out", default=None, help="directory for strace/py-spy output and the JSON")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if args.base_tree:
        server_perfdhcp.BASE_TREE = Path(args.base_tree).resolve()
    args.out = Path(args.out or tempfile.mkdtemp(prefix="server-account-"))
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path("/tmp/dhcpsuite-bench")
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    with VethPair(prefix="bac", client_address="10.77.0.2/16") as pair:
        for rep in range(args.reps):
            for kind in (kinds if rep % 2 == 0 else kinds[::-1]):
                result = step(pair, kind, args, workdir)
                result["rep"] = rep + 1
                results.append(result)
                print(json.dumps(result), flush=True)
    print()
    for kind in kinds:
        mine = [r for r in results if r["kind"] == kind]
        labels = collections.OrderedDict((label, None) for r in mine for label in r["threads"])
        print(f"{kind}: rate {args.rate}/s, total CPU µs/DORA median {median(r['cpu_us_per_dora'] for r in mine)} "
              f"(each {[r['cpu_us_per_dora'] for r in mine]}), drops % {[r['drops_pct'] for r in mine]}, "
              f"DORA ms {[r.get('dora_avg_delay_ms') for r in mine]}, load {[round(r['loadavg_1min'], 2) for r in mine]}")
        for label in labels:
            rows = [r["threads"][label] for r in mine if label in r["threads"]]
            print(f"  {label:28} " + " ".join(f"{key}={median(row[key] for row in rows)}" for key in rows[0]))
    (args.out / "account.json").write_text(json.dumps(results, indent=1))
    print(f"# output in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
