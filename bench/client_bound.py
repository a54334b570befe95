"""
Client time-to-bound: dhcpsuite's client against busybox udhcpc and ISC
dhclient, all against the same dnsmasq in the same run, interleaved.

Measured: from just before the client is started (cold) or the carrier is
brought up (warm) until an IPv4 address appears on cli0, as seen by an
RTM_NEWADDR notification read by a watcher inside the client namespace (no
polling). Every repetition uses a fresh MAC (a new client to dnsmasq, so a
full DISCOVER/OFFER/REQUEST/ACK), ARP probing is off for every client and
dnsmasq does not ping.

  cold        the client process is started (dhcpsuite: `python -m
              dhcpsuite.client`, whose first acquisition runs before
              Twisted is imported, its configuration file's parse kept
              from the run's first start as on every start of a device
              whose file has not changed (dhcpsuite.tomlcache); the same
              with `--cache-dir ""`, the first start after a change; with
              `--early-timeout 0`, all under the reactor; and `twistd -n
              -y tac/client.tac`)
  saved lease the same, and dhclient, each restarted with the lease of its
              previous start (INIT-REBOOT: REQUEST, ACK), as after a reboot
              (dhcpsuite `persist = true`); one MAC each. No other row
              starts with a lease (dhclient's lease file is removed before
              each start: it would otherwise INIT-REBOOT with the previous
              repetition's, another MAC's, address and be NAKed)
  warm        dhcpsuite's daemon is already running; the link's carrier
              comes up (the peer end is set up)
  floor       for reference: how long `python -c pass` runs in the same
              namespace (start and exit, `ip netns exec` included), `python
              -c "from twisted.internet import reactor; import attrs"`, and
              the imports of the early path

The project is byte-compiled first (`compileall`), as an installed package
is: with PYTHONDONTWRITEBYTECODE set, an editable checkout would otherwise
compile every module of ours from source on every start (~60 ms here).

udhcpc and dhclient run minimal hook scripts written into the run's
directory (PEER_HOOKS), which only `ip addr replace` the lease; they are
cold only (each acquisition starts them afresh).

    sudo .venv/bin/python bench/client_bound.py [--reps 7]

Side by side with other commits (each LABEL adds a cold `python -m` row run
from DIR, a copy of that commit's `dhcpsuite/`, interleaved with the rest):

    git archive 377be7f dhcpsuite | tar -x -C /tmp/before
    sudo .venv/bin/python bench/client_bound.py --reps 21 --no-warm --tree before=/tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPOSITORY, find_program, median  # noqa: E402
from tests.support.netns import VethPair, wait_udp_listening  # noqa: E402

# The peers' hook scripts: the address on the interface and nothing else
# (no resolv.conf, hostname or routes), so every client is timed to the
# same point. They run inside the client's namespace.
PEER_HOOKS = {
    "udhcpc-address.sh": """#!/bin/sh
case "$1" in
    deconfig) ip -4 addr flush dev "$interface" 2>/dev/null ;;
    bound|renew) ip addr replace "$ip/${mask:-24}" dev "$interface" ;;
esac
exit 0
""",
    "dhclient-address.sh": """#!/bin/sh
case "$reason" in
    BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
esac
exit 0
""",
}
PYTHON = sys.executable
TWISTD = str(Path(sys.executable).with_name("twistd"))

# Waits for RTM_NEWADDR on the interface and prints CLOCK_MONOTONIC then.
WATCHER = r"""
import socket, struct, sys, time
ifindex = socket.if_nametoindex(sys.argv[1])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.bind((0, 0x10))  # RTMGRP_IPV4_IFADDR
print("ready", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
s.settimeout(float(sys.argv[2]))
while time.monotonic() < deadline:
    data = s.recv(65536)
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if kind == 20 and struct.unpack_from("=BBBBI", data, offset + 16)[4] == ifindex:
            print(repr(time.monotonic()), flush=True)
            sys.exit(0)
        offset += (length + 3) & ~3
        if length == 0:
            break
print("timeout", flush=True)
"""


class Watcher:
    def __init__(self, pair: VethPair, timeout: float) -> None:
        self.process = subprocess.Popen(pair.client.exec_args([PYTHON, "-c", WATCHER, pair.client_if, str(timeout)]),
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def result(self, timeout: float) -> float | None:
        try:
            out, _ = self.process.communicate(timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return None
        line = out.strip()
        return float(line) if line and line != "timeout" else None


def fresh_mac(pair: VethPair, n: int) -> None:
    mac = f"02:5e:{(n >> 24) & 255:02x}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"
    pair.client.run(["ip", "link", "set", pair.client_if, "address", mac])
    pair.client.run(["ip", "-4", "addr", "flush", "dev", pair.client_if])


def wait_carrier(pair: VethPair, up: bool, timeout: float = 5.0) -> None:
    want = "1" if up else "0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pair.client.run(["cat", f"/sys/class/net/{pair.client_if}/carrier"], check=False).stdout.strip()
        if got == want:
            return
        time.sleep(0.005)
    raise RuntimeError(f"carrier did not go {'up' if up else 'down'}")


def kill(pair: VethPair, process: subprocess.Popen) -> None:
    pair.client.stop(process)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    if process in pair.client.processes:
        pair.client.processes.remove(process)


def write_client_config(workdir: Path, persist: bool = False, label: str = "") -> Path:
    """
    @param persist: keep the lease (in its own state directory, one per
        tree C{label}), for the saved-lease rows.
    """
    name = f"saved{label}" if persist else ""
    path = workdir / f"client{name}.toml"
    path.write_text(
        f'state_dir = "{workdir / f"state{name}"}"\n[client]\n[[client.interface]]\nname = "cli0"\n'
        f'arp_probe = false\ninitial_delay = 0.0\npersist = {"true" if persist else "false"}\n'
    )
    return path


# Rows that start with the lease of the previous start (INIT-REBOOT: REQUEST,
# ACK), as after a reboot; they keep one MAC, so the server still holds
# their address. Every other row starts without one.
SAVED_LEASE = " (saved lease)"


def cold_commands(workdir: Path, programs: dict[str, str], trees: dict[str, Path] | None = None,
                  only: set[str] | None = None) -> dict[str, list[str]]:
    config = write_client_config(workdir)
    for name, text in PEER_HOOKS.items():
        (workdir / name).write_text(text)
        (workdir / name).chmod(0o755)
    cache = ["--cache-dir", str(workdir / "cache")]
    commands = {
        "dhcpsuite (python -m)": [PYTHON, "-m", "dhcpsuite.client", "--config", str(config), *cache],
        f"dhcpsuite (python -m){SAVED_LEASE}": [PYTHON, "-m", "dhcpsuite.client",
                                               "--config", str(write_client_config(workdir, persist=True)), *cache],
        "dhcpsuite (python -m, config not cached)": [PYTHON, "-m", "dhcpsuite.client", "--config", str(config),
                                                     "--cache-dir", ""],
        "dhcpsuite (python -m, --early-timeout 0)": [PYTHON, "-m", "dhcpsuite.client", "--config", str(config),
                                                     *cache, "--early-timeout", "0"],
        "dhcpsuite (twistd tac)": [TWISTD, "-n", "--pidfile=", "-y", str(REPOSITORY / "tac" / "client.tac")],
    }
    for label in trees or {}:
        commands[f"dhcpsuite (python -m) @{label}"] = commands["dhcpsuite (python -m)"]
        commands[f"dhcpsuite (python -m){SAVED_LEASE} @{label}"] = [
            PYTHON, "-m", "dhcpsuite.client", "--config", str(write_client_config(workdir, True, label)), *cache]
    if "udhcpc" in programs:
        commands["udhcpc"] = [programs["udhcpc"], "-f", "-q", "-n", "-t", "10", "-T", "1", "-i", "cli0",
                              "-s", str(workdir / "udhcpc-address.sh")]
    if "dhclient" in programs:
        (workdir / "dhclient.conf").write_text("request subnet-mask, broadcast-address, routers;\n")
        for name, leases in (("dhclient", "dhclient.leases"), (f"dhclient{SAVED_LEASE}", "dhclient-saved.leases")):
            commands[name] = [programs["dhclient"], "-4", "-d", "-1", "-cf", str(workdir / "dhclient.conf"),
                              "-sf", str(workdir / "dhclient-address.sh"), "-lf", str(workdir / leases),
                              "-pf", str(workdir / "dhclient.pid"), "cli0"]
    if only:
        commands = {name: command for name, command in commands.items()
                    if name in only or name.partition(" @")[2] in only}
    return commands


FLOORS = {
    "floor: python alone (-c pass)": "pass",
    "floor: python + twisted reactor import": "from twisted.internet import reactor; import attrs",
    "floor: python + early path imports": (
        "from dhcpsuite.config import load_config; import dhcpsuite.client.early, dhcpsuite.netlink.blocking"
    ),
}


def byte_compile(tree: Path = REPOSITORY) -> None:
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(tree / "dhcpsuite")], check=True,
                   stdout=subprocess.DEVNULL)


def run(reps: int, timeout: float, trees: dict[str, Path] | None = None, only: set[str] | None = None,
        warm: bool = True) -> dict[str, list[float]]:
    """
    @param trees: other copies of the package by label (a directory holding
        C{dhcpsuite/}, e.g. C{git archive} of an older commit): each adds a
        cold C{python -m} row, started from that directory so its package is
        the one imported, interleaved with the others in every repetition.
    @param only: run only these cold rows (names, or tree labels).
    """
    trees = trees or {}
    byte_compile()
    for tree in trees.values():
        byte_compile(tree)
    programs = {name: path for name in ("udhcpc", "dhclient") if (path := find_program(name))}
    dnsmasq = find_program("dnsmasq")
    if dnsmasq is None:
        raise SystemExit("needs dnsmasq")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="dhcpsuite-bench-client-") as tmp, VethPair(prefix="bcb") as pair:
        workdir = Path(tmp)
        (workdir / "dnsmasq.conf").write_text("\n".join([
            "port=0", "no-resolv", "no-hosts", "interface=srv0", "except-interface=lo", "bind-interfaces",
            "dhcp-range=10.77.0.10,10.77.250.250,255.255.0.0,1h", "dhcp-lease-max=100000",
            f"dhcp-leasefile={workdir / 'dnsmasq.leases'}", "dhcp-authoritative", "no-ping",
            "user=root", "group=root", "",
        ]))
        server = pair.server.spawn([dnsmasq, "--keep-in-foreground", f"--conf-file={workdir / 'dnsmasq.conf'}"])
        wait_udp_listening(pair.server, 67, server)
        env = dict(os.environ, DHCPSUITE_CONFIG=str(write_client_config(workdir)),
                   HARNESS_BOUND_FILE=str(workdir / "bound"))
        commands = cold_commands(workdir, programs, trees, only)
        # One MAC for each saved-lease row, for good; the others a fresh one each time.
        saved_macs = {name: 0xFF0000 + index for index, name in enumerate(commands) if SAVED_LEASE in name}
        for name, mac in saved_macs.items():  # the lease they start with
            fresh_mac(pair, mac)
            process = spawn(pair, commands[name], env, trees.get(name.partition(" @")[2]))
            time.sleep(2.0)
            kill(pair, process)
        counter = 1
        for rep in range(reps):
            for name, command in commands.items():
                counter += 1
                fresh_mac(pair, saved_macs.get(name, counter))
                # dhclient would otherwise INIT-REBOOT with the previous
                # repetition's lease (another MAC's address: NAK, then DISCOVER).
                (workdir / "dhclient.leases").unlink(missing_ok=True)
                watcher = Watcher(pair, timeout)
                t0 = time.monotonic()
                process = spawn(pair, command, env, trees.get(name.partition(" @")[2]))
                bound = watcher.result(timeout)
                kill(pair, process)
                pair.client.run(["ip", "-4", "addr", "flush", "dev", pair.client_if])
                record(results, f"cold {name}", None if bound is None else (bound - t0) * 1000)
                time.sleep(0.2)
            # The floor of any Twisted client: the interpreter and the reactor import;
            # and of the early path: the interpreter and what it imports.
            for floor, code in FLOORS.items():
                t0 = time.monotonic()
                pair.client.run([PYTHON, "-c", code])
                record(results, floor, (time.monotonic() - t0) * 1000)
        # Warm: the daemon runs; each acquisition starts when carrier comes up.
        for name in ("dhcpsuite (python -m)", "dhcpsuite (twistd tac)") if warm else ():
            command = commands[name]
            pair.server.run(["ip", "link", "set", "srv0", "down"])
            wait_carrier(pair, False)
            daemon = pair.client.spawn(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            time.sleep(2.0)  # started, waiting for carrier
            for rep in range(reps):
                counter += 1
                fresh_mac(pair, counter)
                time.sleep(0.1)
                watcher = Watcher(pair, timeout)
                t0 = time.monotonic()
                pair.server.run(["ip", "link", "set", "srv0", "up"])
                bound = watcher.result(timeout)
                record(results, f"warm {name}", None if bound is None else (bound - t0) * 1000)
                pair.server.run(["ip", "link", "set", "srv0", "down"])
                wait_carrier(pair, False)
                time.sleep(0.2)
            kill(pair, daemon)
            pair.server.run(["ip", "link", "set", "srv0", "up"])
        pair.server.stop(server)
    return results


def spawn(pair: VethPair, command: list[str], env: dict[str, str], tree: Path | None) -> subprocess.Popen:
    """
    Start a client in the client namespace; from C{tree}, so that its
    package is the one imported.
    """
    return pair.client.spawn(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                             cwd=None if tree is None else str(tree))


def record(results: dict[str, list[float]], name: str, ms: float | None) -> None:
    print(f"BOUND {name} ms={'FAILED' if ms is None else f'{ms:.1f}'}", flush=True)
    results.setdefault(name, [])
    if ms is not None:
        results[name].append(ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--json", help="write the raw figures here")
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                        help="also time `python -m dhcpsuite.client` from DIR (holding a dhcpsuite/ of another commit)")
    parser.add_argument("--only", action="append", default=[],
                        help="cold rows to run: their names or tree labels, comma-separated or repeated "
                             "(a name holding a comma, such as 'dhcpsuite (python -m, config not cached)', "
                             "is given whole)")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm rows")
    args = parser.parse_args()
    trees = {}
    for item in args.tree:
        label, equals, directory = item.partition("=")
        if not equals or not (Path(directory) / "dhcpsuite").is_dir():
            raise SystemExit(f"--tree {item!r}: expected LABEL=DIR, DIR holding dhcpsuite/")
        trees[label] = Path(directory).resolve()
    if os.geteuid() != 0:
        raise SystemExit("must run as root (network namespaces)")
    # Each value whole (names hold commas) and its comma-separated parts.
    only = {part for value in args.only for part in (value, *value.split(","))} or None
    results = run(args.reps, args.timeout, trees, only, warm=not args.no_warm)
    medians = {name: median(values) for name, values in results.items() if values}
    print()
    for name, values in results.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"MEDIAN {name:32s} n={len(values)} ms={medians.get(name, float('nan')):7.1f}  [{shown}]")
    reference = {"dhclient": medians.get("cold dhclient"), "udhcpc": medians.get("cold udhcpc")}
    for name, value in medians.items():
        if SAVED_LEASE in name:  # against the peer that also starts from its lease
            peer = f"cold dhclient{SAVED_LEASE}"
            if name.startswith("cold dhcpsuite") and medians.get(peer):
                print(f"RATIO {name} / {peer} = {value / medians[peer]:.2f}")
            continue
        if name.startswith("cold dhcpsuite") and reference["dhclient"]:
            print(f"RATIO {name} / cold dhclient = {value / reference['dhclient']:.2f}")
        if name.startswith("cold dhcpsuite") and reference["udhcpc"]:
            print(f"RATIO {name} / cold udhcpc = {value / reference['udhcpc']:.2f}")
        if name.startswith("warm dhcpsuite") and reference["dhclient"]:
            print(f"RATIO {name} / cold dhclient = {value / reference['dhclient']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "medians": medians}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
