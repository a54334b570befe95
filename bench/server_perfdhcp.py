#!/usr/bin/env python3
"""
DHCPv4 server capacity, dhcpsuite against Kea (or dnsmasq), with Kea's perfdhcp.

    sudo .venv/bin/python bench/server_perfdhcp.py            # dhcpsuite,kea, full run (REPS=3)
    sudo .venv/bin/python bench/server_perfdhcp.py --quick    # smoke run, about 30 s
    sudo .venv/bin/python bench/server_perfdhcp.py --servers dhcpsuite,kea,dnsmasq --latency-at 0.8

One veth pair (tests.support.netns.VethPair): server ns srv0 10.77.0.1/16,
client ns cli0 10.77.0.2/16, where perfdhcp acts as a relay agent (from
10.77.0.2:67, giaddr 10.77.0.2). For each repetition and each server (the
order alternates between repetitions) the offered rate is ramped up
(perfdhcp -r) until more than --ok-drops % of the exchanges fail; every step
starts a fresh server with an empty lease database, pinned to CPU 0 while
perfdhcp is pinned to CPU 1. dnsmasq ramps through DEFAULT_RATES (it
answers a few hundred per second), dhcpsuite and Kea through FAST_RATES.

  dora/s  = ACKs received by perfdhcp / duration
  drops % = 100 * (1 - ACKs received / DISCOVERs sent)

Per server it prints the highest offered rate sustained with drops <= 1 %
and the DORA/s there, their medians over the repetitions, and the ratios
dhcpsuite/kea and dhcpsuite/dnsmasq (for the servers that ran). The whole run stops starting new steps after
--max-seconds (reported as a partial run).

Servers:
  dhcpsuite  twistd -n dhcpsuite --config (lease_store sqlite in a fresh
             directory on /tmp, log_exchanges false)
  kea        kea-dhcp4 2.2, memfile (CSV in a fresh directory on /tmp,
             persist true: Kea appends each lease to it but never fsyncs),
             multi-threading off (one thread), raw sockets on srv0;
             bench/server_postgresql.py's kea-memfile kind, the same config
  dnsmasq    --no-ping, dhcp-lease-max=1000000, dhcp-authoritative,
             quiet-dhcp, port=0, lease file in a fresh directory on /tmp
All serve 10.77.0.10-10.77.250.250 with 1 h leases.

Options for the one-command harness (bench/run):
  --preload N         before every step, the dhcpsuite store already holds N
                      bound leases (written once with bench.memory's
                      write_leases, at 10.78.0.10 upwards, then copied into
                      each fresh state directory); the subnet becomes
                      10.76.0.0/14 so they are in it but outside the pool
                      perfdhcp draws from. dnsmasq is not preloaded.
  --latency-at F      after the sweeps of each repetition, one more step for
                      every server at F times dhcpsuite's highest sustained
                      rate of that repetition (the same offered rate for all);
                      its "avg delay" DISCOVER-OFFER + REQUEST-ACK (perfdhcp)
                      is the mean DORA latency there. --latency-at-half is
                      --latency-at 0.5.
  --base-tree DIR     server dhcpsuite-base runs dhcpsuite from DIR (older
                      code, e.g. `git archive REV | tar -x -C DIR`), for a
                      before/after in one run; the ratio dhcpsuite/dhcpsuite-base
                      is printed.
  --base-python PY    dhcpsuite-base runs under this interpreter (the twistd
                      beside it; default: the one running this script), e.g.
                      a PyPy venv with --base-tree a copy that runs on it.
  --warmup S          before every step, S seconds of perfdhcp at 2,000/s,
                      not measured (for a JIT's warm-up; every server gets it).
  --history           dhcpsuite with [server.history] enabled = true against
                      dhcpsuite without (servers dhcpsuite,dhcpsuite-history,
                      alternating); each history step also records how many
                      acks the history file holds after the server stopped.
Every step also records perfdhcp's avg delays (do/ra_avg_delay_ms).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import sqlite3
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    REPOSITORY, cpu_seconds, dhcpsuite_config, find_program, median, perfdhcp_counts, perfdhcp_section, server_bench_refusal,
)
from tests.support.netns import Namespace, VethPair, wait_udp_listening  # noqa: E402

SERVERS = ("dhcpsuite", "kea", "dnsmasq")
DEFAULT_SERVERS = ("dhcpsuite", "kea")
# dhcpsuite with [server.history] on: against plain dhcpsuite (--history),
# the cost of recording every binding change.
HISTORY_SERVER = "dhcpsuite-history"
# dhcpsuite run from --base-tree (older code): a before/after in one run.
BASE_SERVER = "dhcpsuite-base"
KNOWN_SERVERS = SERVERS + (HISTORY_SERVER, BASE_SERVER)
HISTORY_DB = "lease-history.sqlite3"
DEFAULT_RATES = (100, 150, 200, 250, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 12000, 16000)
# dhcpsuite and Kea: fine steps around their capacities (4,000-10,000/s here).
FAST_RATES = (2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 14000, 16000, 20000)
QUICK_RATES = (100, 1000)
QUICK_FAST_RATES = (2000, 5000, 8000, 11000, 14000)
POOL_START, POOL_END = "10.77.0.10", "10.77.250.250"
SUBNET, PRELOAD_SUBNET = "10.77.0.0/16", "10.76.0.0/14"
LEASE_DB = "server-leases.sqlite3"
SERVER_CPU, CLIENT_CPU = "0", "1"
# Set from --base-tree: the source tree the dhcpsuite-base server runs from.
BASE_TREE: Path | None = None
TWISTD = str(Path(sys.executable).with_name("twistd"))
# The offered rate of the unmeasured run before each step (--warmup).
WARMUP_RATE = 2000
# Set from --base-python: the twistd dhcpsuite-base runs under.
BASE_TWISTD = TWISTD

HISTORY_CONFIG = """
[server.history]
enabled = true
"""

DNSMASQ_CONFIG = """\
port=0
no-resolv
no-hosts
interface=srv0
except-interface=lo
bind-interfaces
dhcp-range={pool_start},{pool_end},255.255.0.0,1h
dhcp-lease-max=1000000
dhcp-leasefile={state}/dnsmasq.leases
dhcp-authoritative
no-ping
quiet-dhcp
pid-file={state}/dnsmasq.pid
user=root
group=root
"""


def log(message: str) -> None:
    print(message, flush=True)


def kea_config(state: Path, database: dict | None, threads: int, subnet: str = SUBNET,
               pool: tuple[str, str] = (POOL_START, POOL_END)) -> dict:
    """
    Kea 2.2's configuration: raw sockets on srv0, the pool of the dhcpsuite
    runs, 1 h leases, WARN logging to a file; C{database} None is memfile
    (persist, which appends to a CSV without fsync).
    """
    if database is None:
        lease_database = {"type": "memfile", "persist": True, "name": str(state / "kea-leases4.csv"),
                          "lfc-interval": 0}
    else:
        lease_database = {"type": "postgresql", **database}
    return {"Dhcp4": {
        "interfaces-config": {"interfaces": ["srv0"], "dhcp-socket-type": "raw"},
        "lease-database": lease_database,
        "multi-threading": {"enable-multi-threading": threads > 1, "thread-pool-size": max(threads, 1),
                            "packet-queue-size": 64},
        "valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800,
        "subnet4": [{"id": 1, "subnet": subnet, "pools": [{"pool": f"{pool[0]} - {pool[1]}"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
                     "output_options": [{"output": str(state / "kea-dhcp4.log")}]}],
    }}


def kea_environment(state: Path) -> dict:
    """
    kea-dhcp4's pid and lock files in the server's own state directory.
    """
    return dict(os.environ, KEA_PIDFILE_DIR=str(state), KEA_LOCKFILE_DIR=str(state))


def base_tree_environment(kind: str, base_tree: Path | None) -> dict[str, str]:
    """
    The environment of a C{*-base} server: the package from C{--base-tree}
    (the code before a change, measured in the same run).
    """
    if base_tree is None:
        raise RuntimeError(f"{kind} needs --base-tree")
    return dict(os.environ, PYTHONPATH=str(base_tree))


class ServerProcess:
    """
    A server process in C{ns} with its own state directory: started by
    L{_launch} once its configuration is written, stopped by PID.
    """

    kind: str
    ns: Namespace
    state: Path
    output: Path

    def _launch(self, args: list[str], env: dict[str, str] | None, cpu: str | None, timeout: float) -> None:
        if cpu is not None:
            args = ["taskset", "-c", cpu, *args]
        with open(self.output, "wb") as sink:
            self.process = self.ns.spawn(args, stdout=sink, stderr=subprocess.STDOUT, cwd=self.state, env=env)
        try:
            wait_udp_listening(self.ns, 67, self.process, timeout=timeout)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError(f"{self.kind} did not start: {e}\n{self.output.read_text(errors='replace')[-2000:]}")
        # `ip netns exec` and taskset exec the server: this PID is the server's.
        self.pid = self.process.pid
        time.sleep(0.3)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.ns.stop(self.process, sig, timeout=10)
        if self.process in self.ns.processes:
            self.ns.processes.remove(self.process)

    def discard(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)


class Server(ServerProcess):
    """
    One fresh server process (empty state) in the server namespace.
    """

    def __init__(self, kind: str, ns: Namespace, workdir: Path, pin: bool, preload: Path | None = None,
                 profile: Path | None = None) -> None:
        self.kind = kind
        self.ns = ns
        self.state = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
        self.output = self.state / "server.out"
        values = {"state": self.state, "pool_start": POOL_START, "pool_end": POOL_END,
                  "subnet": PRELOAD_SUBNET if preload else SUBNET}
        if kind.startswith("dhcpsuite") and preload:
            for path in preload.glob(LEASE_DB + "*"):
                shutil.copy(path, self.state / path.name)
        env = base_tree_environment(kind, BASE_TREE) if kind == BASE_SERVER else None
        if kind.startswith("dhcpsuite"):
            config = self.state / "dhcpsuite.toml"
            config.write_text(dhcpsuite_config(self.state, values["subnet"], f"{POOL_START}-{POOL_END}",
                                               tables=HISTORY_CONFIG if kind == HISTORY_SERVER else ""))
            args = [BASE_TWISTD if kind == BASE_SERVER else TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config",
                    str(config)]
            if profile is not None:
                # cProfile of the reactor thread, written when the server stops (SIGTERM).
                args[3:3] = [f"--profile={profile}", "--profiler=cprofile", "--savestats"]
        elif kind == "kea":
            config = self.state / "kea-dhcp4.json"
            config.write_text(json.dumps(kea_config(self.state, None, 1, values["subnet"]), indent=1))
            args = [find_program("kea-dhcp4"), "-c", str(config)]
            env = kea_environment(self.state)
        else:
            config = self.state / "dnsmasq.conf"
            config.write_text(DNSMASQ_CONFIG.format(**values))
            args = [find_program("dnsmasq"), "--keep-in-foreground", f"--conf-file={config}"]
        # Loading a preloaded store takes a while before the port opens.
        self._launch(args, env, SERVER_CPU if pin else None, timeout=60 if preload else 15)


def run_step(pair: VethPair, kind: str, rate: int, args, workdir: Path, start=None) -> dict:
    """
    One fresh server, one perfdhcp run at C{rate}; the measured figures.

    @param start: makes the fresh server from C{kind} (default L{Server}),
        for scripts measuring other servers (bench/server_postgresql.py);
        the result needs C{pid}, C{output}, C{alive()}, C{stop()}, C{discard()}.
    """
    if start is not None:
        server = start(kind)
    else:
        profile = None
        if getattr(args, "profile", None) and kind.startswith("dhcpsuite"):
            profile = Path(args.profile) / f"{kind}-{rate}-{time.monotonic_ns()}.pstats"
        server = Server(kind, pair.server, workdir, args.pin,
                        args.preload_dir if kind.startswith("dhcpsuite") else None, profile)
    try:
        perfdhcp = [find_program("perfdhcp"), "-4", "-l", pair.client_if, "-r", str(rate), "-R", str(args.clients),
                    "-p", str(args.duration), "-W", "1000000"]
        if args.pin:
            perfdhcp = ["taskset", "-c", CLIENT_CPU, *perfdhcp]
        warmup = getattr(args, "warmup", 0)
        if warmup:
            # Not measured: a JIT (PyPy) compiles during its first thousands of exchanges. Every server gets it.
            first = [*perfdhcp[:perfdhcp.index("-r") + 1], str(WARMUP_RATE), "-R", str(args.clients), "-p", str(warmup)]
            pair.client.run(["timeout", "--signal=INT", "--kill-after=5", str(warmup + 20), *first], check=False,
                            timeout=warmup + 40)
        cpu_before, started = cpu_seconds(server.pid), time.monotonic()
        # perfdhcp ends itself after -p (+ -W); `timeout` is the backstop.
        result = pair.client.run(["timeout", "--signal=INT", "--kill-after=5", str(args.duration + 20), *perfdhcp],
                                 check=False, timeout=args.duration + 40)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        alive = server.alive()
    finally:
        server.stop()
    counts = perfdhcp_counts(result.stdout)
    step = {"server": kind, "rate": rate, "duration": args.duration, "server_alive": alive,
            "server_cpu_pct": round(100 * cpu / elapsed, 1),
            # Other work on the machine shows up as drops on either side: keep it next to the figures.
            "loadavg_1min": os.getloadavg()[0]}
    if counts is None:
        step.update(failed=True, perfdhcp_rc=result.returncode,
                    perfdhcp_tail=(result.stdout + result.stderr)[-800:],
                    server_tail=server.output.read_text(errors="replace")[-800:])
        step.update(dora_per_s=0.0, drops_pct=100.0)
    else:
        step.update(counts)
        step["dora_per_s"] = round(counts["acks_received"] / args.duration, 1)
        sent = counts["discovers_sent"]
        step["drops_pct"] = round(100.0 * (1 - counts["acks_received"] / sent), 2) if sent else 100.0
        step.update(exchange_delays(result.stdout))
    if kind == HISTORY_SERVER:
        # What the history wrote (the server has stopped, so all of it).
        with sqlite3.connect(server.state / HISTORY_DB) as db:
            step["history_acks"] = db.execute("SELECT count(*) FROM lease_history WHERE event = 'ack'").fetchone()[0]
    if step["drops_pct"] > args.ok_drops or not alive:
        # Keep the evidence of the step that ended the ramp.
        step["server_log"] = str(server.output)
    else:
        server.discard()
    return step


def exchange_delays(report: str) -> dict:
    """
    perfdhcp's mean delays (ms) of the two exchanges, and their sum: the mean
    DORA latency.
    """
    do = perfdhcp_section(report, "DISCOVER-OFFER").get("avg delay")
    ra = perfdhcp_section(report, "REQUEST-ACK").get("avg delay")
    if do is None or ra is None:
        return {}
    return {"do_avg_delay_ms": do, "ra_avg_delay_ms": ra, "dora_avg_delay_ms": round(do + ra, 3)}


def latency_steps(pair: VethPair, results: list[dict], args, workdir: Path, deadline: float) -> None:
    """
    One more step per server of this repetition, all at C{args.latency_at}
    times dhcpsuite's highest sustained rate: each server's mean DORA
    latency at the same offered rate (stored as the result's C{latency}).
    """
    ours = next((r for r in results if r["server"] == "dhcpsuite"), results[0])
    if ours["best"] is None:
        return
    rate = max(1, int(ours["best"]["rate"] * args.latency_at))
    for result in results:
        if not result["complete"] or time.monotonic() + args.duration + 15 > deadline:
            continue
        step = run_step(pair, result["server"], rate, args, workdir)
        step["rep"] = result["rep"]
        result["latency"] = step
        log(f"LATENCY-STEP rep={step['rep']} server={step['server']} rate={rate} dora_per_s={step['dora_per_s']} "
            f"drops_pct={step['drops_pct']} do_ms={step.get('do_avg_delay_ms')} ra_ms={step.get('ra_avg_delay_ms')} "
            f"dora_avg_delay_ms={step.get('dora_avg_delay_ms')} loadavg={step['loadavg_1min']:.2f}")


def sweep(pair: VethPair, kind: str, rep: int, args, workdir: Path, deadline: float, start=None) -> dict:
    steps, best, peak = [], None, None
    rates = args.rates or (args.dnsmasq_rates if kind == "dnsmasq" else args.fast_rates)
    for rate in rates:
        if time.monotonic() + args.duration + 15 > deadline:
            log(f"  (time budget reached before {kind} rate {rate})")
            return {"server": kind, "rep": rep, "steps": steps, "best": best, "peak": peak, "complete": False}
        step = run_step(pair, kind, rate, args, workdir, start)
        step["rep"] = rep
        steps.append(step)
        log(f"STEP rep={rep} server={kind} rate={rate} dora_per_s={step['dora_per_s']} "
            f"drops_pct={step['drops_pct']} server_cpu_pct={step['server_cpu_pct']} loadavg={step['loadavg_1min']:.2f}"
            + (" FAILED" if step.get("failed") else "") + ("" if step["server_alive"] else " SERVER-DIED"))
        if peak is None or step["dora_per_s"] > peak["dora_per_s"]:
            peak = step
        if step["drops_pct"] > args.ok_drops or not step["server_alive"]:
            if step.get("failed"):
                log(f"  perfdhcp output: {step['perfdhcp_tail']!r}")
            break
        best = step
    else:
        log(f"  ({kind} sustained the highest rate tried, {rates[-1]}/s: its capacity is higher)")
    return {"server": kind, "rep": rep, "steps": steps, "best": best, "peak": peak, "complete": True}


def summarise(sweeps: list[dict], servers: list[str]) -> dict:
    summary = {}
    for kind in servers:
        mine = [s for s in sweeps if s["server"] == kind and s["complete"]]
        rates = [s["best"]["rate"] if s["best"] else 0 for s in mine]
        doras = [s["best"]["dora_per_s"] if s["best"] else 0.0 for s in mine]
        cpus = [s["best"]["server_cpu_pct"] for s in mine if s["best"]]
        peaks = [s["peak"]["dora_per_s"] for s in mine if s["peak"]]
        latency = [s["latency"] for s in mine if s.get("latency") and "dora_avg_delay_ms" in s["latency"]]
        top = [bool(s["best"]) and s["best"] is s["steps"][-1] for s in mine]
        summary[kind] = {
            "sweeps": len(mine),
            "max_sustained_rate": rates,
            "dora_per_s_at_max": doras,
            "median_max_sustained_rate": median(rates),
            "median_dora_per_s_at_max": median(doras),
            "median_server_cpu_pct_at_max": median(cpus),
            "median_peak_dora_per_s": median(peaks),
            # True where the sweep never failed: the capacity is above the highest rate tried.
            "sustained_highest_rate": top,
            # The --latency-at steps: offered rate, DO and RA mean delays, their sum.
            "latency_rate": [s["rate"] for s in latency],
            "latency_drops_pct": [s["drops_pct"] for s in latency],
            "do_latency_ms": [s["do_avg_delay_ms"] for s in latency],
            "ra_latency_ms": [s["ra_avg_delay_ms"] for s in latency],
            "dora_latency_ms": [s["dora_avg_delay_ms"] for s in latency],
            "median_dora_latency_ms": median([s["dora_avg_delay_ms"] for s in latency]),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: fewer rates, 3 s each, 1 repetition, 5000 clients")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                        help=f"comma-separated, from: {','.join(KNOWN_SERVERS)}")
    parser.add_argument("--history", action="store_true",
                        help=f"compare dhcpsuite with the lease history off and on (--servers dhcpsuite,{HISTORY_SERVER})")
    parser.add_argument("--rates", default=None,
                        help="comma-separated offered rates to ramp through, for every server "
                             "(default: FAST_RATES for dhcpsuite and kea, DEFAULT_RATES for dnsmasq)")
    parser.add_argument("--duration", type=int, default=None, help="perfdhcp -p seconds per step (default 10)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default: env REPS, else 3)")
    parser.add_argument("--clients", type=int, default=None, help="perfdhcp -R (default 50000, below the pool size)")
    parser.add_argument("--ok-drops", type=float, default=1.0, help="a rate is sustained with drops <= this %%")
    parser.add_argument("--max-seconds", type=float, default=1800, help="start no step after this (default 1800)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin with taskset")
    parser.add_argument("--workdir", default="/tmp/dhcpsuite-bench", help="server state directories (on /tmp)")
    parser.add_argument("--json", default=None, help="write every step and the summary here")
    parser.add_argument("--preload", type=int, default=0,
                        help="the dhcpsuite store holds this many bound leases before each step (subnet 10.76.0.0/14)")
    parser.add_argument("--latency-at", type=float, default=None, metavar="F",
                        help="after each repetition's sweeps, one step per server at F x dhcpsuite's highest "
                             "sustained rate (mean DORA latency at the same offered rate), e.g. 0.8")
    parser.add_argument("--latency-at-half", dest="latency_at", action="store_const", const=0.5,
                        help="--latency-at 0.5")
    parser.add_argument("--base-tree", default=None,
                        help=f"source tree {BASE_SERVER} runs from, e.g. from `git archive REV | tar -x -C DIR`")
    parser.add_argument("--base-python", default=None,
                        help=f"interpreter {BASE_SERVER} runs under (the twistd beside it), e.g. a PyPy venv's")
    parser.add_argument("--warmup", type=int, default=0,
                        help=f"seconds of perfdhcp at {WARMUP_RATE}/s before every step, not measured (default 0)")
    parser.add_argument("--profile", default=None,
                        help="directory: run the dhcpsuite servers under cProfile (reactor thread), one .pstats "
                             "per step; not for figures (profiling slows the server)")
    args = parser.parse_args(argv)

    args.servers = [s for s in args.servers.split(",") if s]
    if args.history:
        args.servers = ["dhcpsuite", HISTORY_SERVER]
    unknown = set(args.servers) - set(KNOWN_SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    global BASE_TREE
    BASE_TREE = Path(args.base_tree).resolve() if args.base_tree else None
    if BASE_SERVER in args.servers and BASE_TREE is None:
        parser.error(f"{BASE_SERVER} needs --base-tree")
    global BASE_TWISTD
    if args.base_python:
        BASE_TWISTD = str(Path(args.base_python).with_name("twistd"))
        if not os.access(BASE_TWISTD, os.X_OK):
            parser.error(f"--base-python: no twistd beside it ({BASE_TWISTD})")
    args.rates = [int(r) for r in args.rates.split(",")] if args.rates else None
    args.dnsmasq_rates = list(QUICK_RATES if args.quick else DEFAULT_RATES)
    args.fast_rates = list(QUICK_FAST_RATES if args.quick else FAST_RATES)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    args.duration = args.duration or (3 if args.quick else 10)
    args.reps = args.reps or (1 if args.quick else int(os.environ.get("REPS", "3")))
    args.clients = args.clients or (5000 if args.quick else 50000)
    needed = ["perfdhcp", "ss"] + (["dnsmasq"] if "dnsmasq" in args.servers else []) + (
        ["kea-dhcp4"] if "kea" in args.servers else [])
    refusal = server_bench_refusal("server_perfdhcp.py", "network namespaces", needed, args)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    args.preload_dir = None
    if args.preload:
        from bench.memory import write_leases

        args.preload_dir = Path(tempfile.mkdtemp(prefix=f"preload-{args.preload}-", dir=workdir))
        write_leases(str(args.preload_dir), args.preload)
        log(f"# preloaded {args.preload} leases in {time.monotonic() - started:.1f} s")
    deadline = started + args.max_seconds
    versions = {
        "dnsmasq": subprocess.run([find_program("dnsmasq") or "true", "--version"], capture_output=True,
                                  text=True).stdout.split("\n")[0],
        "kea": subprocess.run([find_program("kea-dhcp4") or "true", "-v"], capture_output=True,
                              text=True).stdout.strip(),
        "perfdhcp": subprocess.run([find_program("perfdhcp"), "-v"], capture_output=True, text=True).stdout.strip(),
        "dhcpsuite_commit": subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True).stdout.strip(),
    }
    log(f"# server_perfdhcp {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} servers={','.join(args.servers)} "
        f"rates={','.join(map(str, args.rates or args.fast_rates))} duration={args.duration}s reps={args.reps} clients={args.clients} "
        f"pin={args.pin} nproc={os.cpu_count()} {versions}")
    sweeps: list[dict] = []
    with VethPair(prefix="bsp", client_address="10.77.0.2/16") as pair:
        for rep in range(1, args.reps + 1):
            order = args.servers if rep % 2 else list(reversed(args.servers))
            results = []
            for kind in order:
                result = sweep(pair, kind, rep, args, workdir, deadline)
                results.append(result)
                sweeps.append(result)
                best = result["best"]
                log(f"SWEEP rep={rep} server={kind} max_sustained_rate={best['rate'] if best else 0} "
                    f"dora_at_that_rate={best['dora_per_s'] if best else 0} "
                    f"peak_dora_per_s={result['peak']['dora_per_s'] if result['peak'] else 0}"
                    + ("" if result["complete"] else " PARTIAL"))
            if args.latency_at:
                latency_steps(pair, results, args, workdir, deadline)

    if args.preload_dir is not None:
        shutil.rmtree(args.preload_dir, ignore_errors=True)
    summary = summarise(sweeps, args.servers)
    partial = any(not s["complete"] for s in sweeps) or any(
        summary[k]["sweeps"] < args.reps for k in args.servers)
    log("")
    log(f"{'server':10} {'n':>2} {'max rate (each rep)':>24} {'median max rate':>16} "
        f"{'median DORA/s there':>20} {'median CPU %':>13} {'median peak DORA/s':>19}")
    for kind in args.servers:
        s = summary[kind]
        log(f"{kind:10} {s['sweeps']:>2} {','.join(map(str, s['max_sustained_rate'])):>24} "
            f"{s['median_max_sustained_rate']:>16} {s['median_dora_per_s_at_max']:>20} "
            f"{s['median_server_cpu_pct_at_max']:>13} {s['median_peak_dora_per_s']:>19}")
    ratio = {}
    for peer in ("kea", "dnsmasq", BASE_SERVER):
        if {"dhcpsuite", peer} <= set(args.servers):
            a, b = summary["dhcpsuite"], summary[peer]
            ratio[peer] = {key: (round(a[key] / b[key], 2) if b[key] else None)
                           for key in ("median_max_sustained_rate", "median_dora_per_s_at_max",
                                       "median_peak_dora_per_s")}
            log(f"RATIO dhcpsuite/{peer} " + " ".join(f"{k.removeprefix('median_')}={v}"
                                                       for k, v in ratio[peer].items()))
    if {"dhcpsuite", HISTORY_SERVER} <= set(args.servers):
        a, b = summary[HISTORY_SERVER], summary["dhcpsuite"]
        ratio["history"] = {key: (round(a[key] / b[key], 3) if b[key] else None)
                            for key in ("median_max_sustained_rate", "median_dora_per_s_at_max", "median_peak_dora_per_s")}
        log("RATIO history-on/off " + " ".join(f"{k}={v}" for k, v in ratio["history"].items()))
    for kind in args.servers:
        s = summary[kind]
        if s["dora_latency_ms"]:
            log(f"LATENCY {kind} mean DORA ms (DO + RA avg delay) at {args.latency_at} x dhcpsuite's max rate: "
                f"median {s['median_dora_latency_ms']} (each rep: rate {s['latency_rate']}, DO {s['do_latency_ms']}, "
                f"RA {s['ra_latency_ms']}, drops % {s['latency_drops_pct']})")
    if partial:
        log(f"PARTIAL: the --max-seconds budget ({args.max_seconds:.0f} s) ended the run early")
    log(f"# took {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": {k: v for k, v in vars(args).items()}, "versions": versions, "sweeps": sweeps,
            "summary": summary, "ratio": ratio, "partial": partial,
        }, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
