"""
Resident memory of the gateway daemon (netlink, client, server, ingest,
control in one process): idle, and with 50,000 leases in the server's store.

    sudo .venv/bin/python bench/memory.py [--leases 50000] [--reps 3]

Runs in namespaces it creates and deletes (a WAN link with no DHCP server on
it, so the client stays in SELECTING; a LAN link the server serves). The
leases are written to the SQLite store before the daemon starts, as a
restart after a busy day would find them. Prints the median VmRSS of each
case and a JSON line.
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
from ipaddress import IPv4Address
from pathlib import Path

from bench.common import REPOSITORY
from dhcpsuite.leases.lease import Lease, LeaseState
from tests.support.netns import VethPair, wait_udp_listening

TWISTD = str(Path(sys.executable).with_name("twistd"))
SETTLE_SECONDS = 3.0


def write_leases(state_dir: str, count: int, first: str = "10.78.0.10", expires: float | None = None) -> None:
    """
    C{count} bound leases in the server's database, through the store
    itself, at C{first} upwards, running a day (or to C{expires}).
    """
    from twisted.internet.testing import MemoryReactor

    from dhcpsuite.leases.sqlite import SQLiteLeaseStore

    class Inline(MemoryReactor):
        def callFromThread(self, f, *args, **kw):
            f(*args, **kw)

    store = SQLiteLeaseStore(os.path.join(state_dir, "server-leases.sqlite3"), reactor=Inline())
    now = time.time()
    end = now + 86400 if expires is None else expires
    start = int(IPv4Address(first))
    for i in range(count):
        mac = bytes((2, 0xBE)) + i.to_bytes(4, "big")
        store.put(Lease(IPv4Address(start + i), LeaseState.BOUND, b"\x01" + mac, mac, end, f"host{i}", now))
    done = []
    store.close().addCallback(done.append)
    deadline = time.monotonic() + 120
    while not done and time.monotonic() < deadline:
        time.sleep(0.05)


def config(state_dir: str) -> str:
    return f"""
state_dir = "{state_dir}"
[netlink]
[[client.interface]]
name = "cli0"
arp_probe = false
[server]
log_exchanges = false
[[server.subnet]]
subnet = "10.78.0.0/16"
interface = "srv0"
pool = ["10.78.0.10-10.78.250.250"]
[ingest]
accept_unmanaged = true
[control]
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def measure(leases: int) -> int:
    with tempfile.TemporaryDirectory(prefix="dhcpsuite-mem-") as work, VethPair(server_address="10.78.0.1/16", prefix="mem") as pair:
        state = os.path.join(work, "state")
        os.makedirs(state)
        if leases:
            write_leases(state, leases)
        path = os.path.join(work, "gateway.toml")
        Path(path).write_text(config(state))
        # The gateway namespace holds both ends' roles: move the client end in.
        pair.client.run(["ip", "link", "set", "cli0", "netns", pair.server.name])
        pair.server.run(["ip", "link", "set", "cli0", "up"])
        with open(os.path.join(work, "out"), "wb") as out:
            process = pair.server.spawn([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", path], stdout=out,
                                        stderr=subprocess.STDOUT, cwd=str(REPOSITORY))
        wait_udp_listening(pair.server, 67, process, timeout=60)
        time.sleep(SETTLE_SECONDS)
        value = rss_kib(process.pid)
        pair.server.stop(process)
        return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leases", type=int, default=50000)
    parser.add_argument("--reps", type=int, default=3)
    options = parser.parse_args()
    idle, loaded = [], []
    for rep in range(options.reps):
        idle.append(measure(0))
        loaded.append(measure(options.leases))
        print(f"rep {rep + 1}: idle {idle[-1] / 1024:.1f} MiB, with {options.leases} leases {loaded[-1] / 1024:.1f} MiB "
              f"({(loaded[-1] - idle[-1]) * 1024 / options.leases:.0f} bytes a lease)", flush=True)
    idle_mib, loaded_mib = statistics.median(idle) / 1024, statistics.median(loaded) / 1024
    per_lease = (statistics.median(loaded) - statistics.median(idle)) * 1024 / options.leases
    print(f"median RSS idle {idle_mib:.1f} MiB (target <= 60), with {options.leases} leases {loaded_mib:.1f} MiB "
          f"({per_lease:.0f} bytes a lease, target <= 256)")
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "idle_mib": round(idle_mib, 1),
                      "leases": options.leases, "loaded_mib": round(loaded_mib, 1),
                      "bytes_per_lease": round(per_lease),
                      "bytes_per_lease_reps": [round((b - a) * 1024 / options.leases) for a, b in zip(idle, loaded)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
