"""
A server starting with many leases in its store: what it looks at before
its first ACK makes no lease object per stored lease where a look at the
store's records answers (each costs microseconds, at 300,000 leases seconds).
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.dhcp4.packet import Message, decode_message
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases import memory
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.decide import ServerCore
from dhcpsuite.tomltext import toml_document
from tests.unit.test_server_service import server_config

CONFIG = toml_document({"server": {
    "lease_store": "memory",
    "client_rate_limit": {"rate": 0},
    "subnet": [{"subnet": "10.0.0.0/16", "interface": "eth0", "server_address": "10.0.0.1",
                "pool": ["10.0.1.0-10.0.250.250"]}],
}})
NOW = 1_000_000.0
HELD = 2000


def hardware(n: int) -> bytes:
    return b"\x02\x00" + n.to_bytes(4, "big")


class StartTests(SynchronousTestCase):
    def setUp(self) -> None:
        # Every lease made from a stored record is counted.
        self.made = 0
        unpack = memory.unpack

        def counted(record: bytes, *address) -> Lease:
            self.made += 1
            return unpack(record, *address)

        self.patch(memory, "unpack", counted)
        self.store = MemoryLeaseStore()
        first = int(IPv4Address("10.0.1.0"))
        for n in range(HELD):
            # Every tenth one lapsed a minute ago, the rest hold an hour.
            expires = NOW - 60 if n % 10 == 0 else NOW + 3600
            self.store.put(Lease(IPv4Address(first + n), LeaseState.BOUND, b"\x01" + hardware(n), hardware(n), expires))
        # Started two minutes ago, when none had lapsed.
        self.core = ServerCore(server_config(CONFIG), self.store, {"eth0": IPv4Address("10.0.0.1")},
                               clock=lambda: NOW - 120)
        self.made = 0

    def test_reclaim_makes_only_the_lapsed_leases(self) -> None:
        # A lease is made of each lapsed one (unless one is kept from its
        # last write), and of none of the held ones (a look at every lease
        # made one of each).
        self.assertEqual(self.core.reclaim(NOW), HELD // 10)
        self.assertLessEqual(self.made, HELD // 10)
        self.assertEqual(sum(1 for l in self.store.leases() if l.state is LeaseState.EXPIRED), HELD // 10)

    def test_new_client_passes_the_used_addresses_without_reading_them(self) -> None:
        """
        The pool's cursor walks past the HELD used addresses at the first
        new client; it asks the store whether each has a record (Kea's
        iterative allocator does the same walk through its lease index).
        """
        message = Message(op=1, xid=0x4242, chaddr=hardware(HELD + 1) + bytes(10))
        message.options[int(Option.MESSAGE_TYPE)] = bytes((MessageType.DISCOVER,))
        self.core.handle(decode_message(message.to_bytes()), "eth0", NOW)
        offered = self.store.find_by_client(b"\x01" + hardware(HELD + 1))
        self.assertEqual([l.state for l in offered], [LeaseState.OFFERED])
        self.assertLess(self.made, 20)

    def test_start_makes_only_the_declined_leases(self) -> None:
        """
        Starting read every lease as an object (~1.5 s at 300,000); only
        the declined ones are needed as leases, for the quarantine.
        """
        first = int(IPv4Address("10.0.251.0"))
        for n in range(3):
            self.store.put(Lease(IPv4Address(first + n), LeaseState.DECLINED, b"", bytes(6), NOW + 600, updated=NOW - n))
        self.store._recent.clear()
        self.store._older.clear()
        self.made = 0
        core = ServerCore(server_config(CONFIG), self.store, {"eth0": IPv4Address("10.0.0.1")},
                          clock=lambda: NOW - 120)
        self.assertEqual(self.made, 3)
        quarantine = core.engine.subnets[0].quarantine
        self.assertEqual(len(quarantine), 3)

