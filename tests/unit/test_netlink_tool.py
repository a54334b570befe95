"""
C{python -m dhcpsuite.netlink}: monitor and dump over the in-memory netlink
system (the real-kernel run is in tests/integration/test_netlink.py).
"""

from __future__ import annotations

import io
import json
import os

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.netlink.__main__ import run
from dhcpsuite.netlink.constants import RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE
from dhcpsuite.netlink.reader import NetlinkReader
from dhcpsuite.netlink.testing import MemoryNetlinkSystem, load_capture, split_messages

VECTORS = os.path.join(os.path.dirname(__file__), "..", "vectors", "netlink")


def kernel() -> MemoryNetlinkSystem:
    system = MemoryNetlinkSystem()
    for (_, datagrams), kind in zip(load_capture(os.path.join(VECTORS, "dump.hex")), (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE)):
        system.set_dump(kind, [m for d in datagrams for m in split_messages(d) if m[4] not in (2, 3)])
    return system


class ToolTests(SynchronousTestCase):
    def drive(self, clock, system, d, rounds=10):
        for _ in range(rounds):
            clock.advance(0.1)
            for reader in clock.getReaders():
                if isinstance(reader, NetlinkReader) and reader.fileno() >= 0:
                    reader.doRead()
            if d.called:
                return

    def test_dump(self):
        clock, system, out = MemoryReactorClock(), kernel(), io.StringIO()
        d = run(clock, ["dump"], out, system=system)
        self.drive(clock, system, d)
        self.successResultOf(d)
        table = json.loads(out.getvalue())
        self.assertEqual({link["name"] for link in table["links"]}, {"lo", "gv0", "gv1"})
        self.assertIn("192.0.2.10/24", [a["interface"] for a in table["addresses"]])
        self.assertIn({"198.51.100.0/24"}, [{r["destination"]} for r in table["routes"] if r["gateway"]])
        self.assertEqual(system.sockets, {})  # closed
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_monitor_prints_changes_as_json_lines(self):
        clock, system, out = MemoryReactorClock(), kernel(), io.StringIO()
        d = run(clock, ["monitor", "--count", "2"], out, system=system)
        self.drive(clock, system, d, rounds=2)
        self.assertEqual(out.getvalue(), "")  # the initial table is not news
        events = dict(load_capture(os.path.join(VECTORS, "events.hex")))
        for data in events["ip link set gv0 mtu 1400"] + events["ip route add 203.0.113.0/24 dev gv0 table 100"]:
            system.deliver(data)
        self.drive(clock, system, d)
        self.successResultOf(d)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        # The event capture ran with other ifindexes than the dump, so gv0 is new here.
        self.assertEqual([line["event"] for line in lines], ["link_added", "route_added"])
        self.assertEqual((lines[0]["link"]["mtu"], lines[1]["route"]["table"]), (1400, 100))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_monitor_timeout(self):
        clock, system, out = MemoryReactorClock(), kernel(), io.StringIO()
        d = run(clock, ["monitor", "--timeout", "0.5", "--initial"], out, system=system)
        self.drive(clock, system, d)
        self.successResultOf(d)
        self.assertGreater(len(out.getvalue().splitlines()), 5)

    def test_stopping_before_sync_fails_waiters(self):
        reader = NetlinkReader(reactor=MemoryReactorClock(), system=MemoryNetlinkSystem())
        reader.start()
        waiting = reader.when_synced()
        reader.stop()
        self.failureResultOf(waiting, ConnectionDone)
