"""
Ingest with C{apply_to_interface = true}, end to end: our daemon under
twistd in a namespace, with [netlink] and [ingest] on an ipc:// socket;
real nanocat pushes leases; what lands on the interface is read back with
C{ip}. The attack (issue 16, item 2b) put multicast, broadcast, loopback
and 0.0.0.0 addresses, a 0.0.0.0 gateway, an attacker's default route and
MTU 68 on a managed interface. A good lease first shows that applying
works; then each hostile one is refused (logged with its reason) and the
interface keeps what the good one set.

Reference: a DHCP client given the same values by a server. Debian's
dhclient-script ignores an MTU of 576 and below, and no client puts a
multicast or 0.0.0.0 address on an interface.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import pytest

from tests.integration.conftest import wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair
from tests.unit.test_ingest_layout import build

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def lease(address: str, netmask: str = "255.255.0.0", gateway: str = "10.77.0.1", mtu: int | None = 1400) -> bytes:
    fields = {"addressAssigned": 1, "address": address, "netmask": netmask, "gateway": gateway,
              "ifname": "cli0", "leaseTime": 600, "dhcpState": "bound"}
    if mtu is not None:
        fields.update(mtuAssigned=1, mtuSize=mtu)
    return build("x86_64", 0, "cli0", fields)


def push(url: str, directory: str, name: str, message: bytes) -> None:
    path = os.path.join(directory, f"{name}.bin")
    with open(path, "wb") as f:
        f.write(message)
    subprocess.run(["timeout", "10", "nanocat", "--push", "--connect", url, "--file", path],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=15)


def interface_state(ns) -> dict:
    addresses = json.loads(ns.run(["ip", "-j", "addr", "show", "dev", "cli0"]).stdout)[0]
    routes = json.loads(ns.run(["ip", "-j", "-4", "route", "show", "dev", "cli0"]).stdout)
    return {
        "addresses": sorted(f"{a['local']}/{a['prefixlen']}" for a in addresses.get("addr_info", [])
                            if a.get("family") == "inet"),
        "mtu": addresses["mtu"],
        "default": sorted(r.get("gateway", "") for r in routes if r.get("dst") == "default"),
    }


def test_hostile_leases_refused_good_one_applied(daemons):
    require_root()
    require_programs("nanocat", "ip")
    socket_dir = tempfile.mkdtemp(prefix="dhcpsuite-apply-")
    try:
        with VethPair(prefix="ing") as pair:
            path = os.path.join(socket_dir, "ingest.sock")
            url = f"ipc://{path}"
            daemon = daemons.start(pair.client, {
                "netlink": {},
                "ingest": {"endpoint": url, "interfaces": ["cli0"], "apply_to_interface": True},
            }, wait=False)
            wait_until(lambda: os.path.exists(path) or daemon.process.poll() is not None, 20, "the ingest socket")
            assert daemon.process.poll() is None, daemon.output()

            push(url, socket_dir, "good", lease("10.77.5.5"))
            good = {"addresses": ["10.77.5.5/16"], "mtu": 1400, "default": ["10.77.0.1"]}
            wait_until(lambda: interface_state(pair.client) == good, 10, "the good lease applied")

            hostile = {
                "address-not-unicast": [lease("224.0.0.1", "255.255.255.0", "224.0.0.2"),
                                        lease("127.0.0.2", "255.0.0.0", "127.0.0.1"),
                                        lease("10.77.255.255"), lease("0.0.0.0", "255.255.255.0", "0.0.0.1")],
                "gateway-not-unicast": [lease("10.77.5.6", gateway="0.0.0.0")],
                "gateway-not-on-link": [lease("10.77.5.7", gateway="192.0.2.1")],
                "mtu-too-small": [lease("10.77.5.8", mtu=68)],
            }
            for reason, messages in hostile.items():
                for index, message in enumerate(messages):
                    push(url, socket_dir, f"{reason}-{index}", message)
            for reason, messages in hostile.items():
                wait_until(lambda: daemon.output().count(f"({reason}:") >= len(messages), 10,
                      f"{len(messages)} refusals for {reason}")
            assert interface_state(pair.client) == good
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
