# -*- test-case-name: tests.unit.test_client_service -*-
"""
An interface's hardware address, MTU and carrier from C{/sys/class/net}:
how the client starts an interface that exists before any netlink event
about it has been read (netlink events then keep it up to date).
"""

from __future__ import annotations

import os
from dhcpsuite.hexbytes import parse_hex
from dhcpsuite.records import Record


class LinkState(Record):
    mac: bytes
    mtu: int
    carrier: bool


def mac_bytes(text: str) -> bytes:
    return parse_hex(text)


def read_link(sysfs: str, name: str) -> LinkState | None:
    """
    @return: the link's state, or L{None} when it does not exist (or is
        removed while being read).
    """
    try:
        with open(os.path.join(sysfs, name, "address")) as f:
            mac = mac_bytes(f.read().strip())
        with open(os.path.join(sysfs, name, "mtu")) as f:
            mtu = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return LinkState(mac, mtu, _carrier(os.path.join(sysfs, name, "carrier")))


def _carrier(path: str) -> bool:
    try:
        with open(path) as f:
            return f.read().strip() == "1"
    except OSError:
        return False  # reading carrier of an admin-down link fails with EINVAL
