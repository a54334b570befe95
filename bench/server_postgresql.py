#!/usr/bin/env python3
"""
DHCPv4 server capacity on PostgreSQL: dhcpsuite against Kea 2.2, one run.

    sudo .venv/bin/python bench/server_postgresql.py               # reps 3, ~12 min (at most 15)
    sudo .venv/bin/python bench/server_postgresql.py --quick       # smoke run, ~2 min
    sudo .venv/bin/python bench/server_postgresql.py --parts ramp --kinds kea-pg-mt4,dhcpsuite-pg1

One throwaway PostgreSQL cluster (tests.support.postgres: initdb as user
postgres in a temporary directory, unix socket only, fsync on, started and
stopped by its own pg_ctl) serves every server of the run. PostgreSQL is not
pinned: its backends run on both cores, beside perfdhcp.

Parts (--parts, default all three):

ramp      bench/server_perfdhcp.py's perfdhcp ramp (relay mode from
          10.77.0.2, server pinned to CPU 0, perfdhcp to CPU 1, a step is
          sustained with <= --ok-drops % failed exchanges), every step a
          fresh server on a fresh database, for each kind:
            kea-pg          Kea 2.2, PostgreSQL lease backend, 1 thread
                            (schema by `kea-admin db-init pgsql`, once, into a
                            template database each step's database is copied from)
            kea-pg-mt4      the same, multi-threaded: 4 threads, packet queue 64
            dhcpsuite-pg1   dhcpsuite, lease_store "postgresql", pool_size 1
            dhcpsuite-pg2   the same, pool_size 2
            dhcpsuite-sqlite  dhcpsuite, lease_store "sqlite" (on /tmp)
            kea-memfile     Kea 2.2, memfile (CSV on /tmp, persist), 1 thread
          Each kind has its own rate list around its capacity (--rates-KIND
          overrides). Prints medians over the repetitions and the ratios
          dhcpsuite-pg1 / kea-pg-mt4 (target >= 3) and dhcpsuite-pg1 /
          dhcpsuite-sqlite (target >= 0.5).
cluster   two dhcpsuite servers (pool_size 1) on one database, each in its own
          namespace pair with its own perfdhcp, server A pinned to CPU 0 and B
          to CPU 1, perfdhcp not pinned (there is no third core); pools are
          the two disjoint halves of the range (what free-address shares
          would give) and the two perfdhcp use distinct MAC ranges. Ramps the
          per-server rate; the figure is the sum of both servers' ACKs/s at
          the highest step where both stay within --ok-drops.
failover  two dhcpsuite servers, the same pool, one database; 100 clients
          bound through each (tests.support.relayclient); a probe already
          running in B's client namespace is told the moment A is SIGKILLed
          and then, every 50 ms until answered, sends one of A's clients'
          INIT-REBOOT REQUEST to B, and runs a new client's DORA against B;
          it reports the time from the kill to each first ACK.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    REPOSITORY, cpu_seconds, dhcpsuite_config, find_program, median, perfdhcp_counts, server_bench_refusal,
)
from bench.server_perfdhcp import (  # noqa: E402
    SERVER_CPU, TWISTD, ServerProcess, base_tree_environment, kea_config, kea_environment, run_step, summarise, sweep,
)
from tests.support.netns import Namespace, VethPair  # noqa: E402

POOL_START, POOL_END = "10.77.0.10", "10.77.250.250"
HALVES = (("10.77.0.10", "10.77.125.255"), ("10.77.126.0", "10.77.250.250"))
SUBNET = "10.77.0.0/16"
KEA_TEMPLATE = "kea_template"

# kind: (default rates, quick rates). Rates bracket each kind's capacity on this machine.
KINDS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "kea-pg": ((600, 800, 1000, 1200, 1400, 1700, 2000), (500, 1000, 1500)),
    "kea-pg-mt4": ((1500, 2000, 2250, 2500, 2750, 3000, 3500), (1000, 2000, 3000)),
    "dhcpsuite-pg1": ((2500, 3000, 3500, 4000, 4500, 5000, 6000), (2000, 3000, 4000)),
    "dhcpsuite-pg2": ((2500, 3000, 3500, 4000, 4500, 5000, 6000), (2000, 3000, 4000)),
    # The same as dhcpsuite-pg1, run from --base-tree (older code, for a before/after in one run).
    "dhcpsuite-pg1-base": ((2500, 3000, 3500, 4000, 4500, 5000, 6000), (2000, 3000, 4000)),
    "dhcpsuite-sqlite": ((3000, 3500, 4000, 4500, 5000, 6000, 7000), (2000, 4000, 6000)),
    "kea-memfile": ((3000, 4000, 5000, 6000, 7000, 8000, 10000), (3000, 6000, 10000)),
}
# Per server; two servers run at once.
CLUSTER_RATES = (500, 750, 1000, 1250, 1500, 1750, 2000, 2500)
PARTS = ("ramp", "cluster", "failover")
# Set from --base-tree: the source tree the *-base kinds run from.
BASE_TREE: Path | None = None
# Set from --server-option: extra [server] lines for the dhcpsuite kinds (not *-base).
SERVER_OPTIONS: list[str] = []

DHCPSUITE_POSTGRESQL = """
[server.postgresql]
host = "{host}"
port = {port}
dbname = "{dbname}"
user = "{user}"
password_file = "{password_file}"
pool_size = {pool_size}
"""


def log(message: str) -> None:
    print(message, flush=True)


class Database:
    """
    The run's PostgreSQL cluster and the per-step databases made in it.
    """

    def __init__(self) -> None:
        from tests.support.postgres import start_cluster

        self.cluster = start_cluster()
        self._count = 0
        self.kea_ready = False

    def fresh(self, template: str | None = None) -> str:
        self._count += 1
        name = f"step_{self._count}"
        with self.cluster.superuser() as connection:
            connection.execute(f'CREATE DATABASE "{name}" OWNER dhcpsuite'
                               + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop(self, name: str) -> None:
        with self.cluster.superuser() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def kea_template(self) -> str:
        """
        A database holding Kea's schema, made once by kea-admin (the
        Debian/ISC way), copied for each step.
        """
        if not self.kea_ready:
            self.cluster.create_database(KEA_TEMPLATE)
            result = subprocess.run(
                [find_program("kea-admin"), "db-init", "pgsql", "-u", "dhcpsuite", "-p", self.cluster.password,
                 "-n", KEA_TEMPLATE, "-h", self.cluster.socket_dir, "-P", str(self.cluster.port)],
                capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise RuntimeError(f"kea-admin db-init failed: {result.stdout[-1000:]} {result.stderr[-1000:]}")
            self.kea_ready = True
        return KEA_TEMPLATE

    def kea_credentials(self, name: str) -> dict:
        return {"name": name, "user": "dhcpsuite", "password": self.cluster.password,
                "host": self.cluster.socket_dir, "port": self.cluster.port}

    def dhcpsuite_section(self, name: str, pool_size: int) -> str:
        c = self.cluster
        return DHCPSUITE_POSTGRESQL.format(host=c.socket_dir, port=c.port, dbname=name, user="dhcpsuite",
                                           password_file=c.password_file, pool_size=pool_size)

    def destroy(self) -> None:
        self.cluster.destroy()


class Server(ServerProcess):
    """
    One fresh server process in C{ns}: its own state directory and, for the
    PostgreSQL kinds, its own database (dropped at C{stop}).
    """

    def __init__(self, kind: str, ns: Namespace, workdir: Path, db: Database | None, cpu: str | None,
                 pool: tuple[str, str] = (POOL_START, POOL_END), database: str | None = None,
                 profile: Path | None = None) -> None:
        self.kind, self.ns, self.db = kind, ns, db
        self.state = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
        self.output = self.state / "server.out"
        self.database = None
        env = None
        if kind.startswith("kea-"):
            threads = 4 if kind == "kea-pg-mt4" else 1
            credentials = None
            if kind != "kea-memfile":
                self.database = db.fresh(db.kea_template())
                credentials = db.kea_credentials(self.database)
            config = self.state / "kea-dhcp4.json"
            config.write_text(json.dumps(kea_config(self.state, credentials, threads), indent=1))
            args = [find_program("kea-dhcp4"), "-c", str(config)]
            env = kea_environment(self.state)
        else:
            section = ""
            store = "sqlite"
            if kind.endswith("-base"):
                env = base_tree_environment(kind, BASE_TREE)
            if kind.startswith("dhcpsuite-pg"):
                store = "postgresql"
                self.database = database or db.fresh()
                section = db.dhcpsuite_section(self.database, int(kind.removesuffix("-base")[-1]))
            config = self.state / "dhcpsuite.toml"
            extra = "" if kind.endswith("-base") else "\n".join(SERVER_OPTIONS)
            config.write_text(dhcpsuite_config(self.state, SUBNET, f"{pool[0]}-{pool[1]}", store, extra, section))
            args = [TWISTD, "-n", "--pidfile="]
            if profile is not None:
                # cProfile of the reactor thread, written when the server stops (SIGTERM).
                args += [f"--profile={profile}", "--profiler=cprofile", "--savestats"]
            args += ["dhcpsuite", "--config", str(config)]
        # A database given by the caller is the caller's to drop.
        self.owns_database = database is None
        self._launch(args, env, cpu, timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        super().stop(sig)
        if self.database and self.owns_database:
            self.db.drop(self.database)
            self.database = None


# ---- ramp ---------------------------------------------------------------------------

def ramp(db: Database, kinds: list[str], args, workdir: Path, deadline: float) -> dict:
    sweeps: list[dict] = []
    with VethPair(prefix="bpg", client_address="10.77.0.2/16") as pair:
        for rep in range(1, args.reps + 1):
            order = kinds if rep % 2 else list(reversed(kinds))
            for kind in order:
                step_args = argparse.Namespace(**vars(args))
                step_args.rates = args.kind_rates[kind]

                def start(kind: str, ns: Namespace = pair.server, rep: int = rep) -> Server:
                    profile = None
                    if args.profile and kind.startswith("dhcpsuite"):
                        profiles = Path(args.profile)
                        profiles.mkdir(parents=True, exist_ok=True)
                        profile = profiles / f"{kind}-rep{rep}-{time.monotonic_ns()}.pstats"
                    return Server(kind, ns, workdir, db, SERVER_CPU if args.pin else None, profile=profile)

                result = sweep(pair, kind, rep, step_args, workdir, deadline, start)
                if result["complete"] and result["best"] is None and result["steps"]:
                    descend(pair, kind, rep, step_args, workdir, deadline, start, result)
                sweeps.append(result)
                best = result["best"]
                log(f"SWEEP rep={rep} server={kind} max_sustained_rate={best['rate'] if best else 0} "
                    f"dora_at_that_rate={best['dora_per_s'] if best else 0} "
                    f"peak_dora_per_s={result['peak']['dora_per_s'] if result['peak'] else 0}"
                    + ("" if result["complete"] else " PARTIAL"))
    summary = summarise(sweeps, kinds)
    log("")
    log(f"{'server':17} {'n':>2} {'max rate (each rep)':>22} {'median DORA/s there':>20} "
        f"{'median CPU %':>13} {'median peak DORA/s':>19}")
    for kind in kinds:
        s = summary[kind]
        above = " (never failed)" if s["sustained_highest_rate"] and all(s["sustained_highest_rate"]) else ""
        log(f"{kind:17} {s['sweeps']:>2} {','.join(map(str, s['max_sustained_rate'])):>22} "
            f"{s['median_dora_per_s_at_max']:>20} {s['median_server_cpu_pct_at_max']:>13} "
            f"{s['median_peak_dora_per_s']:>19}{above}")
    ratios = {}
    for ours, peer, target in (("dhcpsuite-pg1", "kea-pg-mt4", 3.0), ("dhcpsuite-pg1", "dhcpsuite-sqlite", 0.5),
                               ("dhcpsuite-pg2", "kea-pg-mt4", 3.0), ("dhcpsuite-pg1", "kea-pg", None),
                               ("dhcpsuite-sqlite", "kea-memfile", None)):
        if ours in summary and peer in summary:
            a, b = summary[ours]["median_dora_per_s_at_max"], summary[peer]["median_dora_per_s_at_max"]
            value = round(a / b, 2) if b else None
            ratios[f"{ours}/{peer}"] = value
            verdict = "" if target is None or value is None else (
                f" target >= {target}: {'met' if value >= target else 'NOT MET'}")
            log(f"RATIO {ours}/{peer} dora_per_s_at_max={value}{verdict}")
    return {"sweeps": sweeps, "summary": summary, "ratios": ratios,
            "partial": any(not s["complete"] for s in sweeps)}


def descend(pair: VethPair, kind: str, rep: int, args, workdir: Path, deadline: float,
            start: Callable[[str], Server], result: dict) -> None:
    """
    The ramp's first rate already failed (on a loaded machine): try lower
    rates, highest first, until one is sustained. Their steps go before the
    failed one in C{result["steps"]}, which keeps its last step the failure
    (what L{summarise} reads as "a rate failed").
    """
    lower = []
    for fraction in (0.75, 0.5, 0.33, 0.2):
        rate = max(50, int(args.rates[0] * fraction) // 50 * 50)
        if time.monotonic() + args.duration + 15 > deadline:
            result["complete"] = False
            break
        step = run_step(pair, kind, rate, args, workdir, start)
        step["rep"] = rep
        lower.append(step)
        log(f"STEP rep={rep} server={kind} rate={rate} (below the ramp) dora_per_s={step['dora_per_s']} "
            f"drops_pct={step['drops_pct']} server_cpu_pct={step['server_cpu_pct']} loadavg={step['loadavg_1min']:.2f}")
        if step["dora_per_s"] > result["peak"]["dora_per_s"]:
            result["peak"] = step
        if step["drops_pct"] <= args.ok_drops and step["server_alive"]:
            result["best"] = step
            break
    result["steps"][:0] = lower


# ---- cluster of two -----------------------------------------------------------------

def perfdhcp_argv(pair: VethPair, rate: int, args, base_mac: str) -> list[str]:
    return ["timeout", "--signal=INT", "--kill-after=5", str(args.duration + 20), find_program("perfdhcp"),
            "-4", "-l", pair.client_if, "-r", str(rate), "-R", str(args.cluster_clients), "-p",
            str(args.duration), "-W", "1000000", "-b", f"mac={base_mac}"]


def cluster_step(db: Database, pairs: list[VethPair], rate: int, args, workdir: Path) -> dict:
    name = db.fresh()
    servers: list[Server] = []
    try:
        for n, pair in enumerate(pairs):
            servers.append(Server("dhcpsuite-pg1", pair.server, workdir, db, str(n) if args.pin else None,
                                  pool=HALVES[n], database=name))
        cpu_before = [cpu_seconds(s.pid) for s in servers]
        started = time.monotonic()
        runs = [pair.client.spawn(perfdhcp_argv(pair, rate, args, mac), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
                for pair, mac in zip(pairs, ("02:aa:00:00:00:00", "02:bb:00:00:00:00"))]
        outputs = [p.communicate(timeout=args.duration + 40)[0] for p in runs]
        elapsed = time.monotonic() - started
        cpu = [round(100 * (cpu_seconds(s.pid) - c) / elapsed, 1) for s, c in zip(servers, cpu_before)]
        alive = all(s.alive() for s in servers)
    finally:
        for server in servers:
            server.stop()
            server.discard()
        db.drop(name)
    per_server = []
    for output in outputs:
        counts = perfdhcp_counts(output)
        if counts is None or not counts["discovers_sent"]:
            per_server.append({"dora_per_s": 0.0, "drops_pct": 100.0, "tail": output[-500:]})
            continue
        per_server.append({"dora_per_s": round(counts["acks_received"] / args.duration, 1),
                           "drops_pct": round(100 * (1 - counts["acks_received"] / counts["discovers_sent"]), 2)})
    return {"rate_per_server": rate, "servers": per_server, "server_cpu_pct": cpu, "alive": alive,
            "total_dora_per_s": round(sum(s["dora_per_s"] for s in per_server), 1),
            "worst_drops_pct": max(s["drops_pct"] for s in per_server), "loadavg_1min": os.getloadavg()[0]}


def cluster(db: Database, args, workdir: Path, deadline: float) -> dict:
    reps = []
    with VethPair(prefix="bca", client_address="10.77.0.2/16") as a, \
            VethPair(prefix="bcb", client_address="10.77.0.2/16") as b:
        for rep in range(1, args.cluster_reps + 1):
            best, complete = None, True
            for rate in args.cluster_rates:
                if time.monotonic() + args.duration + 20 > deadline:
                    complete = False
                    break
                step = cluster_step(db, [a, b], rate, args, workdir)
                log(f"CLUSTER rep={rep} rate_per_server={rate} total_dora_per_s={step['total_dora_per_s']} "
                    f"drops_pct={[s['drops_pct'] for s in step['servers']]} cpu_pct={step['server_cpu_pct']} "
                    f"loadavg={step['loadavg_1min']:.2f}")
                if step["worst_drops_pct"] > args.ok_drops or not step["alive"]:
                    break
                best = step
            reps.append({"rep": rep, "best": best, "complete": complete})
    totals = [r["best"]["total_dora_per_s"] if r["best"] else 0.0 for r in reps if r["complete"]]
    result = {"reps": reps, "median_total_dora_per_s": median(totals), "totals": totals}
    log(f"CLUSTER two servers, median aggregate DORA/s at <= {args.ok_drops} % drops: "
        f"{result['median_total_dora_per_s']} (each rep {totals})")
    return result


# ---- failover -----------------------------------------------------------------------

def probe(giaddr: str, server: str, dead_mac_hex: str, dead_address: str, new_index: int, limit: float) -> dict:
    """
    In B's client namespace: wait for the kill time on stdin, then until
    answered (at most C{limit} s) send the dead server's client's
    INIT-REBOOT and run a new client's DORA, repeating each every 50 ms.
    Times are CLOCK_MONOTONIC, shared with the parent (no time namespace).
    """
    from ipaddress import IPv4Address

    from dhcpsuite.dhcp4.constants import MessageType, Option
    from tests.support.relayclient import build, mac_for, replies

    relay = IPv4Address(giaddr)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((giaddr, 67))
    sock.setblocking(False)
    print("ready", flush=True)
    killed = float(sys.stdin.readline())
    dead_mac, new_mac = bytes.fromhex(dead_mac_hex), mac_for(new_index)
    reboot_xid, new_xid = 0x7E000000, 0x7F000000
    found: dict[str, float] = {}
    last_sent = {"reboot": 0.0, "new": 0.0}
    new_phase = "discover"
    end = time.monotonic() + limit
    while len(found) < 2 and time.monotonic() < end:
        now = time.monotonic()
        if "reboot" not in found and now - last_sent["reboot"] >= 0.05:
            reboot_xid += 1
            sock.sendto(build(MessageType.REQUEST, dead_mac, reboot_xid, relay,
                              REQUESTED_ADDRESS=IPv4Address(dead_address).packed), (server, 67))
            last_sent["reboot"] = now
        if "new" not in found and now - last_sent["new"] >= 0.05:
            new_xid += 1
            new_phase = "discover"
            sock.sendto(build(MessageType.DISCOVER, new_mac, new_xid, relay), (server, 67))
            last_sent["new"] = now
        for reply in replies(sock, 0.01):
            at = time.monotonic() - killed
            if reply.xid == reboot_xid and reply.message_type == MessageType.ACK:
                if str(reply.yiaddr) != dead_address:
                    found["reboot_wrong_address"] = at
                found.setdefault("reboot", at)
            elif reply.xid == new_xid and reply.message_type == MessageType.OFFER and new_phase == "discover":
                new_phase = "request"
                last_sent["new"] = time.monotonic()
                sock.sendto(build(MessageType.REQUEST, new_mac, new_xid, relay,
                                  SERVER_ID=reply.options[int(Option.SERVER_ID)],
                                  REQUESTED_ADDRESS=reply.yiaddr.packed), (server, 67))
            elif reply.xid == new_xid and reply.message_type == MessageType.ACK and new_phase == "request":
                found.setdefault("new", at)
    sock.close()
    return found


def failover_once(db: Database, args, workdir: Path, rep: int) -> dict:
    relayclient = "tests.support.relayclient"
    name = db.fresh()
    servers: list[Server] = []
    try:
        with VethPair(prefix="bfa", client_address="10.77.0.2/16") as a, \
                VethPair(prefix="bfb", client_address="10.77.0.2/16") as b:
            for pair in (a, b):
                servers.append(Server("dhcpsuite-pg1", pair.server, workdir, db, None, database=name))
            bound = []
            for n, pair in enumerate((a, b)):
                out = servers[n].state / "bound.json"
                pair.client.run([sys.executable, "-m", relayclient, "10.77.0.2", "10.77.0.1", "100", "20", str(out),
                                 str(n * 1_000_000)], timeout=40, cwd=str(REPOSITORY))
                bound.append(json.loads(out.read_text()))
            if len(bound[0]) < 100 or len(bound[1]) < 100:
                raise RuntimeError(f"only {len(bound[0])} and {len(bound[1])} of 100 clients bound")
            time.sleep(1.0)  # B learns A's bindings by notification (~35 ms); leave it no excuse.
            (mac, address), (other_mac, other_address) = list(bound[0].items())[:2]
            # The same probe with nothing killed first: B's own answer time, for comparison.
            found = {"baseline": run_probe(b, other_mac, other_address, 5_000_000 + 2 * rep, None),
                     "kill": run_probe(b, mac, address, 5_000_001 + 2 * rep, servers[0])}
    finally:
        for server in servers:
            server.stop()
            server.discard()
        db.drop(name)

    def ms(case: str, what: str) -> float | None:
        return round(found[case][what] * 1000, 1) if what in found[case] else None

    result = {"rep": rep, "init_reboot_ms": ms("kill", "reboot"), "new_client_ms": ms("kill", "new"),
              "baseline_init_reboot_ms": ms("baseline", "reboot"), "baseline_new_client_ms": ms("baseline", "new"),
              "wrong_address": any("reboot_wrong_address" in f for f in found.values())}
    log(f"FAILOVER rep={rep} kill->first ACK: INIT-REBOOT of A's client {result['init_reboot_ms']} ms, "
        f"new client DORA {result['new_client_ms']} ms (nothing killed: {result['baseline_init_reboot_ms']} / "
        f"{result['baseline_new_client_ms']} ms)" + (" WRONG ADDRESS" if result["wrong_address"] else ""))
    return result


def run_probe(pair: VethPair, mac: str, address: str, new_index: int, victim: Server | None) -> dict:
    """
    Start the probe in C{pair}'s client namespace, SIGKILL C{victim} (if
    any), and tell the probe when; its findings (seconds after the kill).
    """
    checker = pair.client.spawn(
        [sys.executable, "-m", "bench.server_postgresql", "--probe", "10.77.0.2", "10.77.0.1", mac, address,
         str(new_index), "30"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(REPOSITORY),
        env=dict(os.environ, PYTHONPATH=str(REPOSITORY)))
    try:
        if checker.stdout.readline().strip() != "ready":
            raise RuntimeError("the failover probe did not start")
        killed = time.monotonic()
        if victim is not None:
            # The probe starts at the signal, not once the victim is reaped.
            os.killpg(victim.process.pid, signal.SIGKILL)
        checker.stdin.write(f"{killed}\n")
        checker.stdin.flush()
        if victim is not None:
            victim.stop(signal.SIGKILL)
        return json.loads(checker.communicate(timeout=45)[0].strip().splitlines()[-1])
    finally:
        pair.client.stop(checker, signal.SIGKILL, timeout=5)
        if checker in pair.client.processes:
            pair.client.processes.remove(checker)


def failover(db: Database, args, workdir: Path, deadline: float) -> dict:
    runs = []
    for rep in range(1, args.failover_reps + 1):
        if time.monotonic() + 30 > deadline:
            break
        runs.append(failover_once(db, args, workdir, rep))
    reboot = [r["init_reboot_ms"] for r in runs if r["init_reboot_ms"] is not None]
    new = [r["new_client_ms"] for r in runs if r["new_client_ms"] is not None]
    base_reboot = [r["baseline_init_reboot_ms"] for r in runs if r["baseline_init_reboot_ms"] is not None]
    base_new = [r["baseline_new_client_ms"] for r in runs if r["baseline_new_client_ms"] is not None]
    result = {"runs": runs, "median_init_reboot_ms": median(reboot), "median_new_client_ms": median(new),
              "median_baseline_init_reboot_ms": median(base_reboot), "median_baseline_new_client_ms": median(base_new),
              "wrong_address": any(r["wrong_address"] for r in runs)}
    log(f"FAILOVER medians over {len(runs)} runs, kill -> first ACK: INIT-REBOOT {result['median_init_reboot_ms']} ms, "
        f"new client {result['median_new_client_ms']} ms; nothing killed: "
        f"{result['median_baseline_init_reboot_ms']} / {result['median_baseline_new_client_ms']} ms")
    return result


# ---- main ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe"]:
        giaddr, server, mac, address, new_index, limit = argv[1:7]
        print(json.dumps(probe(giaddr, server, mac, address, int(new_index), float(limit))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rates per kind, 3 s steps, 1 rep")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from: {','.join(PARTS)}")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"ramp servers, from: {','.join(KINDS)}")
    for kind in KINDS:
        parser.add_argument(f"--rates-{kind}", default=None, help=f"comma-separated offered rates for {kind}")
    parser.add_argument("--cluster-rates", default=None, help="per-server rates of the cluster ramp")
    parser.add_argument("--duration", type=int, default=None, help="perfdhcp -p seconds per step (default 4)")
    parser.add_argument("--reps", type=int, default=None, help="ramp repetitions (default 3)")
    parser.add_argument("--cluster-reps", type=int, default=None, help="cluster ramp repetitions (default 1)")
    parser.add_argument("--failover-reps", type=int, default=None, help="failover runs (default 5)")
    parser.add_argument("--clients", type=int, default=None, help="perfdhcp -R in the ramp (default 50000)")
    parser.add_argument("--ok-drops", type=float, default=1.0, help="a rate is sustained with drops <= this %%")
    parser.add_argument("--max-seconds", type=float, default=900, help="start no step after this (default 900)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin with taskset")
    parser.add_argument("--base-tree", default=None,
                        help="source tree the *-base kinds run from, e.g. from `git archive REV | tar -x -C DIR`")
    parser.add_argument("--server-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a [server] line (TOML) for the dhcpsuite kinds other than *-base; repeatable")
    parser.add_argument("--workdir", default="/tmp/dhcpsuite-bench-pg", help="server state directories")
    parser.add_argument("--json", default=None, help="write every step and the summaries here")
    parser.add_argument("--profile", default=None,
                        help="directory: run the dhcpsuite servers of the ramp under cProfile (reactor thread), "
                             "one .pstats per step; not for figures (profiling slows the server)")
    args = parser.parse_args(argv)

    parts = [p for p in args.parts.split(",") if p]
    kinds = [k for k in args.kinds.split(",") if k]
    global BASE_TREE
    BASE_TREE = Path(args.base_tree).resolve() if args.base_tree else None
    SERVER_OPTIONS[:] = args.server_option
    if set(parts) - set(PARTS) or set(kinds) - set(KINDS):
        parser.error(f"unknown parts or kinds: {sorted(set(parts) - set(PARTS)) + sorted(set(kinds) - set(KINDS))}")
    args.duration = args.duration or (3 if args.quick else 4)
    args.reps = args.reps or (1 if args.quick else 3)
    args.cluster_reps = args.cluster_reps or 1
    args.failover_reps = args.failover_reps or (2 if args.quick else 5)
    args.clients = args.clients or (20000 if args.quick else 50000)
    args.cluster_clients = 25000
    args.preload_dir = None
    args.kind_rates = {}
    for kind, (full, quick) in KINDS.items():
        given = getattr(args, f"rates_{kind.replace('-', '_')}")
        args.kind_rates[kind] = [int(r) for r in given.split(",")] if given else list(quick if args.quick else full)
    args.cluster_rates = ([int(r) for r in args.cluster_rates.split(",")] if args.cluster_rates
                          else list(CLUSTER_RATES[::2] if args.quick else CLUSTER_RATES))
    refusal = server_bench_refusal("server_postgresql.py", "network namespaces, PostgreSQL as user postgres",
                                   ["perfdhcp", "ss", "kea-dhcp4", "kea-admin"], args)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    deadline = started + args.max_seconds
    versions = {
        "kea": subprocess.run([find_program("kea-dhcp4"), "-v"], capture_output=True, text=True).stdout.strip(),
        "perfdhcp": subprocess.run([find_program("perfdhcp"), "-v"], capture_output=True, text=True).stdout.strip(),
        "dhcpsuite_commit": subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True).stdout.strip(),
    }
    log(f"# server_postgresql {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} parts={','.join(parts)} "
        f"kinds={','.join(kinds)} duration={args.duration}s reps={args.reps} pin={args.pin} nproc={os.cpu_count()} "
        f"loadavg={os.getloadavg()[0]:.2f} {versions}")
    results: dict = {}
    db = Database()
    log(f"# PostgreSQL {db.cluster.bin}, socket {db.cluster.socket_dir}, fsync on, not pinned")
    try:
        part_functions: dict[str, Callable[[], dict]] = {
            "ramp": lambda: ramp(db, kinds, args, workdir, deadline),
            "cluster": lambda: cluster(db, args, workdir, deadline),
            "failover": lambda: failover(db, args, workdir, deadline),
        }
        for part in parts:
            results[part] = part_functions[part]()
    finally:
        db.destroy()
    partial = time.monotonic() > deadline or results.get("ramp", {}).get("partial", False)
    if partial:
        log(f"PARTIAL: the --max-seconds budget ({args.max_seconds:.0f} s) ended the run early")
    log(f"# took {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "versions": versions, "results": results,
                                               "partial": partial}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
