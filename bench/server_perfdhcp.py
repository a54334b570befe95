#!/usr/bin/env python3
"""
DHCPv4 server capacity, dhcpsuite against dnsmasq, with Kea's perfdhcp.

    sudo .venv/bin/python bench/server_perfdhcp.py            # full run (REPS=3)
    sudo .venv/bin/python bench/server_perfdhcp.py --quick    # smoke run, about 15 s

One veth pair (tests.support.netns.VethPair): server ns srv0 10.77.0.1/16,
client ns cli0 10.77.0.2/16, where perfdhcp acts as a relay agent (from
10.77.0.2:67, giaddr 10.77.0.2). For each repetition and each server (the
order alternates between repetitions) the offered rate is ramped up
(perfdhcp -r) until more than --ok-drops % of the exchanges fail; every step
starts a fresh server with an empty lease database, pinned to CPU 0 while
perfdhcp is pinned to CPU 1.

  dora/s  = ACKs received by perfdhcp / duration
  drops % = 100 * (1 - ACKs received / DISCOVERs sent)

Per server it prints the highest offered rate sustained with drops <= 1 %
and the DORA/s there, their medians over the repetitions, and the ratio
dhcpsuite/dnsmasq. The whole run stops starting new steps after
--max-seconds (reported as a partial run).

Servers:
  dhcpsuite  twistd -n dhcpsuite --config (lease_store sqlite in a fresh
             directory on /tmp, log_exchanges false)
  dnsmasq    --no-ping, dhcp-lease-max=1000000, dhcp-authoritative,
             quiet-dhcp, port=0, lease file in a fresh directory on /tmp
Both serve 10.77.0.10-10.77.250.250 with 1 h leases.

Options for the one-command harness (bench/run):
  --preload N         before every step, the dhcpsuite store already holds N
                      bound leases (written once with bench.memory's
                      write_leases, at 10.78.0.10 upwards, then copied into
                      each fresh state directory); the subnet becomes
                      10.76.0.0/14 so they are in it but outside the pool
                      perfdhcp draws from. dnsmasq is not preloaded.
  --latency-at-half   after each dhcpsuite sweep, one more step at half the
                      highest sustained rate; its "avg delay" DISCOVER-OFFER +
                      REQUEST-ACK (perfdhcp) is the mean DORA latency there.
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
    REPOSITORY, cpu_seconds, find_program, median, perfdhcp_counts, perfdhcp_section, server_bench_refusal,
)
from tests.support.netns import Namespace, VethPair, wait_udp_listening  # noqa: E402

SERVERS = ("dhcpsuite", "dnsmasq")
# dhcpsuite with [server.history] on: against plain dhcpsuite (--history),
# the cost of recording every binding change.
HISTORY_SERVER = "dhcpsuite-history"
KNOWN_SERVERS = SERVERS + (HISTORY_SERVER,)
HISTORY_DB = "lease-history.sqlite3"
DEFAULT_RATES = (100, 150, 200, 250, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 12000, 16000)
QUICK_RATES = (100, 1000)
POOL_START, POOL_END = "10.77.0.10", "10.77.250.250"
SUBNET, PRELOAD_SUBNET = "10.77.0.0/16", "10.76.0.0/14"
LEASE_DB = "server-leases.sqlite3"
SERVER_CPU, CLIENT_CPU = "0", "1"
TWISTD = str(Path(sys.executable).with_name("twistd"))

DHCPSUITE_CONFIG = """\
state_dir = "{state}"

[server]
lease_store = "sqlite"
log_exchanges = false

[[server.subnet]]
subnet = "{subnet}"
interface = "srv0"
pool = ["{pool_start}-{pool_end}"]
lease_time = 3600
"""

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


class Server:
    """
    One fresh server process (empty state) in the server namespace.
    """

    def __init__(self, kind: str, ns: Namespace, workdir: Path, pin: bool, preload: Path | None = None) -> None:
        self.kind = kind
        self.ns = ns
        self.state = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
        self.output = self.state / "server.out"
        values = {"state": self.state, "pool_start": POOL_START, "pool_end": POOL_END,
                  "subnet": PRELOAD_SUBNET if preload else SUBNET}
        if kind.startswith("dhcpsuite") and preload:
            for path in preload.glob(LEASE_DB + "*"):
                shutil.copy(path, self.state / path.name)
        if kind.startswith("dhcpsuite"):
            config = self.state / "dhcpsuite.toml"
            config.write_text(DHCPSUITE_CONFIG.format(**values) + (HISTORY_CONFIG if kind == HISTORY_SERVER else ""))
            args = [TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(config)]
        else:
            config = self.state / "dnsmasq.conf"
            config.write_text(DNSMASQ_CONFIG.format(**values))
            args = [find_program("dnsmasq"), "--keep-in-foreground", f"--conf-file={config}"]
        if pin:
            args = ["taskset", "-c", SERVER_CPU, *args]
        with open(self.output, "wb") as sink:
            self.process = ns.spawn(args, stdout=sink, stderr=subprocess.STDOUT, cwd=self.state)
        try:
            # Loading a preloaded store takes a while before the port opens.
            wait_udp_listening(ns, 67, self.process, timeout=60 if preload else 15)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError(f"{kind} did not start: {e}\n{self.output.read_text(errors='replace')[-2000:]}")
        # `ip netns exec` and taskset exec the server: this PID is the server's.
        self.pid = self.process.pid
        time.sleep(0.3)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.ns.stop(self.process, signal.SIGTERM, timeout=10)
        if self.process in self.ns.processes:
            self.ns.processes.remove(self.process)

    def discard(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)


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
        server = Server(kind, pair.server, workdir, args.pin, args.preload_dir if kind.startswith("dhcpsuite") else None)
    try:
        perfdhcp = [find_program("perfdhcp"), "-4", "-l", pair.client_if, "-r", str(rate), "-R", str(args.clients),
                    "-p", str(args.duration), "-W", "1000000"]
        if args.pin:
            perfdhcp = ["taskset", "-c", CLIENT_CPU, *perfdhcp]
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


def latency_at_half(pair: VethPair, result: dict, args, workdir: Path, deadline: float) -> dict | None:
    """
    One more step at half the highest rate the sweep sustained.
    """
    if result["best"] is None or time.monotonic() + args.duration + 15 > deadline:
        return None
    rate = max(1, result["best"]["rate"] // 2)
    step = run_step(pair, result["server"], rate, args, workdir)
    step["rep"] = result["rep"]
    log(f"HALF rep={step['rep']} server={step['server']} rate={rate} dora_per_s={step['dora_per_s']} "
        f"drops_pct={step['drops_pct']} dora_avg_delay_ms={step.get('dora_avg_delay_ms')}")
    return step


def sweep(pair: VethPair, kind: str, rep: int, args, workdir: Path, deadline: float, start=None) -> dict:
    steps, best, peak = [], None, None
    for rate in args.rates:
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
        log(f"  ({kind} sustained the highest rate tried, {args.rates[-1]}/s: its capacity is higher)")
    return {"server": kind, "rep": rep, "steps": steps, "best": best, "peak": peak, "complete": True}


def summarise(sweeps: list[dict], servers: list[str]) -> dict:
    summary = {}
    for kind in servers:
        mine = [s for s in sweeps if s["server"] == kind and s["complete"]]
        rates = [s["best"]["rate"] if s["best"] else 0 for s in mine]
        doras = [s["best"]["dora_per_s"] if s["best"] else 0.0 for s in mine]
        cpus = [s["best"]["server_cpu_pct"] for s in mine if s["best"]]
        peaks = [s["peak"]["dora_per_s"] for s in mine if s["peak"]]
        halves = [s["half"]["dora_avg_delay_ms"] for s in mine if s.get("half") and "dora_avg_delay_ms" in s["half"]]
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
            "dora_latency_ms_at_half": halves,
            "median_dora_latency_ms_at_half": median(halves),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: rates 100,1000, 3 s each, 1 repetition, 5000 clients")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"comma-separated, from: {','.join(KNOWN_SERVERS)}")
    parser.add_argument("--history", action="store_true",
                        help=f"compare dhcpsuite with the lease history off and on (--servers dhcpsuite,{HISTORY_SERVER})")
    parser.add_argument("--rates", default=None, help="comma-separated offered rates to ramp through")
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
    parser.add_argument("--latency-at-half", action="store_true",
                        help="after each dhcpsuite sweep, one step at half its highest sustained rate (DORA latency)")
    args = parser.parse_args(argv)

    args.servers = [s for s in args.servers.split(",") if s]
    if args.history:
        args.servers = ["dhcpsuite", HISTORY_SERVER]
    unknown = set(args.servers) - set(KNOWN_SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    if args.rates:
        args.rates = [int(r) for r in args.rates.split(",")]
    else:
        args.rates = list(QUICK_RATES if args.quick else DEFAULT_RATES)
    args.duration = args.duration or (3 if args.quick else 10)
    args.reps = args.reps or (1 if args.quick else int(os.environ.get("REPS", "3")))
    args.clients = args.clients or (5000 if args.quick else 50000)
    needed = ["perfdhcp", "ss"] + (["dnsmasq"] if "dnsmasq" in args.servers else [])
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
        "perfdhcp": subprocess.run([find_program("perfdhcp"), "-v"], capture_output=True, text=True).stdout.strip(),
        "dhcpsuite_commit": subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True).stdout.strip(),
    }
    log(f"# server_perfdhcp {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} servers={','.join(args.servers)} "
        f"rates={','.join(map(str, args.rates))} duration={args.duration}s reps={args.reps} clients={args.clients} "
        f"pin={args.pin} nproc={os.cpu_count()} {versions}")
    sweeps: list[dict] = []
    with VethPair(prefix="bsp", client_address="10.77.0.2/16") as pair:
        for rep in range(1, args.reps + 1):
            order = args.servers if rep % 2 else list(reversed(args.servers))
            for kind in order:
                result = sweep(pair, kind, rep, args, workdir, deadline)
                if args.latency_at_half and kind.startswith("dhcpsuite") and result["complete"]:
                    result["half"] = latency_at_half(pair, result, args, workdir, deadline)
                sweeps.append(result)
                best = result["best"]
                log(f"SWEEP rep={rep} server={kind} max_sustained_rate={best['rate'] if best else 0} "
                    f"dora_at_that_rate={best['dora_per_s'] if best else 0} "
                    f"peak_dora_per_s={result['peak']['dora_per_s'] if result['peak'] else 0}"
                    + ("" if result["complete"] else " PARTIAL"))

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
    if {"dhcpsuite", "dnsmasq"} <= set(args.servers):
        a, b = summary["dhcpsuite"], summary["dnsmasq"]
        for key in ("median_max_sustained_rate", "median_dora_per_s_at_max", "median_peak_dora_per_s"):
            ratio[key] = round(a[key] / b[key], 2) if b[key] else None
        log(f"RATIO dhcpsuite/dnsmasq max_sustained_rate={ratio['median_max_sustained_rate']} "
            f"dora_per_s_at_max={ratio['median_dora_per_s_at_max']} peak_dora_per_s={ratio['median_peak_dora_per_s']}")
    if {"dhcpsuite", HISTORY_SERVER} <= set(args.servers):
        a, b = summary[HISTORY_SERVER], summary["dhcpsuite"]
        ratio["history"] = {key: (round(a[key] / b[key], 3) if b[key] else None)
                            for key in ("median_max_sustained_rate", "median_dora_per_s_at_max", "median_peak_dora_per_s")}
        log("RATIO history-on/off " + " ".join(f"{k}={v}" for k, v in ratio["history"].items()))
    for kind in args.servers:
        if summary[kind]["dora_latency_ms_at_half"]:
            log(f"LATENCY {kind} mean DORA ms at half its max rate={summary[kind]['median_dora_latency_ms_at_half']} "
                f"(each rep {summary[kind]['dora_latency_ms_at_half']})")
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
