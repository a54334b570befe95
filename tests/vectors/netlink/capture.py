"""
Capture the golden netlink vectors in this directory from the running kernel.

Run as root from the repository root:

    .venv/bin/python tests/vectors/netlink/capture.py

It creates a namespace of its own (unique name, deleted at the end), opens an
rtnetlink socket inside it bound to the link, IPv4/IPv6 address and route
groups, and for each step runs an C{ip} command and records every datagram
the kernel sent, as one hex line under a C{# step} comment. Kernel-assigned
values (ifindexes, MACs, lifetimes) are whatever the kernel chose that run;
the unit tests assert on the stable ones and compare our decoder with
pyroute2's on every message.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

from dhcpsuite.netlink import encode  # noqa: E402
from dhcpsuite.netlink.constants import (  # noqa: E402
    IFLA_IFNAME, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE, RTM_NEWADDR,
)
from dhcpsuite.netlink.system import MONITOR_GROUPS, open_netlink_socket  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

EVENT_STEPS = [
    "link add gv0 type veth peer name gv1",
    "link set gv0 address 02:00:00:00:00:01",
    "link set gv0 up",
    "link set gv1 up",
    "addr add 192.0.2.10/24 dev gv0",
    "addr add 2001:db8::10/64 dev gv0 nodad",
    "addr change 192.0.2.10/24 dev gv0 valid_lft 3600 preferred_lft 1800",
    "route add 198.51.100.0/24 via 192.0.2.1 dev gv0 metric 50",
    "route add 203.0.113.0/24 dev gv0 table 100",
    "route del 198.51.100.0/24 via 192.0.2.1 dev gv0 metric 50",
    "link set gv1 down",
    "link set gv1 up",
    "link set gv0 mtu 1400",
    "addr del 2001:db8::10/64 dev gv0",
    "addr del 192.0.2.10/24 dev gv0",
    "link set gv0 down",
    "link del gv0",
]


def drain(sock: socket.socket, quiet: float = 0.2) -> list[bytes]:
    out = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], quiet)
        if not ready:
            break
        out.append(sock.recv(1 << 18))
    return out


def write(name: str, sections: list[tuple[str, list[bytes]]]) -> None:
    with open(os.path.join(HERE, name), "w") as f:
        f.write(f"# Captured by tests/vectors/netlink/capture.py on Linux {os.uname().release}\n")
        for comment, datagrams in sections:
            f.write(f"# {comment}\n")
            for data in datagrams:
                f.write(data.hex() + "\n")


def main() -> None:
    ns = f"nlcap{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        def ip(*args: str) -> None:
            subprocess.run(["ip", "-n", ns, *args], check=True)

        for key in ("all", "default"):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.accept_dad=0"], check=True)
        monitor = open_netlink_socket(MONITOR_GROUPS, 1 << 20, ns)
        sections = []
        for step in EVENT_STEPS:
            ip(*step.split())
            time.sleep(0.05)
            sections.append((f"ip {step}", drain(monitor)))
        write("events.hex", sections)

        ip("link", "add", "gv0", "type", "veth", "peer", "name", "gv1")
        ip("link", "set", "gv0", "up")
        ip("link", "set", "gv1", "up")
        ip("addr", "add", "192.0.2.10/24", "dev", "gv0")
        ip("route", "add", "198.51.100.0/24", "via", "192.0.2.1", "metric", "50")
        dumper = open_netlink_socket(0, 1 << 20, ns)
        dumps = []
        for name, kind, body in (
            ("links", RTM_GETLINK, encode.ifinfomsg()),
            ("addresses", RTM_GETADDR, encode.ifaddrmsg(0, 0, 0)),
            ("routes", RTM_GETROUTE, encode.rtmsg(0)),
        ):
            dumper.send(encode.message(kind, NLM_F_REQUEST | NLM_F_DUMP, 7, body))
            dumps.append((f"dump of {name} (seq 7) with gv0 up, 192.0.2.10/24, 198.51.100.0/24 via 192.0.2.1", drain(dumper)))
        write("dump.hex", dumps)

        errors = []
        for comment, request in (
            ("RTM_NEWADDR 192.0.2.99/24 on ifindex 9999 (seq 11): ENODEV",
             encode.message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 11,
                            encode.ifaddrmsg(2, 24, 9999) + encode.attribute(2, bytes([192, 0, 2, 99])))),
            ("RTM_GETLINK by name 'gv0' (seq 12): the link",
             encode.message(RTM_GETLINK, NLM_F_REQUEST, 12, encode.ifinfomsg() + encode.string_attribute(IFLA_IFNAME, "gv0"))),
            ("RTM_GETLINK by name 'nope0' (seq 13): ENODEV",
             encode.message(RTM_GETLINK, NLM_F_REQUEST, 13, encode.ifinfomsg() + encode.string_attribute(IFLA_IFNAME, "nope0"))),
        ):
            dumper.send(request)
            errors.append((comment, drain(dumper)))
        write("replies.hex", errors)
        monitor.close()
        dumper.close()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
