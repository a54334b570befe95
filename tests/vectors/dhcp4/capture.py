#!/usr/bin/env python3
"""
Re-capture the DHCPv4 wire vectors in this directory from real programs.

Run as root from the repository root::

    .venv/bin/python tests/vectors/dhcp4/capture.py [--out DIR] [--keep-pcap DIR]

It builds a L{VethPair} (server ns C{srv0} 10.77.0.1/16, client ns C{cli0}),
runs dnsmasq in the server namespace, and one phase per client in the client
namespace, each under its own C{tcpdump -w} on C{srv0}:

  - dhclient: DORA, a RENEW at T1 (dnsmasq sends T1 = 5 s), a RELEASE (C{dhclient -r});
  - udhcpc: DORA, a RENEW (SIGUSR1), a RELEASE (C{-R}, on SIGTERM);
  - dhcpcd (only if installed): an INFORM (C{dhcpcd --inform});
  - perfdhcp: one relayed exchange (giaddr 10.77.0.2, from port 67).

Every captured DHCP message becomes C{<source>-<nn>-<type>.bin} (the UDP
payload only), C{nn} counting through the whole capture, C{source} being the
program that sent it. Old C{*.bin} files in the output directory are removed
first, so the directory always holds one consistent capture.

Only the namespaces made here see any traffic; every process is killed by PID.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.support.netns import VethPair  # noqa: E402

DHCLIENT_MAC = "02:00:00:00:01:01"
UDHCPC_MAC = "02:00:00:00:02:02"
DHCPCD_MAC = "02:00:00:00:03:03"
PERFDHCP_MAC = "02:00:00:00:04:04"
SERVER_ADDRESS = "10.77.0.1"

MESSAGE_TYPES = {
    1: "discover", 2: "offer", 3: "request", 4: "decline", 5: "ack",
    6: "nak", 7: "release", 8: "inform",
}

DNSMASQ_CONF = """\
port=0
no-resolv
no-hosts
interface=srv0
except-interface=lo
bind-interfaces
dhcp-range=10.77.0.10,10.77.0.250,255.255.0.0,2m
dhcp-option=option:router,10.77.0.1
dhcp-option=option:dns-server,10.77.0.1
dhcp-option=option:domain-name,example.lan
dhcp-option=option:ntp-server,10.77.0.1
dhcp-option=option:mtu,1500
dhcp-option=option:classless-static-route,10.99.0.0/16,10.77.0.254
# short T1 so that dhclient renews within the capture
dhcp-option=option:T1,5
dhcp-option=option:T2,90
dhcp-authoritative
no-ping
log-dhcp
dhcp-leasefile={tmp}/dnsmasq.leases
log-facility={tmp}/dnsmasq.log
pid-file={tmp}/dnsmasq.pid
user=root
group=root
"""

DHCLIENT_CONF = """\
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
send host-name "vector-dhclient";
request subnet-mask, broadcast-address, time-offset, routers, domain-name,
        domain-name-servers, host-name, ntp-servers, interface-mtu,
        rfc3442-classless-static-routes;
"""

# Both client scripts only put the leased address on cli0 (inside the client
# namespace), so the client can receive the unicast replies to its renew.
DHCLIENT_SCRIPT = """\
#!/bin/sh
case "$reason" in
    BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
    EXPIRE|FAIL|RELEASE) [ -n "$old_ip_address" ] && ip addr del "$old_ip_address/$old_subnet_mask" dev "$interface" 2>/dev/null ;;
esac
echo "$reason" >> "$(dirname "$0")/dhclient.reasons"
exit 0
"""

UDHCPC_SCRIPT = """\
#!/bin/sh
case "$1" in
    deconfig) ip -4 addr flush dev "$interface" 2>/dev/null ;;
    bound|renew) ip addr replace "$ip/${mask:-16}" dev "$interface" ;;
esac
echo "$1" >> "$(dirname "$0")/udhcpc.events"
exit 0
"""

DHCPCD_CONF = """\
ipv4only
noipv4ll
option subnet_mask, routers, domain_name_servers, domain_name, ntp_servers
"""


def log(message: str) -> None:
    print(f"capture: {message}", file=sys.stderr, flush=True)


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def set_client_mac(pair: VethPair, mac: str) -> None:
    ns, ifname = pair.client, pair.client_if
    ns.run(["ip", "-4", "addr", "flush", "dev", ifname])
    ns.run(["ip", "link", "set", ifname, "down"])
    ns.run(["ip", "link", "set", ifname, "address", mac])
    ns.run(["ip", "link", "set", ifname, "up"])
    operstate = f"/sys/class/net/{pair.server_if}/operstate"
    wait_for(lambda: pair.server.run(["cat", operstate]).stdout.strip() == "up", 5)


class Capture:
    """
    One C{tcpdump -w} on the server side of the veth, for one phase.
    """

    def __init__(self, pair: VethPair, path: Path) -> None:
        self.pair = pair
        self.path = path
        self.process = None

    def __enter__(self) -> "Capture":
        self.process = self.pair.server.spawn(
            ["tcpdump", "-i", self.pair.server_if, "--immediate-mode", "-U", "-n", "-w", str(self.path),
             "udp port 67 or udp port 68"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        # tcpdump says "listening on" on stderr once the socket is open.
        os.set_blocking(self.process.stderr.fileno(), False)
        buffered = b""
        deadline = time.monotonic() + 5
        while b"listening on" not in buffered and time.monotonic() < deadline:
            try:
                buffered += self.process.stderr.read() or b""
            except BlockingIOError:
                pass
            time.sleep(0.05)
        time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.5)
        died = self.process.poll() is not None
        self.pair.server.stop(self.process, signal.SIGINT)
        if died and exc[0] is None:
            raise RuntimeError(f"tcpdump ended before the phase did: {self.process.stderr.read()!r}")


def dhcp_messages(pcap: Path) -> list[tuple[str, bytes]]:
    """
    @return: (source IP, UDP payload) of each DHCP datagram, in capture order.
    """
    from scapy.all import IP, UDP, rdpcap

    out = []
    for packet in rdpcap(str(pcap)):
        if IP in packet and UDP in packet and {packet[UDP].sport, packet[UDP].dport} & {67, 68}:
            out.append((packet[IP].src, bytes(packet[UDP].payload)))
    return out


def message_type(payload: bytes) -> str:
    """
    Option 53 found by a plain walk of the options field (no overload needed
    for what these programs send).
    """
    if payload[236:240] != b"\x63\x82\x53\x63":
        return "bootp"
    i = 240
    while i < len(payload):
        code = payload[i]
        if code == 0:
            i += 1
            continue
        if code == 255:
            break
        length = payload[i + 1]
        if code == 53 and length == 1:
            return MESSAGE_TYPES.get(payload[i + 2], f"type{payload[i + 2]}")
        i += 2 + length
    return "unknown"


def options(payload: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 240
    while i < len(payload) and payload[i] != 255:
        if payload[i] == 0:
            i += 1
            continue
        out.append((payload[i], payload[i + 2:i + 2 + payload[i + 1]]))
        i += 2 + payload[i + 1]
    return out


def _ip(data: bytes) -> str:
    return ".".join(str(b) for b in data)


def describe(path: Path) -> str:
    """
    One markdown table row: file, type, client MAC, header addresses, options.
    """
    payload = path.read_bytes()
    mac = ":".join(f"{b:02x}" for b in payload[28:34])
    header = ", ".join(
        f"{name}={_ip(payload[offset:offset + 4])}"
        for name, offset in (("ciaddr", 12), ("yiaddr", 16), ("giaddr", 24))
        if payload[offset:offset + 4] != bytes(4)
    )
    if payload[10] & 0x80:
        header = ", ".join(filter(None, ["broadcast flag", header]))
    notes = []
    for code, value in options(payload):
        if code in (50, 54, 1, 3, 6, 28, 42):
            notes.append(f"{code}={','.join(_ip(value[i:i + 4]) for i in range(0, len(value), 4))}")
        elif code in (51, 58, 59) and len(value) == 4:
            notes.append(f"{code}={int.from_bytes(value, 'big')}")
        elif code in (12, 15, 60):
            notes.append(f"{code}={value.decode('ascii', 'replace')!r}")
        elif code in (61, 82, 121):
            notes.append(f"{code}={value.hex(':')}")
        elif code == 55:
            notes.append(f"55=[{','.join(str(b) for b in value)}]")
        elif code == 57 and len(value) == 2:
            notes.append(f"57={int.from_bytes(value, 'big')}")
        elif code != 53:
            notes.append(f"{code}({len(value)}B)")
    return f"| `{path.name}` | {message_type(payload).upper()} | {mac} | {header or '-'} | {len(payload)} | {' '.join(notes)} |"


def phase_dhclient(pair: VethPair, tmp: Path, programs: dict[str, str]) -> None:
    conf, script, leases, pid = tmp / "dhclient.conf", tmp / "dhclient-script", tmp / "dhclient.leases", tmp / "dhclient.pid"
    conf.write_text(DHCLIENT_CONF)
    script.write_text(DHCLIENT_SCRIPT)
    script.chmod(0o755)
    reasons = tmp / "dhclient.reasons"
    common = ["-cf", str(conf), "-sf", str(script), "-lf", str(leases), "-pf", str(pid)]
    client = pair.client.spawn([programs["dhclient"], "-4", "-d", "-v", *common, pair.client_if])
    # BOUND, then RENEW at T1 (5 s).
    if not wait_for(lambda: reasons.exists() and "RENEW" in reasons.read_text(), 20):
        raise RuntimeError(f"dhclient did not bind and renew: {reasons.read_text() if reasons.exists() else ''}")
    pair.client.stop(client)
    pair.client.run([programs["dhclient"], "-4", "-r", "-v", *common, pair.client_if], timeout=20)


def phase_udhcpc(pair: VethPair, tmp: Path, programs: dict[str, str]) -> None:
    script = tmp / "udhcpc-script"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    events = tmp / "udhcpc.events"
    client = pair.client.spawn([
        programs["udhcpc"], "-f", "-R", "-t", "5", "-T", "1", "-i", pair.client_if, "-s", str(script),
        "-x", "hostname:vector-udhcpc", "-V", "dhcpsuite-vectors", "-O", "ntpsrv", "-O", "staticroutes",
    ])
    if not wait_for(lambda: events.exists() and "bound" in events.read_text(), 15):
        raise RuntimeError("udhcpc did not bind")
    time.sleep(0.5)
    os.killpg(client.pid, signal.SIGUSR1)
    if not wait_for(lambda: "renew" in events.read_text(), 10):
        raise RuntimeError("udhcpc did not renew")
    time.sleep(0.5)
    # -R: release on exit.
    pair.client.stop(client)


def phase_dhcpcd_inform(pair: VethPair, tmp: Path, programs: dict[str, str]) -> None:
    conf = tmp / "dhcpcd.conf"
    conf.write_text(DHCPCD_CONF)
    pair.client.run(["ip", "addr", "add", "10.77.0.3/16", "dev", pair.client_if])
    # dhcpcd keeps state in /var/lib/dhcpcd: --inform with a static address writes no lease,
    # but remove what it may leave for this interface name anyway.
    client = pair.client.spawn([
        programs["dhcpcd"], "-4", "-B", "-1", "-t", "10", "-f", str(conf), "-c", "/bin/true",
        "--inform", "10.77.0.3/16", pair.client_if,
    ])
    try:
        client.wait(12)
    except subprocess.TimeoutExpired:
        pass
    pair.client.stop(client)
    for leftover in Path("/var/lib/dhcpcd").glob(f"{pair.client_if}*") if Path("/var/lib/dhcpcd").is_dir() else []:
        leftover.unlink()
    pair.client.run(["ip", "-4", "addr", "flush", "dev", pair.client_if])


def phase_perfdhcp(pair: VethPair, tmp: Path, programs: dict[str, str]) -> None:
    pair.client.run(["ip", "addr", "add", "10.77.0.2/16", "dev", pair.client_if])
    # One exchange (-n 1), fixed seed: relayed DISCOVER/OFFER/REQUEST/ACK via giaddr 10.77.0.2.
    pair.client.run(
        ["timeout", "20", programs["perfdhcp"], "-4", "-l", pair.client_if, "-r", "1", "-R", "1",
         "-n", "1", "-s", "1", "-W", "1000000"],
        check=False, timeout=30,
    )
    pair.client.run(["ip", "-4", "addr", "flush", "dev", pair.client_if])


# (name, client MAC, phase, programs needed). The MAC is set before tcpdump
# starts: taking cli0 down also takes srv0's carrier down, and libpcap then
# ends the capture ("The interface went down").
PHASES = [
    ("dhclient", DHCLIENT_MAC, phase_dhclient, ("dhclient",)),
    ("udhcpc", UDHCPC_MAC, phase_udhcpc, ("udhcpc",)),
    ("dhcpcd", DHCPCD_MAC, phase_dhcpcd_inform, ("dhcpcd",)),
    ("perfdhcp", PERFDHCP_MAC, phase_perfdhcp, ("perfdhcp",)),
]


def find_program(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE), help="where the .bin files go (default: next to this script)")
    parser.add_argument("--keep-pcap", default=None, help="also copy the per-phase pcap files here")
    parser.add_argument("--describe", action="store_true",
                        help="only print the README table rows for the .bin files in --out")
    args = parser.parse_args()
    if args.describe:
        for path in sorted(Path(args.out).glob("*.bin"), key=lambda p: p.name.split("-")[1]):
            print(describe(path))
        return 0
    if os.geteuid() != 0:
        print("capture.py needs root (network namespaces)", file=sys.stderr)
        return 2
    programs = {name: find_program(name) for name in ("dnsmasq", "dhclient", "udhcpc", "dhcpcd", "perfdhcp", "tcpdump")}
    for needed in ("dnsmasq", "tcpdump"):
        if programs[needed] is None:
            print(f"capture.py needs {needed}", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    messages: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory(prefix="dhcp4-vectors-") as tmpname, VethPair(prefix="vec") as pair:
        tmp = Path(tmpname)
        (tmp / "dnsmasq.conf").write_text(DNSMASQ_CONF.format(tmp=tmp))
        server = pair.server.spawn([programs["dnsmasq"], "--keep-in-foreground", f"--conf-file={tmp / 'dnsmasq.conf'}"])
        if not wait_for(lambda: pair.server.run(["ss", "-Hlun", "sport = :67"]).stdout.strip() != "", 10):
            raise RuntimeError("dnsmasq does not listen on UDP 67")
        for name, mac, phase, needs in PHASES:
            if any(programs[n] is None for n in needs):
                log(f"skipping {name}: {', '.join(n for n in needs if programs[n] is None)} not installed")
                continue
            log(f"phase {name}")
            pcap = tmp / f"{name}.pcap"
            set_client_mac(pair, mac)
            with Capture(pair, pcap):
                phase(pair, tmp, programs)
            got = dhcp_messages(pcap)
            log(f"  {len(got)} DHCP messages")
            messages += [(SERVER_ADDRESS == src and "dnsmasq" or name, payload) for src, payload in got]
            if args.keep_pcap:
                Path(args.keep_pcap).mkdir(parents=True, exist_ok=True)
                shutil.copy(pcap, Path(args.keep_pcap) / pcap.name)
        pair.server.stop(server)
        if args.keep_pcap:
            shutil.copy(tmp / "dnsmasq.log", Path(args.keep_pcap) / "dnsmasq.log")
    for old in out.glob("*.bin"):
        old.unlink()
    for index, (source, payload) in enumerate(messages, 1):
        path = out / f"{source}-{index:02d}-{message_type(payload)}.bin"
        path.write_bytes(payload)
        print(path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
