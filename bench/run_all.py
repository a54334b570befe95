"""
Every benchmark in one command, one table: each figure next to its peer's,
the ratio, the target and whether it was met.

    sudo bench/run                      # full run (3 repetitions each, ~35 min, bounded by --max-seconds)
    sudo bench/run --quick              # smoke run, ~5 min: fewer reps, shorter steps
    sudo bench/run --only client,ingest --json /tmp/bench.json

The measuring is the individual scripts' (bench/server_perfdhcp.py,
client_bound.py, ingest.py, netlink_burst.py, memory.py, server_start.py, server_postgresql.py,
hotpath.py): each runs here as a child process with its own repetition option, alternates ours/peer itself
(hotpath.py has no peer: it reports our in-process cost),
and its JSON (or summary lines, for ingest.py) is read back. The one
alternation done here is between the two store sizes of "server-leases",
which are separate server_perfdhcp.py runs.

Children run in their own process group; one that outlives its share of the
--max-seconds budget gets SIGINT (so its namespaces are deleted on the way
out), then SIGKILL. A benchmark that cannot start within the budget is
reported as skipped. Each child's output is kept in --logdir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from bench.common import REPOSITORY, median

PYTHON = sys.executable
BENCH = REPOSITORY / "bench"
LEASES_LOADED, LEASES_BASELINE = 50_000, 1_000
# The store a server starts with in the start-up row.
START_LEASES = 300_000
# Finer steps near the server's capacity: the 50k/1k comparison has a 0.9 target.
LEASES_RATES = "2000,3000,3500,4000,4500,5000,5500,6000,7000,8000"
# The server latency row: a step at this fraction of dhcpsuite's highest sustained rate, for both servers.
LATENCY_AT = 0.8


class Failed(Exception):
    """
    A child benchmark did not produce its figures.
    """


class Row:
    """
    One line of the table. C{ratio} is ours/peer (or the figure itself when
    there is no peer); C{check} decides met/not met from it.
    """

    def __init__(self, figure: str, ours: str, peer: str, ratio: float | None, target: str,
                 check: Callable[[float], bool] | None, ratio_text: str | None = None, note: str = "") -> None:
        self.figure, self.ours, self.peer, self.target = figure, ours, peer, target
        self.ratio = ratio
        self.ratio_text = ratio_text if ratio_text is not None else ("—" if ratio is None else f"{ratio:.2f}×")
        if check is None:
            self.met = "report"
        elif ratio is None or ratio != ratio:
            self.met = "no figure"
        else:
            self.met = "met" if check(ratio) else "NOT MET"
        self.note = note

    def as_dict(self) -> dict:
        return {"figure": self.figure, "dhcpsuite": self.ours, "peer": self.peer, "ratio": self.ratio,
                "ratio_text": self.ratio_text, "target": self.target, "met": self.met, "note": self.note}


def at_least(limit: float) -> Callable[[float], bool]:
    return lambda value: value >= limit


def at_most(limit: float) -> Callable[[float], bool]:
    return lambda value: value <= limit


def ratio_of(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def number(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None or value != value:
        return "—"
    return f"{value:,.{digits}f}{unit}"


class Runner:
    """
    Runs children within the overall budget and keeps their output.
    """

    def __init__(self, logdir: Path, deadline: float, echo: bool) -> None:
        self.logdir = logdir
        self.deadline = deadline
        self.echo = echo

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, name: str, argv: list[str], limit: float) -> str:
        """
        Run C{argv} (from the repository root) for at most C{limit} seconds;
        its combined output.
        """
        log = self.logdir / f"{name}.log"
        env = dict(os.environ, PYTHONPATH=str(REPOSITORY), PYTHONUNBUFFERED="1")
        lines: list[str] = []
        with open(log, "a") as sink:
            sink.write(f"$ {' '.join(argv)}\n")
            sink.flush()
            process = subprocess.Popen(argv, cwd=REPOSITORY, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, start_new_session=True)
            expired = threading.Event()

            def stop() -> None:
                expired.set()
                # SIGINT first: the scripts' `with VethPair(...)` blocks then delete their namespaces.
                try:
                    os.kill(process.pid, signal.SIGINT)
                except ProcessLookupError:
                    return
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    pass
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

            timer = threading.Timer(max(1.0, limit), stop)
            timer.daemon = True
            timer.start()
            try:
                for line in process.stdout:
                    lines.append(line)
                    sink.write(line)
                    sink.flush()
                    if self.echo:
                        print(f"  [{name}] {line.rstrip()}", file=sys.stderr, flush=True)
                process.wait()
            finally:
                timer.cancel()
                if process.poll() is None:
                    stop()
            # Whatever the child left in its group (perfdhcp, a server) goes with it.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        output = "".join(lines)
        if expired.is_set():
            raise Failed(f"stopped after its {limit:.0f} s budget (log: {log})")
        if process.returncode != 0:
            raise Failed(f"exit status {process.returncode} (log: {log}): {output.strip()[-300:]}")
        return output


def last_json_line(output: str) -> dict:
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise Failed("no JSON line in its output")


# ---- the benchmarks -----------------------------------------------------------------

def server(runner: Runner, options, raw: dict) -> list[Row]:
    path = runner.logdir / "server.json"
    argv = [PYTHON, str(BENCH / "server_perfdhcp.py"), "--servers", "dhcpsuite,kea", "--latency-at", str(LATENCY_AT),
            "--reps", str(options.server_reps), "--json", str(path),
            "--max-seconds", str(int(max(30, runner.remaining() - 60)))]
    if options.quick:
        argv += ["--duration", "3", "--clients", "20000"]
    runner.run("server", argv, runner.remaining())
    data = json.loads(path.read_text())
    raw["server"] = {"summary": data["summary"], "ratio": data["ratio"], "partial": data["partial"]}
    ours, peer = data["summary"]["dhcpsuite"], data["summary"]["kea"]
    ours_dora, peer_dora = ours["median_dora_per_s_at_max"], peer["median_dora_per_s_at_max"]
    # Where our sweep never failed the capacity is above the figure: say so.
    above = "≥ " if ours["sustained_highest_rate"] and all(ours["sustained_highest_rate"]) else ""
    note = f"n={ours['sweeps']}/{peer['sweeps']}" + (" PARTIAL" if data["partial"] else "")
    ratio = ratio_of(ours_dora, peer_dora)
    rows = [Row("server: DORA/s sustained with ≤1% drops (perfdhcp ramp), durable before ACK, vs Kea memfile 1 thread",
                f"{above}{number(ours_dora, '/s')} (at {number(ours['median_max_sustained_rate'], '/s')} offered)",
                f"kea {number(peer_dora, '/s')}", ratio, "≥ 1.2×", at_least(1.2),
                ratio_text=None if ratio is None or ratio != ratio else f"{above}{ratio:.2f}×", note=note)]
    latency, peer_latency = ours["median_dora_latency_ms"], peer["median_dora_latency_ms"]
    # nan: no latency step ran
    latency = None if latency != latency else latency
    peer_latency = None if peer_latency != peer_latency else peer_latency
    rows.append(Row(f"server: mean DORA latency (DO + RA avg delay) at {LATENCY_AT:g} × its own max rate",
                    number(latency, " ms", 2), f"kea {number(peer_latency, ' ms', 2)} at the same offered rate",
                    ratio_of(latency, peer_latency), "report", None,
                    note=f"n={len(ours['dora_latency_ms'])}/{len(peer['dora_latency_ms'])}"))
    return rows


def server_leases(runner: Runner, options, raw: dict) -> list[Row]:
    doras: dict[int, list[float]] = {LEASES_LOADED: [], LEASES_BASELINE: []}
    top: dict[int, list[bool]] = {LEASES_LOADED: [], LEASES_BASELINE: []}
    partial = False
    for rep in range(options.server_reps):
        order = (LEASES_LOADED, LEASES_BASELINE) if rep % 2 == 0 else (LEASES_BASELINE, LEASES_LOADED)
        for leases in order:
            if runner.remaining() < 60:
                partial = True
                break
            path = runner.logdir / f"server-leases-{leases}-rep{rep + 1}.json"
            argv = [PYTHON, str(BENCH / "server_perfdhcp.py"), "--servers", "dhcpsuite", "--reps", "1",
                    "--preload", str(leases), "--rates", LEASES_RATES, "--json", str(path),
                    "--max-seconds", str(int(max(30, runner.remaining() - 60)))]
            if options.quick:
                argv += ["--duration", "3", "--clients", "20000"]
            runner.run("server-leases", argv, runner.remaining())
            data = json.loads(path.read_text())
            summary = data["summary"]["dhcpsuite"]
            partial = partial or data["partial"]
            if summary["sweeps"]:
                doras[leases].append(summary["median_dora_per_s_at_max"])
                top[leases].extend(summary["sustained_highest_rate"])
    raw["server-leases"] = {"dora_per_s_at_max": doras, "sustained_highest_rate": top, "partial": partial}
    loaded, baseline = median(doras[LEASES_LOADED]), median(doras[LEASES_BASELINE])
    if not doras[LEASES_LOADED] or not doras[LEASES_BASELINE]:
        loaded = baseline = None
    note = f"n={len(doras[LEASES_LOADED])}/{len(doras[LEASES_BASELINE])}" + (" PARTIAL" if partial else "")
    return [Row(f"server: same, with {LEASES_LOADED:,} existing leases in the store",
                f"{number(loaded, '/s')}", f"itself with {LEASES_BASELINE:,}: {number(baseline, '/s')}",
                ratio_of(loaded, baseline), "≥ 0.9×", at_least(0.9), note=note)]


def server_postgresql(runner: Runner, options, raw: dict) -> list[Row]:
    path = runner.logdir / "server-postgresql.json"
    argv = [PYTHON, str(BENCH / "server_postgresql.py"), "--reps", str(options.server_reps), "--json", str(path),
            "--max-seconds", str(int(max(60, runner.remaining() - 60)))]
    if options.quick:
        argv.append("--quick")
    runner.run("server-postgresql", argv, runner.remaining())
    data = json.loads(path.read_text())
    results = data["results"]
    ramp, summary = results["ramp"], results["ramp"]["summary"]
    raw["server-postgresql"] = {"summary": summary, "ratios": ramp["ratios"], "cluster": results["cluster"],
                                "failover": results["failover"], "partial": data["partial"]}
    dora = {kind: s["median_dora_per_s_at_max"] for kind, s in summary.items()}
    n = f"n={summary['dhcpsuite-pg1']['sweeps']}" + (" PARTIAL" if data["partial"] else "")
    failover, pair = results["failover"], results["cluster"]
    return [
        Row("server on PostgreSQL (fsync on, same machine): DORA/s at ≤1% drops, pool_size 1",
            number(dora["dhcpsuite-pg1"], "/s"), f"Kea 2.2 PostgreSQL, 4 threads {number(dora['kea-pg-mt4'], '/s')}",
            ratio_of(dora["dhcpsuite-pg1"], dora["kea-pg-mt4"]), "≥ 3×", at_least(3.0),
            note=f"{n}; Kea 1 thread {number(dora['kea-pg'], '/s')}"),
        Row("server on PostgreSQL against itself on SQLite", number(dora["dhcpsuite-pg1"], "/s"),
            f"dhcpsuite SQLite {number(dora['dhcpsuite-sqlite'], '/s')}",
            ratio_of(dora["dhcpsuite-pg1"], dora["dhcpsuite-sqlite"]), "≥ 0.5×", at_least(0.5),
            note=f"{n}; pool_size 2 {number(dora['dhcpsuite-pg2'], '/s')}"),
        Row("two servers on one database, SIGKILL one: first ACK by the survivor, INIT-REBOOT / new client",
            f"{number(failover['median_init_reboot_ms'], ' ms', 1)} / {number(failover['median_new_client_ms'], ' ms', 1)}",
            "—", None, "report", None,
            note=f"n={len(failover['runs'])}; nothing killed {number(failover['median_baseline_init_reboot_ms'], ' ms', 1)}"),
        Row("two servers on one database (2 cores: see docs/lease-stores.md): DORA/s together",
            number(pair["median_total_dora_per_s"], "/s"), f"one server {number(dora['dhcpsuite-pg1'], '/s')}",
            ratio_of(pair["median_total_dora_per_s"], dora["dhcpsuite-pg1"]), "report", None,
            note=f"n={len(pair['totals'])}"),
    ]


def client(runner: Runner, options, raw: dict) -> list[Row]:
    path = runner.logdir / "client.json"
    runner.run("client", [PYTHON, str(BENCH / "client_bound.py"), "--reps", str(options.reps), "--json", str(path)],
               runner.remaining())
    data = json.loads(path.read_text())
    raw["client"] = data
    medians = data["medians"]
    cold, warm = medians.get("cold dhcpsuite (python -m)"), medians.get("warm dhcpsuite (python -m)")
    uncached = medians.get("cold dhcpsuite (python -m, config not cached)")
    udhcpc, dhclient = medians.get("cold udhcpc"), medians.get("cold dhclient")
    saved, dhclient_saved = medians.get("cold dhcpsuite (python -m) (saved lease)"), medians.get("cold dhclient (saved lease)")
    n = f"n={len(data['results'].get('cold dhcpsuite (python -m)', []))}"
    floor = medians.get("floor: python + twisted reactor import")
    early_floor = medians.get("floor: python + early path imports")
    reactor_path = medians.get("cold dhcpsuite (python -m, --early-timeout 0)")
    python_alone = medians.get("floor: python alone (-c pass)")
    # The interpreter's own start, which no change of ours can cut, as a
    # share of the peer's whole acquisition: the ratio's floor.
    floor_note = f"; python -c pass alone {python_alone:.0f} ms" if python_alone else ""
    if python_alone and dhclient:
        floor_note += f" ({python_alone / dhclient:.2f}× dhclient)"
    if floor:
        floor_note += f", python+reactor import alone {floor:.0f} ms"
    if early_floor:
        floor_note += f", python+early-path imports {early_floor:.0f} ms"
    if reactor_path:
        floor_note += f"; all under the reactor (--early-timeout 0) {reactor_path:.0f} ms"
    if uncached:
        floor_note += f"; first start after a configuration change (not cached) {uncached:.0f} ms"
    return [
        Row("client: start → address, cold (python -m dhcpsuite.client)", number(cold, " ms"),
            f"dhclient {number(dhclient, ' ms')}", ratio_of(cold, dhclient), "≤ 1.5×", at_most(1.5),
            note=n + floor_note),
        Row("client: start → address, cold (python -m dhcpsuite.client), against udhcpc", number(cold, " ms"),
            f"udhcpc {number(udhcpc, ' ms')}", ratio_of(cold, udhcpc), "≤ 1.0×", at_most(1.0), note=n),
        Row("client: the same, first start after a configuration change (parse not cached)", number(uncached, " ms"),
            f"dhclient {number(dhclient, ' ms')}", ratio_of(uncached, dhclient), "report", None, note=n),
        Row("client: the same, restarted with its saved lease (INIT-REBOOT: REQUEST, ACK), both sides",
            number(saved, " ms"), f"dhclient {number(dhclient_saved, ' ms')}", ratio_of(saved, dhclient_saved),
            "report", None, note=n),
        Row("client: carrier up → address, warm (daemon running)", number(warm, " ms", 1),
            f"dhclient cold {number(dhclient, ' ms', 1)}", ratio_of(warm, dhclient), "≤ 0.5×", at_most(0.5),
            note=n),
    ]


def ingest(runner: Runner, options, raw: dict) -> list[Row]:
    messages = 200_000
    output = runner.run("ingest", [PYTHON, str(BENCH / "ingest.py"), "--messages", str(messages),
                                   "--reps", str(options.reps)], runner.remaining())
    found = {(mode, name): float(rate) for mode, name, rate in
             re.findall(r"^MEDIAN mode=(\S+) receiver=(\S+) msgs_per_s=(\d+)", output, re.M)}
    if not all((mode, name) in found for mode in ("distinct", "repeated") for name in ("dhcpsuite", "nanocat-pull")):
        raise Failed("no MEDIAN lines for both streams in ingest.py's output")
    reps = len(re.findall(r"^rep=\d+ mode=distinct receiver=dhcpsuite", output, re.M))
    pushers = re.search(r"pushers=(\d+)", output)
    raw["ingest"] = {mode: {"dhcpsuite": found[mode, "dhcpsuite"], "nanocat_pull": found[mode, "nanocat-pull"]}
                     for mode in ("distinct", "repeated")}
    raw["ingest"].update(reps=reps, messages=messages)
    rows = []
    for mode, what, target, check in (
        ("distinct", "every message distinct", "≥ 1.0×", at_least(1.0)),
        ("repeated", "one message repeated per pusher", "report", None),
    ):
        ours, peer = found[mode, "dhcpsuite"], found[mode, "nanocat-pull"]
        rows.append(Row(f"ingest: PLUGIN_MSG/s decoded, {what}, {pushers.group(1) if pushers else '?'} pushers",
                        number(ours, "/s"), f"nanocat --pull {number(peer, '/s')}", ratio_of(ours, peer), target,
                        check, note=f"n={reps}, {messages:,} msgs each"))
    return rows


def netlink(runner: Runner, options, raw: dict) -> list[Row]:
    output = runner.run("netlink", [PYTHON, str(BENCH / "netlink_burst.py"), "--reps", str(options.reps)],
                        runner.remaining())
    data = last_json_line(output)
    raw["netlink"] = data
    ours, peer = statistics.median(data["reader_per_cpu_s"]), statistics.median(data["pyroute2_per_cpu_s"])
    bare = statistics.median(data["parse_only_per_cpu_s"])
    converged = data["converged_s"]
    n = f"n={data['reps']}"
    return [
        Row("netlink: notifications per CPU-s over a 10k-change burst", number(ours, "/CPU-s"),
            f"pyroute2 loop, decode + cache {number(peer, '/CPU-s')}", ratio_of(ours, peer), "≥ 2×", at_least(2.0),
            note=n),
        Row("netlink: the same against pyroute2 parsing only (lazy: attribute values left undecoded)",
            number(ours, "/CPU-s"), f"pyroute2 parse only {number(bare, '/CPU-s')}", ratio_of(ours, bare), "report",
            None, note=n),
        Row("netlink: last change → cache equals kernel (after ENOBUFS)",
            f"{statistics.median(converged):.2f} s (max {max(converged):.2f} s)", "—", max(converged), "≤ 2 s",
            at_most(2.0), ratio_text="—", note=n + ", max of reps checked"),
    ]


def memory(runner: Runner, options, raw: dict) -> list[Row]:
    output = runner.run("memory", [PYTHON, "-m", "bench.memory", "--reps", str(options.reps),
                                   "--leases", str(LEASES_LOADED)], runner.remaining())
    data = last_json_line(output)
    raw["memory"] = data
    n = f"n={options.reps}"
    return [
        Row("memory: gateway daemon RSS, idle", number(data["idle_mib"], " MiB", 1), "—", data["idle_mib"],
            "≤ 60 MB", at_most(60.0), ratio_text="—", note=n),
        Row(f"memory: the same with {data['leases']:,} leases in the store", number(data["loaded_mib"], " MiB", 1),
            "—", None, "report", None, note=n),
        Row(f"memory: RSS per held lease ({data['leases']:,} leases)", number(data["bytes_per_lease"], " B"), "—",
            data["bytes_per_lease"], "≤ 256 B", at_most(256),
            ratio_text=f"{data['bytes_per_lease'] / 256:.2f}× the target", note=n),
    ]


def server_start(runner: Runner, options, raw: dict) -> list[Row]:
    output = runner.run("server-start", [PYTHON, "-m", "bench.server_start", "--reps", str(options.reps),
                                         "--leases", str(START_LEASES)], runner.remaining())
    data = last_json_line(output)
    raw["server-start"] = data
    ours, kea = data["dhcpsuite_median_s"], data["kea_median_s"]
    return [
        Row(f"server: start → first ACK with {data['leases']:,} leases in the store (SQLite)", number(ours, " s", 2),
            f"Kea memfile {number(kea, ' s', 2)}", ratio_of(ours, kea), "report", None, note=f"n={data['reps']}"),
    ]


def hotpath(runner: Runner, options, raw: dict) -> list[Row]:
    path = runner.logdir / "hotpath.json"
    argv = [PYTHON, str(BENCH / "hotpath.py"), "--runs", str(options.reps), "--json", str(path)]
    if options.quick:
        argv += ["--passes", "2", "--clients", "5000"]
    runner.run("hotpath", argv, runner.remaining())
    data = json.loads(path.read_text())
    raw["hotpath"] = {"interpreter": data["interpreter"], "summary": data["summary"]}
    warm, cold = data["summary"]["warm"], data["summary"]["cold"]
    n = f"n={data['runs']}, {data['interpreter']}, last of {data['passes']} passes"
    return [
        Row(f"in process, no sockets: CPU µs per DORA, {data['clients']:,} relayed clients "
            "(ServerProtocol → ServerCore → memory store)", number(warm["dora_us"], " µs", 1), "—", None, "report",
            None, note=f"{n}; decode {warm['decode_us']:.1f} / decide {warm['handle_us']:.1f} / "
                      f"encode {warm['encode_us']:.1f} µs; first pass {cold['dora_us']:.1f} µs"),
        Row(f"in process, no sockets: CPU µs per distinct ingest message ({data['ingest_messages']:,}: "
            "framer → router → V4 handler → registry)", number(warm["ingest_us"], " µs", 2), "—", None, "report",
            None, note=f"{n}; the decoder alone {warm['ingest_decode_us']:.2f} µs; "
                       f"first pass {cold['ingest_us']:.2f} µs"),
    ]


# name: (function, estimated seconds full, quick), in the table's order.
BENCHMARKS: dict[str, tuple[Callable, int, int]] = {
    "server": (server, 620, 80),
    "server-leases": (server_leases, 420, 90),
    "server-postgresql": (server_postgresql, 900, 120),
    "client": (client, 20, 20),
    "ingest": (ingest, 100, 45),
    "netlink": (netlink, 35, 35),
    "memory": (memory, 30, 30),
    "server-start": (server_start, 90, 40),
    "hotpath": (hotpath, 60, 15),
}
# The cheap ones first, so that a budget running out costs the fewest figures.
RUN_ORDER = ("client", "ingest", "netlink", "memory", "hotpath", "server-start", "server", "server-leases",
             "server-postgresql")


# ---- report -----------------------------------------------------------------

def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPOSITORY), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpus": os.cpu_count(),
            "cpu_model": model, "kernel": platform.release(), "python": platform.python_version(),
            "loadavg": os.getloadavg(), "commit": commit + ("+uncommitted changes" if dirty else "")}


def table(rows: list[Row]) -> str:
    header = ["figure", "dhcpsuite", "peer", "ratio", "target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        figure = row.figure + (f" ({row.note})" if row.note else "")
        lines.append("| " + " | ".join([figure, row.ours, row.peer, row.ratio_text, row.target, row.met]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="SMOKE run: 1 server repetition, 3 s steps; not figures for BENCHMARKS.md")
    parser.add_argument("--only", default=None, help=f"comma-separated, from: {','.join(BENCHMARKS)}")
    parser.add_argument("--json", default=None, help="write the machine, the table and the raw figures here")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each benchmark (default 3, minimum 1)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="overall budget; nothing starts after it and a child past it is stopped "
                             "(default 2700, --quick 480)")
    parser.add_argument("--logdir", default=None, help="children's output and JSON (default a new /tmp directory)")
    parser.add_argument("--quiet", action="store_true", help="do not echo the children's output to stderr")
    options = parser.parse_args(argv)

    names = list(BENCHMARKS)
    if options.only:
        names = [n for n in options.only.split(",") if n]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            parser.error(f"unknown benchmarks: {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    if options.reps < 1:
        parser.error("--reps must be at least 1")
    options.server_reps = 1 if options.quick else options.reps
    if options.max_seconds is None:
        options.max_seconds = 480.0 if options.quick else 2700.0
    if os.geteuid() != 0:
        print("bench/run needs root (network namespaces)", file=sys.stderr)
        return 2

    started = time.monotonic()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    logdir = Path(options.logdir or f"/tmp/dhcpsuite-bench-run-{stamp}")
    logdir.mkdir(parents=True, exist_ok=True)
    runner = Runner(logdir, started + options.max_seconds, echo=not options.quiet)
    info = machine()
    kind = "SMOKE RUN (--quick: 1 server repetition, 3 s steps; not for BENCHMARKS.md)" if options.quick else \
        f"full run ({options.reps} repetitions each, alternating dhcpsuite/peer)"
    estimate = sum(BENCHMARKS[n][2 if options.quick else 1] for n in names)
    print(f"# dhcpsuite benchmarks, {kind}")
    print(f"# date {info['date']}; machine: {info['cpus']} CPUs, {info['cpu_model']}, kernel {info['kernel']}, "
          f"Python {info['python']}, load average {info['loadavg'][0]:.2f}; commit {info['commit']}")
    print(f"# running {', '.join(names)}; estimated {estimate / 60:.0f} min, "
          f"at most {options.max_seconds / 60:.0f} min (--max-seconds {options.max_seconds:.0f}); logs in {logdir}",
          flush=True)

    results: dict[str, list[Row]] = {}
    raw: dict = {}
    problems: dict[str, str] = {}
    for name in sorted(names, key=RUN_ORDER.index):
        function, full, quick = BENCHMARKS[name]
        if runner.remaining() < 30:
            problems[name] = "skipped: the --max-seconds budget was used up"
            print(f"# {name}: {problems[name]}", flush=True)
            continue
        print(f"# {name}: starting (estimated {quick if options.quick else full} s, "
              f"{runner.remaining():.0f} s of budget left)", flush=True)
        began = time.monotonic()
        try:
            results[name] = function(runner, options, raw)
        except (Failed, OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            problems[name] = f"failed: {type(e).__name__}: {e}"
        took = time.monotonic() - began
        print(f"# {name}: {'done' if name not in problems else problems[name]} in {took:.0f} s", flush=True)

    rows = [row for name in names for row in results.get(name, [])]
    elapsed = time.monotonic() - started
    print()
    if options.quick:
        print("SMOKE RUN (--quick): indicative only; fewer repetitions and shorter steps than the full run.")
    print(f"Machine: {info['cpus']} CPUs, {info['cpu_model']}, kernel {info['kernel']}; "
          f"date {info['date']}; commit {info['commit']}")
    print()
    print(table(rows))
    for name, problem in problems.items():
        print(f"- {name}: {problem}")
    print()
    print(f"# took {elapsed:.0f} s; logs and raw JSON in {logdir}")
    if options.json:
        Path(options.json).write_text(json.dumps({
            "machine": info, "quick": options.quick, "reps": options.reps, "server_reps": options.server_reps,
            "benchmarks": names, "seconds": round(elapsed), "rows": [r.as_dict() for r in rows],
            "problems": problems, "raw": raw, "logdir": str(logdir),
        }, indent=2, default=str))
    return 1 if problems else 0
