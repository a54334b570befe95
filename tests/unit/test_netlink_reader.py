"""
The reader against the in-memory netlink system: dumps, notifications,
listeners, overruns and resyncs, with a fake reactor (no sockets, no real
reactor).
"""

from __future__ import annotations

import os

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.interfaces import INetlinkListener
from dhcpsuite.netlink import decode, encode
from dhcpsuite.netlink import events as e
from dhcpsuite.netlink.constants import RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE
from dhcpsuite.netlink.decode import decode_fast
from dhcpsuite.netlink.reader import NetlinkReader
from dhcpsuite.netlink.system import INetlinkSystem, RealNetlinkSystem
from dhcpsuite.netlink.table import DEPARTED_KEPT, InterfaceTable
from dhcpsuite.netlink.testing import MemoryNetlinkSystem, ViewListener, load_capture, split_messages

VECTORS = os.path.join(os.path.dirname(__file__), "..", "vectors", "netlink")
EVENTS = load_capture(os.path.join(VECTORS, "events.hex"))
DUMP = dict(load_capture(os.path.join(VECTORS, "dump.hex")))


def dump_messages(which: str) -> list[bytes]:
    section = next(v for k, v in DUMP.items() if k.startswith(f"dump of {which}"))
    return [m for d in section for m in split_messages(d) if struct_type(m) not in (2, 3)]


def struct_type(message: bytes) -> int:
    return int.from_bytes(message[4:6], "little")


class Raiser:
    def netlink_event(self, event):
        raise RuntimeError("listener bug")


verifyObject(INetlinkSystem, RealNetlinkSystem())
verifyObject(INetlinkSystem, MemoryNetlinkSystem())
verifyObject(INetlinkListener, ViewListener())


class ReaderTestsMixin:
    decoder = "fast"
    # The functions that turn an address or route message into a record.
    record_decoders = ("_address", "_route")

    def setUp(self):
        self.clock = MemoryReactorClock()
        self.system = MemoryNetlinkSystem()
        self.system.set_dump(RTM_GETLINK, dump_messages("links"))
        self.system.set_dump(RTM_GETADDR, dump_messages("addresses"))
        self.system.set_dump(RTM_GETROUTE, dump_messages("routes"))
        self.reader = NetlinkReader(
            reactor=self.clock, system=self.system, resync_min_interval=2.0, decoder=self.decoder,
        )
        self.view = ViewListener()
        self.reader.add_listener(self.view)

    def start(self):
        self.reader.start()
        self.clock.advance(0)
        self.pump()

    def pump(self):
        for _ in range(20):
            if not self.system.sockets.get(self.reader.fileno(), None) or not self.system.sockets[self.reader.fileno()].incoming:
                return
            self.reader.doRead()

    def deliver(self, step: str):
        for data in dict(EVENTS)[step]:
            self.system.deliver(data)
        self.pump()

    def expected_view(self):
        from dhcpsuite.netlink.testing import table_view

        return table_view(self.reader.table)

    def test_start_dumps_links_addresses_routes_in_order(self):
        self.start()
        self.assertEqual([kind for kind, _ in self.system.dump_requests], [RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE])
        self.assertTrue(self.reader.synced)
        self.assertIn(self.reader, self.clock.getReaders())
        names = {link.name for link in self.reader.table.links.values()}
        self.assertEqual(names, {"lo", "gv0", "gv1"})
        self.assertEqual(
            [str(a.interface) for a in self.reader.table.addresses_of("gv0") if a.family == 2], ["192.0.2.10/24"]
        )
        gateways = [r for r in self.reader.table.routes.values() if r.gateway is not None]
        self.assertEqual([(str(r.destination), r.ifname, r.metric) for r in gateways], [("198.51.100.0/24", "gv0", 50)])
        self.assertIsInstance(self.view.events[-1], e.Synced)
        self.assertEqual(self.view.view(), self.expected_view())
        self.assertEqual(self.successResultOf(self.reader.when_synced()), self.reader)

    def test_notifications_follow_the_kernel(self):
        self.system.set_dump(RTM_GETLINK, [])
        self.system.set_dump(RTM_GETADDR, [])
        self.system.set_dump(RTM_GETROUTE, [])
        self.start()
        for step, _ in EVENTS:
            del self.view.events[:]
            self.deliver(step)
            self.assertEqual(self.view.view(), self.expected_view(), step)
            if step == "ip link set gv0 up":
                [changed] = self.view.events
                self.assertIsInstance(changed, e.LinkChanged)
                self.assertEqual((changed.previous.admin_up, changed.link.admin_up), (False, True))
            if step == "ip addr add 192.0.2.10/24 dev gv0":
                self.assertEqual(
                    [type(ev) for ev in self.view.events], [e.AddressAdded, e.RouteAdded, e.RouteAdded, e.RouteAdded]
                )
                self.assertEqual(self.view.events[0].address.ifname, "gv0")
            if step.startswith("ip addr change"):
                # Finite lifetimes clear IFA_F_PERMANENT (0x80): a change.
                [changed] = self.view.events
                self.assertEqual((changed.previous.flags & 0x80, changed.address.flags & 0x80), (0x80, 0))
                [address] = [a for a in self.reader.table.addresses_of("gv0") if a.family == 2]
                self.assertEqual(address.valid_lifetime, 3600)
        self.assertEqual({l.name for l in self.reader.table.links.values()}, set())
        self.assertEqual(self.reader.table.addresses, {})
        self.assertEqual(self.reader.table.routes, {})

    def test_link_down_drops_ipv4_routes_the_kernel_flushes_silently(self):
        self.system.set_dump(RTM_GETLINK, [])
        self.system.set_dump(RTM_GETADDR, [])
        self.system.set_dump(RTM_GETROUTE, [])
        self.start()
        for step, _ in EVENTS:
            if step.startswith("ip route add 203"):
                break
            self.deliver(step)
        gateway_routes = [r for r in self.reader.table.routes_via("gv0") if r.gateway is not None]
        self.assertTrue(gateway_routes)
        self.deliver("ip link set gv0 down")
        self.assertEqual([r for r in self.reader.table.routes_via("gv0") if r.family == 2 and r.scope != 254], [])
        self.assertIn(e.RouteRemoved(gateway_routes[0]), self.view.events)
        # ... and a route re-dump is scheduled to confirm it.
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_raising_listener_is_logged_and_others_still_hear(self):
        self.reader.add_listener(Raiser())
        late = ViewListener()
        self.reader.add_listener(late)
        self.start()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), len(late.events))
        self.assertEqual(late.view(), self.expected_view())

    def test_late_listener_gets_the_table_then_deltas(self):
        self.start()
        late = ViewListener()
        self.reader.add_listener(late)
        self.assertEqual(late.view(), self.expected_view())
        self.assertIsInstance(late.events[0], e.LinkAdded)
        self.deliver("ip addr del 192.0.2.10/24 dev gv0")
        self.assertEqual(late.view(), self.expected_view())
        self.reader.remove_listener(late)
        count = len(late.events)
        self.deliver("ip link set gv0 mtu 1400")
        self.assertEqual(len(late.events), count)

    def test_overrun_resync_emits_every_difference(self):
        self.start()
        before = self.reader.table.link("gv0")
        # While we were overrun, the address and the gateway route went away
        # and gv0's MTU changed.
        self.system.set_dump(RTM_GETADDR, [m for m in dump_messages("addresses") if b"\xc0\x00\x02\x0a" not in m])
        self.system.set_dump(RTM_GETROUTE, [m for m in dump_messages("routes") if b"\xc6\x33\x64\x00" not in m])
        mtu_change = [m for d in dict(EVENTS)["ip link set gv0 mtu 1400"] for m in split_messages(d)]
        links = [m for m in dump_messages("links") if list(decode_fast(m))[0].body.name != "gv0"]
        changed_gv0 = encode.rewrite_header(mtu_change[0], 0, 0)
        changed_gv0 = changed_gv0[:20] + before.ifindex.to_bytes(4, "little") + changed_gv0[24:]
        self.system.set_dump(RTM_GETLINK, links + [changed_gv0])
        del self.view.events[:]
        self.system.overrun()
        self.pump()
        self.assertEqual(self.reader.overruns, 1)
        self.assertEqual(self.view.events, [e.Overrun(1)])
        # Rate limited: the initial dump just ended, so not before min_interval.
        self.clock.advance(1.9)
        self.assertEqual(len(self.system.dump_requests), 3)
        self.clock.advance(0.1)
        self.pump()
        self.assertEqual(len(self.system.dump_requests), 6)
        kinds = [type(ev) for ev in self.view.events]
        self.assertIn(e.LinkChanged, kinds)
        self.assertIn(e.AddressRemoved, kinds)
        self.assertIn(e.RouteRemoved, kinds)
        self.assertIsInstance(self.view.events[-1], e.Resynced)
        self.assertEqual(self.view.events[-1].changes, len(self.view.events) - 2)
        self.assertEqual(self.reader.table.link("gv0").mtu, 1400)
        self.assertEqual([a for a in self.reader.table.addresses_of("gv0") if a.family == 2], [])
        self.assertEqual(self.view.view(), self.expected_view())
        self.assertEqual(self.reader.resyncs, 1)

    def test_overruns_coalesce(self):
        self.start()
        for _ in range(5):
            self.system.overrun()
            self.pump()
        self.clock.advance(2)
        self.pump()
        self.assertEqual(self.reader.overruns, 5)
        self.assertEqual(len(self.system.dump_requests), 6)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_interrupted_dump_is_repeated(self):
        self.reader.start()
        self.clock.advance(0)
        sock = self.system.sockets[self.reader.fileno()]
        # Mark the first link dump reply as interrupted (NLM_F_DUMP_INTR).
        reply = bytearray(sock.incoming.popleft())
        reply[6] |= 0x10
        sock.incoming.appendleft(bytes(reply))
        self.pump()
        self.assertTrue(self.reader.synced)
        self.clock.advance(2)
        self.pump()
        self.assertEqual(len(self.system.dump_requests), 6)

    def test_stop_closes_and_cancels(self):
        self.start()
        self.system.overrun()
        self.pump()
        fd = self.reader.fileno()
        self.reader.stop()
        self.assertEqual(self.system.closed, [fd])
        self.assertEqual(self.reader.fileno(), -1)
        self.assertNotIn(self.reader, self.clock.getReaders())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.reader.stop()  # twice is harmless

    def test_reads_are_bounded(self):
        self.start()
        self.reader.max_reads = 3
        data = dict(EVENTS)["ip link set gv0 mtu 1400"][0]
        for _ in range(5):
            self.system.deliver(data)
        self.reader.doRead()
        self.assertEqual(len(self.system.sockets[self.reader.fileno()].incoming), 2)

    def count_record_decodes(self) -> list:
        calls: list = []
        for name in self.record_decoders:
            original = getattr(decode, name)

            def counting(*args, original=original, name=name):
                calls.append(name)
                return original(*args)

            self.patch(decode, name, counting)
        return calls

    def test_resync_of_an_unchanged_kernel_decodes_no_record_again(self):
        """
        A re-dump repeats every unchanged address and route byte for byte:
        each is recognised by its bytes, not decoded, and nothing changes.
        """
        self.start()
        before = self.expected_view()
        del self.view.events[:]
        decoded = self.count_record_decodes()
        self.system.overrun()
        self.pump()
        self.clock.advance(2)
        self.pump()
        self.assertEqual(len(self.system.dump_requests), 6)
        self.assertEqual(decoded, [])
        self.assertEqual(self.view.events, [e.Overrun(1), e.Resynced(("link", "address", "route"), 0)])
        self.assertEqual(self.expected_view(), before)

    def test_routes_deleted_after_their_address_are_not_decoded(self):
        """
        The kernel sends RTM_DELADDR, then RTM_DELROUTE for the address's
        local, prefix and broadcast routes, which the table has already
        dropped with the address: they repeat the bytes of the RTM_NEWROUTEs
        and are recognised without decoding, and change nothing twice.
        """
        for kind in (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE):
            self.system.set_dump(kind, [])
        self.start()
        step = "ip addr del 192.0.2.10/24 dev gv0"
        for earlier, _ in EVENTS:
            if earlier == step:
                break
            self.deliver(earlier)
        routes = [r for r in self.reader.table.routes_via("gv0") if str(r.source) == "192.0.2.10"]
        self.assertEqual(len(routes), 3)
        del self.view.events[:]
        decoded = self.count_record_decodes()
        self.deliver(step)
        # The address itself was decoded: its lifetimes changed since.
        self.assertEqual(decoded, [self.record_decoders[0]])
        self.assertEqual([type(ev) for ev in self.view.events], [e.AddressRemoved] + [e.RouteRemoved] * len(routes))
        self.assertEqual(self.view.view(), self.expected_view())

    def test_health(self):
        self.start()
        health = self.reader.health()
        self.assertTrue(health["ok"])
        self.assertEqual(health["links"], 3)


class FastDecoderReaderTests(ReaderTestsMixin, SynchronousTestCase):
    decoder = "fast"


class Pyroute2DecoderReaderTests(ReaderTestsMixin, SynchronousTestCase):
    decoder = "pyroute2"
    record_decoders = ("_pyroute2_address", "_pyroute2_route")


class KnownBodiesTests(SynchronousTestCase):
    """
    The table's memory of message bodies (C{known}) holds the records in the
    table and the last L{DEPARTED_KEPT} that left it, no more.
    """

    def address(self, n: int) -> e.Address:
        import ipaddress

        return e.Address(ifindex=3, interface=ipaddress.IPv4Interface((0x0A000001 + (n << 8), 24)))

    def test_bounded_by_the_table_and_the_departed(self):
        table = InterfaceTable()
        for n in range(3 * DEPARTED_KEPT):
            table.put_address(self.address(n), raw=b"body %d" % n)
            if n % 3:
                table.remove_address(self.address(n))
        self.assertEqual(len(table.addresses), DEPARTED_KEPT)
        self.assertEqual(len(table.known), 2 * DEPARTED_KEPT)
        # Every record still in the table is known by its bytes.
        self.assertEqual(table.known[b"body 0"], self.address(0))

    def test_a_changed_record_forgets_its_old_bytes_eventually(self):
        table = InterfaceTable()
        table.put_address(self.address(0), raw=b"first")
        table.put_address(self.address(0), raw=b"second")
        self.assertEqual(table.known[b"second"], self.address(0))
        for n in range(1, DEPARTED_KEPT + 1):
            table.put_address(self.address(n), raw=b"body %d" % n)
            table.remove_address(self.address(n))
        self.assertNotIn(b"first", table.known)
        self.assertIn(b"second", table.known)
        self.assertEqual(len(table.known), DEPARTED_KEPT + 1)
