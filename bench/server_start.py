#!/usr/bin/env python3
"""
Start with many leases in the store: time from the server process's start
until the first ACK to a new client, dhcpsuite (SQLite store) against Kea
2.2 (memfile) with the same leases.

    sudo .venv/bin/python -m bench.server_start [--leases 300000] [--reps 3]

The leases (bound, a day to run, at 10.64.0.10 upwards, each its own MAC
and client identifier 01+MAC, a hostname) are written once: into a
dhcpsuite store through the store itself (bench.memory.write_leases), and
into a Kea memfile CSV. Each repetition copies them into a fresh directory,
starts a probe client in the client namespace of a new veth pair (it sends a
broadcast DISCOVER every PROBE_INTERVAL until an OFFER comes, then a REQUEST,
and back to DISCOVER if no ACK comes within PROBE_ACK_WAIT), then starts the
server, and reads the time of the ACK from the probe (CLOCK_MONOTONIC, one
clock for every namespace). The two servers alternate, the order swapped
every repetition. Prints each figure, the medians and the ratio
dhcpsuite/Kea, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPOSITORY, dhcpsuite_config, median, server_bench_refusal  # noqa: E402
from bench.memory import TWISTD, write_leases  # noqa: E402
from tests.support.netns import VethPair  # noqa: E402
from tests.support.peers import ACK, DISCOVER, OFFER, REQUEST, Reply, bootp, frame, start_kea  # noqa: E402

SERVER_ADDRESS = "10.64.0.1/13"
SUBNET = "10.64.0.0/13"
FIRST_LEASE = "10.64.0.10"
POOL = "10.64.0.10-10.71.255.250"
LEASE_SECONDS = 86400
PROBE_MAC = bytes.fromhex("02aa00005701")
PROBE_INTERVAL = 0.02
PROBE_ACK_WAIT = 0.5
START_TIMEOUT = 180.0
KEA_CSV = "kea-leases4.csv"
KEA_HEADER = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context"


def lease_mac(index: int) -> bytes:
    # As bench.memory.write_leases makes them.
    return bytes((2, 0xBE)) + index.to_bytes(4, "big")


def write_kea_csv(path: Path, count: int, now: float) -> None:
    """
    The leases write_leases writes, as a Kea 2.2 memfile.
    """
    first = int(IPv4Address(FIRST_LEASE))
    expire = int(now) + LEASE_SECONDS
    with open(path, "w") as out:
        out.write(KEA_HEADER + "\n")
        for i in range(count):
            mac = lease_mac(i)
            client_id = (b"\x01" + mac).hex(":")
            out.write(f"{IPv4Address(first + i)},{mac.hex(':')},{client_id},{LEASE_SECONDS},{expire},1,0,0,host{i},0,\n")


def kea_config(workdir: Path) -> str:
    return json.dumps({"Dhcp4": {
        "interfaces-config": {"interfaces": ["srv0"], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": True, "name": str(workdir / KEA_CSV), "lfc-interval": 0},
        "valid-lifetime": 3600,
        "subnet4": [{"id": 1, "subnet": SUBNET, "interface": "srv0", "pools": [{"pool": POOL}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO", "output_options": [{"output": "stdout"}]}],
    }}, indent=1)


# ---- the probe client (runs in the client namespace) ----

def probe(device: str, timeout: float) -> dict:
    """
    DISCOVER until an OFFER, REQUEST it, until an ACK; the monotonic times
    the probe was ready and the ACK came.
    """
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind((device, 0))
    ready = time.monotonic()
    print(json.dumps({"ready": ready}), flush=True)
    deadline = ready + timeout
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        xid = random.getrandbits(32)
        s.send(frame(bootp(DISCOVER, PROBE_MAC, xid, broadcast=True), PROBE_MAC))
        offer = _reply(s, xid, OFFER, PROBE_INTERVAL)
        if offer is None:
            continue
        options = [(50, IPv4Address(offer.yiaddr).packed), (54, offer.options[54])]
        s.send(frame(bootp(REQUEST, PROBE_MAC, xid, options=options, broadcast=True), PROBE_MAC))
        if _reply(s, xid, ACK, PROBE_ACK_WAIT) is not None:
            return {"ack": time.monotonic(), "attempts": attempts, "address": offer.yiaddr}
    return {"ack": None, "attempts": attempts}


def _reply(s: socket.socket, xid: int, kind: int, wait: float) -> Reply | None:
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            return None
        data, address = s.recvfrom(65535)
        if address[2] == socket.PACKET_OUTGOING or len(data) < 14 + 20 + 8 + 240 or data[23] != 17:
            continue
        try:
            reply = Reply(data)
        except (ValueError, IndexError):
            continue
        if reply.sport == 67 and reply.xid == xid and reply.message_type == kind:
            return reply


# ---- one measurement ----

def measure(kind: str, leases: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"dhcpsuite-start-{kind}-") as tmp, \
            VethPair(server_address=SERVER_ADDRESS, prefix="st") as pair:
        work = Path(tmp)
        prober = pair.client.spawn([sys.executable, "-m", "bench.server_start", "--probe", pair.client_if],
                                   stdout=subprocess.PIPE, cwd=str(REPOSITORY), text=True)
        json.loads(prober.stdout.readline())
        if kind == "dhcpsuite":
            state = work / "state"
            shutil.copytree(leases / "dhcpsuite", state)
            config = work / "dhcpsuite.toml"
            config.write_text(dhcpsuite_config(state, SUBNET, POOL))
            started = time.monotonic()
            with open(work / "server.out", "wb") as out:
                server = pair.server.spawn([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(config)],
                                           stdout=out, stderr=subprocess.STDOUT, cwd=str(REPOSITORY))
        else:
            shutil.copy(leases / KEA_CSV, work / KEA_CSV)
            started = time.monotonic()
            server = start_kea(pair, work, kea_config(work)).process
        outcome = json.loads(prober.stdout.readline() or "{}")
        pair.server.stop(server)
        pair.client.stop(prober)
        if not outcome.get("ack"):
            log = (work / ("server.out" if kind == "dhcpsuite" else "kea.out")).read_text(errors="replace")
            raise RuntimeError(f"{kind}: no ACK within {START_TIMEOUT} s: {outcome}\n{log[-2000:]}")
        return {"seconds": outcome["ack"] - started, "attempts": outcome["attempts"], "address": outcome["address"]}


def prepare(directory: Path, count: int) -> None:
    now = time.time()
    (directory / "dhcpsuite").mkdir()
    started = time.monotonic()
    write_leases(str(directory / "dhcpsuite"), count, first=FIRST_LEASE, expires=now + LEASE_SECONDS)
    print(f"wrote {count} leases to the dhcpsuite store in {time.monotonic() - started:.1f} s", flush=True)
    write_kea_csv(directory / KEA_CSV, count, now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leases", type=int, default=300_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--probe", metavar="DEVICE", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.probe:
        print(json.dumps(probe(options.probe, START_TIMEOUT)), flush=True)
        return 0
    options.pin = False
    refusal = server_bench_refusal("server_start.py", "network namespaces", ["kea-dhcp4"], options)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    figures: dict[str, list[float]] = {"dhcpsuite": [], "kea": []}
    with tempfile.TemporaryDirectory(prefix="dhcpsuite-start-leases-") as tmp:
        leases = Path(tmp)
        prepare(leases, options.leases)
        for rep in range(options.reps):
            order = ("dhcpsuite", "kea") if rep % 2 == 0 else ("kea", "dhcpsuite")
            for kind in order:
                result = measure(kind, leases)
                figures[kind].append(result["seconds"])
                print(f"rep {rep + 1} {kind}: first ACK {result['seconds']:.3f} s after start "
                      f"({result['attempts']} DISCOVERs, {result['address']})", flush=True)
    ours, kea = median(figures["dhcpsuite"]), median(figures["kea"])
    print(f"median start to first ACK with {options.leases} leases: dhcpsuite {ours:.3f} s, Kea {kea:.3f} s "
          f"(dhcpsuite/Kea {ours / kea:.2f})")
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "leases": options.leases, "reps": options.reps,
                      "dhcpsuite_s": figures["dhcpsuite"], "kea_s": figures["kea"],
                      "dhcpsuite_median_s": round(ours, 3), "kea_median_s": round(kea, 3),
                      "ratio": round(ours / kea, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
