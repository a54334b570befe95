"""
Three DHCPv4 servers with one configuration, for differential tests:
dhcpsuite (C{twistd dhcpsuite}), ISC Kea 2.2 (C{kea-dhcp4}, raw sockets,
memfile) and ISC dhcpd 4.4 (C{dhcpd -4 -f}), each in the server namespace of
its own L{VethPair}, each killed by PID when the pair goes down.

The wire side works at layer 2 so that a scenario can say everything a
client or relay could: L{frame} builds an Ethernet/IPv4/UDP frame around a
BOOTP payload (any chaddr, hlen, ciaddr, flags, source address), and
L{exchange} sends frames from the client end on a packet socket and captures
every frame the server sends back, with its link, IP and UDP addressing, for
a bounded time. L{Reply} reads all of it, BOOTP fields and options included
(sname/file too when option 52 says so).
"""

from __future__ import annotations

import ipaddress
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

import attrs

from tests.integration.conftest import TWISTD, toml_document
from tests.support.netns import Namespace, VethPair

MAGIC_COOKIE = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
BROADCAST_MAC = b"\xff" * 6


@attrs.frozen
class Network:
    """
    The one subnet every server under test serves on C{srv0}, with the same
    pool, options and lease times. C{large} are three text options of 250
    bytes (merit dump, root path, extensions path: standard codes every
    server knows by name) for the reply-size scenarios.
    """

    prefix: str = "10.60.0"
    lease_time: int = 2400
    renewal_time: int = 1200
    rebinding_time: int = 2100
    domain: str = "example.lan"
    large: Mapping[int, str] = attrs.field(factory=lambda: {
        14: "m" * 250, 17: "r" * 250, 18: "e" * 250,
    })

    def address(self, host: int) -> str:
        return f"{self.prefix}.{host}"

    @property
    def subnet(self) -> str:
        return f"{self.prefix}.0/24"

    @property
    def server(self) -> str:
        return self.address(1)

    @property
    def relay(self) -> str:
        return self.address(2)

    @property
    def dns(self) -> str:
        return self.address(53)

    @property
    def pool(self) -> tuple[str, str]:
        return self.address(100), self.address(199)


@attrs.define
class Peer:
    """
    One server process in C{pair.server}; C{output} is its log file.
    """

    name: str
    pair: VethPair
    process: subprocess.Popen
    output: Path
    workdir: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self, lines: int = 40) -> str:
        """
        The last C{lines} lines of the server's output.
        """
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------
# Configurations, one per server, from the same Network

# dhcpsuite's control plane, on loopback inside its server namespace.
CONTROL_PORT = 8067
# Kea and dhcpd name the large options alike.
LARGE_OPTION_NAMES = {14: "merit-dump", 17: "root-path", 18: "extensions-path"}


def dhcpsuite_config(net: Network, workdir: Path, authoritative: bool, control_port: int) -> str:
    subnet = {
        "subnet": net.subnet, "interface": "srv0", "pool": ["-".join(net.pool)],
        "lease_time": net.lease_time, "renewal_time": net.renewal_time, "rebinding_time": net.rebinding_time,
        "router": [net.server], "dns_servers": [net.dns], "domain_name": net.domain,
        "authoritative": authoritative,
        "option": [{"code": code, "text": text} for code, text in net.large.items()],
    }
    return toml_document({
        "state_dir": str(workdir / "state"),
        "server": {
            "lease_store": "memory", "log_exchanges": True, "subnet": [subnet],
            # The scenarios send several packets per MAC quickly; the limiter is not under test.
            "client_rate_limit": {"rate": 0},
        },
        "control": {"listen": f"tcp:{control_port}:interface=127.0.0.1"},
    })


def kea_config(net: Network, workdir: Path, authoritative: bool) -> str:
    options = [
        {"name": "routers", "data": net.server},
        {"name": "domain-name-servers", "data": net.dns},
        {"name": "domain-name", "data": net.domain},
        *({"name": LARGE_OPTION_NAMES[code], "data": text} for code, text in net.large.items()),
    ]
    return json.dumps({"Dhcp4": {
        "interfaces-config": {"interfaces": ["srv0"], "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "persist": True, "name": str(workdir / "kea-leases4.csv"),
                           "lfc-interval": 0},
        "control-socket": {"socket-type": "unix", "socket-name": str(workdir / "kea4.sock")},
        "valid-lifetime": net.lease_time, "renew-timer": net.renewal_time, "rebind-timer": net.rebinding_time,
        "authoritative": authoritative,
        "subnet4": [{
            "id": 1, "subnet": net.subnet, "interface": "srv0",
            "pools": [{"pool": "-".join(net.pool)}],
            "option-data": options,
        }],
        "loggers": [{"name": "kea-dhcp4", "severity": "DEBUG", "debuglevel": 40,
                     "output_options": [{"output": "stdout"}]}],
    }}, indent=1)


def dhcpd_config(net: Network, authoritative: bool) -> str:
    large = "".join(f'  option {LARGE_OPTION_NAMES[code]} "{text}";\n' for code, text in net.large.items())
    return (
        "ddns-update-style none;\n"
        "ping-check false;\n"
        f"{'authoritative' if authoritative else 'not authoritative'};\n"
        f"default-lease-time {net.lease_time};\nmax-lease-time {net.lease_time};\n"
        f"subnet {net.prefix}.0 netmask 255.255.255.0 {{\n"
        f"  range {net.pool[0]} {net.pool[1]};\n"
        f"  option routers {net.server};\n"
        f"  option domain-name-servers {net.dns};\n"
        f'  option domain-name "{net.domain}";\n'
        f"  option dhcp-renewal-time {net.renewal_time};\n"
        f"  option dhcp-rebinding-time {net.rebinding_time};\n"
        f"{large}"
        "}\n"
    )


# ---------------------------------------------------------------------------
# Launchers: each starts its server in pair.server and returns the Peer

def _spawn(name: str, pair: VethPair, workdir: Path, args: list[str], env: dict | None = None) -> Peer:
    output = workdir / f"{name}.out"
    with open(output, "ab") as sink:
        process = pair.server.spawn(args, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    return Peer(name, pair, process, output, workdir)


def launch_dhcpsuite(pair: VethPair, workdir: Path, net: Network, authoritative: bool) -> Peer:
    path = workdir / "dhcpsuite.toml"
    path.write_text(dhcpsuite_config(net, workdir, authoritative, CONTROL_PORT))
    return _spawn("dhcpsuite", pair, workdir, [TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)])


def launch_kea(pair: VethPair, workdir: Path, net: Network, authoritative: bool) -> Peer:
    return start_kea(pair, workdir, kea_config(net, workdir, authoritative))


def start_kea(pair: VethPair, workdir: Path, config: str) -> Peer:
    """
    kea-dhcp4 with the configuration text C{config}, checked first.
    """
    path = workdir / "kea-dhcp4.conf"
    path.write_text(config)
    env = dict(os.environ, KEA_PIDFILE_DIR=str(workdir), KEA_LOCKFILE_DIR=str(workdir))
    # The syntax check runs where the server will: it looks at the interfaces.
    check = pair.server.run(["kea-dhcp4", "-t", str(path)], check=False, env=env)
    if check.returncode != 0:
        raise RuntimeError(f"kea-dhcp4 -t {path}: {check.stdout}{check.stderr}")
    return _spawn("kea", pair, workdir, ["kea-dhcp4", "-c", str(path)], env)


def launch_dhcpd(pair: VethPair, workdir: Path, net: Network, authoritative: bool) -> Peer:
    conf, leases, pid = workdir / "dhcpd.conf", workdir / "dhcpd.leases", workdir / "dhcpd.pid"
    conf.write_text(dhcpd_config(net, authoritative))
    leases.touch()
    check = pair.server.run(["dhcpd", "-4", "-t", "-cf", str(conf)], check=False)
    if check.returncode != 0:
        raise RuntimeError(f"dhcpd -t {conf}: {check.stdout}{check.stderr}")
    return _spawn("dhcpd", pair, workdir, [
        "dhcpd", "-4", "-f", "-d", "-cf", str(conf), "-lf", str(leases), "-pf", str(pid), pair.server_if,
    ])


LAUNCHERS: dict[str, Callable[[VethPair, Path, Network, bool], Peer]] = {
    "dhcpsuite": launch_dhcpsuite,
    "kea": launch_kea,
    "dhcpd": launch_dhcpd,
}


# ---------------------------------------------------------------------------
# Frames and replies

def bootp(
    kind: int | None,
    mac: bytes,
    xid: int,
    *,
    options: Iterable[tuple[int, bytes]] = (),
    ciaddr: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    hops: int = 0,
    hlen: int | None = None,
    broadcast: bool = False,
    end: bool = True,
    pad_to: int = 300,
) -> bytes:
    """
    A client's BOOTREQUEST, option 53 first (unless C{kind} is None), then
    C{options} in order, END (unless C{end} is false), zero-padded to
    C{pad_to} bytes as most clients do.
    """
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s", 1, 1, len(mac) if hlen is None else hlen, hops, xid, 0,
        0x8000 if broadcast else 0, ipaddress.IPv4Address(ciaddr).packed, bytes(4), bytes(4),
        ipaddress.IPv4Address(giaddr).packed, mac.ljust(16, b"\0"), b"", b"",
    )
    body = b"" if kind is None else bytes((53, 1, kind))
    for code, value in options:
        body += bytes((code, len(value))) + value
    if end:
        body += b"\xff"
    return (header + MAGIC_COOKIE + body).ljust(pad_to, b"\0")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(payload: bytes, src_mac: bytes, *, dst_mac: bytes = BROADCAST_MAC, src: str = "0.0.0.0",
          dst: str = "255.255.255.255", sport: int = 68, dport: int = 67, ttl: int = 64) -> bytes:
    """
    Ethernet/IPv4/UDP around C{payload}, both checksums filled in.
    """
    s, d = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    length = 8 + len(payload)
    pseudo = s + d + struct.pack("!BBH", 0, 17, length)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, ttl, 17, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def _walk(data: bytes, into: dict[int, bytes]) -> bool:
    """
    Options from C{data} into C{into} (a repeated code is concatenated, RFC
    3396). @return: whether END was seen.
    """
    i = 0
    while i < len(data):
        code = data[i]
        if code == 255:
            return True
        if code == 0:
            i += 1
            continue
        if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
            raise ValueError(f"option {code} overruns its field at {i}")
        into[code] = into.get(code, b"") + data[i + 2:i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    return False


class Reply:
    """
    One frame from the server: link, IP and UDP addressing, every BOOTP
    field, and the options (with option 52's sname/file contents merged).
    """

    def __init__(self, data: bytes) -> None:
        self.frame = data
        self.eth_dst = data[0:6]
        ihl = (data[14] & 0x0F) * 4
        ip = data[14:14 + ihl]
        self.ip_total = struct.unpack("!H", ip[2:4])[0]
        self.ip_src = str(ipaddress.IPv4Address(ip[12:16]))
        self.ip_dst = str(ipaddress.IPv4Address(ip[16:20]))
        udp = data[14 + ihl:]
        self.sport, self.dport, udp_length = struct.unpack("!HHH", udp[:6])
        self.payload = payload = udp[8:udp_length]
        self.udp_payload_size = len(payload)
        (self.op, self.htype, self.hlen, self.hops, self.xid, self.secs, self.flags) = struct.unpack(
            "!BBBBIHH", payload[:12])
        self.ciaddr, self.yiaddr, self.siaddr, self.giaddr = (
            str(ipaddress.IPv4Address(payload[i:i + 4])) for i in (12, 16, 20, 24))
        self.chaddr = payload[28:44]
        self.sname, self.file = payload[44:108], payload[108:236]
        if payload[236:240] != MAGIC_COOKIE:
            raise ValueError(f"no magic cookie: {payload.hex()}")
        self.options: dict[int, bytes] = {}
        self.has_end = _walk(payload[240:], self.options)
        overload = self.options.get(52, b"\0")[0]
        if overload & 1:
            _walk(self.file, self.options)
        if overload & 2:
            _walk(self.sname, self.options)

    @property
    def message_type(self) -> int | None:
        value = self.options.get(53)
        return value[0] if value else None

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & 0x8000)

    def fields(self) -> dict:
        """
        Everything that is compared between servers, as plain values.
        """
        return {
            "eth_dst": self.eth_dst.hex(":"), "ip_src": self.ip_src, "ip_dst": self.ip_dst,
            "sport": self.sport, "dport": self.dport, "size": self.udp_payload_size,
            "op": self.op, "htype": self.htype, "hlen": self.hlen, "hops": self.hops, "xid": self.xid,
            "flags": self.flags, "ciaddr": self.ciaddr, "yiaddr": self.yiaddr, "siaddr": self.siaddr,
            "giaddr": self.giaddr, "chaddr": self.chaddr.hex(),
            "options": {code: value.hex() for code, value in sorted(self.options.items())},
        }

    def __repr__(self) -> str:
        return f"Reply({self.fields()!r})"


# ---------------------------------------------------------------------------
# Sending and capturing at the client end

_EXCHANGE = r"""
import json, select, socket, sys, time
args = json.loads(sys.argv[1])
# Something listens on 67 and 68, so replies to our addresses draw no ICMP.
holders = []
for port in (67, 68):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        u.bind(("0.0.0.0", port)); holders.append(u)
    except OSError:
        u.close()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind((args["device"], 0))
for h in args["frames"]:
    s.send(bytes.fromhex(h))
deadline = time.monotonic() + args["window"]
xids = set(args["xids"])
got = []
while True:
    left = deadline - time.monotonic()
    if left <= 0 or (args["enough"] and len(got) >= args["enough"]):
        break
    if not select.select([s], [], [], left)[0]:
        continue
    data, address = s.recvfrom(65535)
    if address[2] == socket.PACKET_OUTGOING or len(data) < 14 + 20 + 8 + 240 or data[23] != 17:
        continue
    ihl = (data[14] & 15) * 4
    if int.from_bytes(data[14 + ihl:16 + ihl], "big") != 67:
        continue
    xid = int.from_bytes(data[14 + ihl + 12:14 + ihl + 16], "big")
    if xid in xids:
        got.append(data.hex())
print(json.dumps(got))
"""


def exchange(ns: Namespace, frames: list[bytes], xids: Iterable[int], window: float = 1.5,
             enough: int = 0, device: str = "cli0") -> list[Reply]:
    """
    From C{ns}: send C{frames} on C{device}, then capture every frame from
    UDP port 67 whose BOOTP xid is one of C{xids}, for C{window} seconds or
    until C{enough} have come (0: the whole window, for scenarios where
    silence is the answer).
    """
    args = json.dumps({"frames": [f.hex() for f in frames], "xids": list(xids), "window": window,
                       "enough": enough, "device": device})
    result = ns.run([sys.executable, "-c", _EXCHANGE, args], check=False, timeout=window + 30)
    if result.returncode != 0:
        raise RuntimeError(f"exchange in {ns.name} failed: {result.stderr.strip()}")
    return [Reply(bytes.fromhex(h)) for h in json.loads(result.stdout)]


def interface_mac(ns: Namespace, ifname: str) -> bytes:
    return bytes.fromhex(ns.run(["cat", f"/sys/class/net/{ifname}/address"]).stdout.strip().replace(":", ""))


def wait_serving(peer: Peer, net: Network, timeout: float = 20.0) -> None:
    """
    Until the server OFFERs to a probe DISCOVER (a listening socket alone
    says nothing about a raw-socket server being ready).

    @raise RuntimeError: with the server's log when it exits or never does.
    """
    mac = bytes.fromhex("02ff000000") + bytes([sum(peer.name.encode()) & 0xFF])
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        xid = 0x7E570000 + attempt
        replies = exchange(peer.pair.client, [frame(bootp(DISCOVER, mac, xid, broadcast=True), mac)], [xid],
                           window=0.5, enough=1)
        if replies:
            return
        if not peer.alive():
            raise RuntimeError(f"{peer.name} exited with {peer.process.returncode}:\n{peer.log()}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{peer.name} did not answer a DISCOVER within {timeout} s:\n{peer.log()}")
