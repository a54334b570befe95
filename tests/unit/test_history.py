"""
The lease history: which event a lease change is (derive), who held an
address at an instant and the bindings as intervals (query), the SQLite
storage written behind by its thread, the recorder following a real
ServerCore, and the API's and ctl's answers.

Kea's legal-log hook (libdhcp_legal_log) writes one line per ACK (new or
renewed) and per release/decline with the address, the duration, the
MAC, the client-id, giaddr and option 82's circuit-id and remote-id; these
tests hold the history to that content, and to answering "who had it at T".
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from ipaddress import IPv4Address

from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.config import ConfigError, parse_config_text
from dhcpsuite.control import api, cli
from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.dhcp4.options import encode_relay_agent_info
from dhcpsuite.history.config import HistoryConfig
from dhcpsuite.history.events import HistoryEvent, HistoryRecord, RequestContext, derive, request_context
from dhcpsuite.history.query import binding_at, intervals, parse_time
from dhcpsuite.history.recorder import HistoryRecorder, QueryError
from dhcpsuite.history.sqlite import SQLiteHistory
from dhcpsuite.history.times import TimeError
from dhcpsuite.interfaces import ILeaseHistory
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.decide import ServerCore
from tests.unit.test_lease_stores import ThreadCallReactor
from tests.unit.test_server_decide import CONFIG, SERVER, ip, mac, request

T0 = 1_800_000_000.0
A = IPv4Address("10.0.0.5")
MAC1, MAC2 = mac(1), mac(2)
KEY1, KEY2 = b"\x01" + MAC1, b"\x01" + MAC2


def bound(key: bytes = KEY1, m: bytes = MAC1, expires: float = T0 + 600, updated: float = T0, hostname: str = "") -> Lease:
    return Lease(A, LeaseState.BOUND, key, m, expires, hostname, updated)


def rec(event: HistoryEvent, time: float, m: bytes = MAC1, lease_end: float | None = None) -> HistoryRecord:
    return HistoryRecord(time=time, address=A, event=event, mac=m, lease_end=lease_end)


class DeriveTests(SynchronousTestCase):
    def test_new_binding_is_an_ack_with_its_lease_end(self) -> None:
        record = derive(None, bound(hostname="laptop"), T0, server="srv1")
        self.assertEqual(
            (record.event, record.address, record.mac, record.lease_end, record.hostname, record.server),
            (HistoryEvent.ACK, A, MAC1, T0 + 600, "laptop", "srv1"),
        )
        # The client sent no option 61: its key is only htype + chaddr.
        self.assertEqual(record.client_id, b"")

    def test_same_client_again_is_a_renew(self) -> None:
        record = derive(bound(), bound(expires=T0 + 900, updated=T0 + 300), T0 + 300)
        self.assertEqual((record.event, record.lease_end), (HistoryEvent.RENEW, T0 + 900))

    def test_after_its_lease_lapsed_it_is_a_new_binding(self) -> None:
        self.assertEqual(derive(bound(), bound(expires=T0 + 2000), T0 + 600).event, HistoryEvent.ACK)

    def test_another_client_on_an_expired_address_is_an_ack(self) -> None:
        expired = Lease(A, LeaseState.EXPIRED, KEY1, MAC1, T0, "", T0)
        record = derive(expired, bound(KEY2, MAC2), T0 + 10)
        self.assertEqual((record.event, record.mac), (HistoryEvent.ACK, MAC2))

    def test_release_expire_decline_revoke(self) -> None:
        old = bound(hostname="laptop")
        released = derive(old, Lease(A, LeaseState.RELEASED, KEY1, MAC1, T0 + 5, "laptop", T0 + 5), T0 + 5)
        expired = derive(old, Lease(A, LeaseState.EXPIRED, KEY1, MAC1, T0 + 600, "laptop", T0 + 601), T0 + 601)
        declined = derive(old, Lease(A, LeaseState.DECLINED, b"", MAC1, T0 + 305, "", T0 + 5), T0 + 5)
        revoked = derive(old, None, T0 + 5)
        self.assertEqual(
            [(r.event, r.mac, r.hostname, r.lease_end) for r in (released, expired, declined, revoked)],
            [
                (HistoryEvent.RELEASE, MAC1, "laptop", None),
                (HistoryEvent.EXPIRE, MAC1, "laptop", None),
                (HistoryEvent.DECLINE, MAC1, "laptop", None),
                (HistoryEvent.REVOKE, MAC1, "laptop", None),
            ],
        )

    def test_changes_of_no_binding_are_not_recorded(self) -> None:
        offered = Lease(A, LeaseState.OFFERED, KEY1, MAC1, T0 + 10, "", T0)
        declined = Lease(A, LeaseState.DECLINED, b"", MAC1, T0 + 300, "", T0)
        self.assertIsNone(derive(None, offered, T0))
        self.assertIsNone(derive(offered, attrs_evolve(offered, state=LeaseState.EXPIRED), T0 + 10))
        self.assertIsNone(derive(offered, None, T0 + 1))
        # A probation ending (or the quarantine cap ending it) binds nobody.
        self.assertIsNone(derive(declined, attrs_evolve(declined, state=LeaseState.EXPIRED), T0 + 300))

    def test_offers_only_when_asked(self) -> None:
        offered = Lease(A, LeaseState.OFFERED, KEY1, MAC1, T0 + 10, "", T0)
        self.assertEqual(derive(None, offered, T0, offers=True).event, HistoryEvent.OFFER)
        # A repeated DISCOVER re-holding the same offer is not a new one.
        self.assertIsNone(derive(offered, offered, T0 + 1, offers=True))

    def test_request_context_relay_and_option_82(self) -> None:
        relay = encode_relay_agent_info([(1, b"eth0/1:100"), (2, b"\x00\x11\x22\x33\x44\x55")])
        message = request(
            MessageType.REQUEST, 1, giaddr=IPv4Address("192.168.5.254"),
            options={Option.RELAY_AGENT_INFO: relay, Option.CLIENT_ID: b"\xff\x01\x02"},
        )
        context = request_context(message, IPv4Address("192.168.5.1"))
        record = derive(None, bound(key=b"\xff\x01\x02"), T0, context)
        self.assertEqual(
            (record.giaddr, record.circuit_id, record.remote_id, record.client_id, record.server_id),
            (IPv4Address("192.168.5.254"), b"eth0/1:100", b"\x00\x11\x22\x33\x44\x55", b"\xff\x01\x02", IPv4Address("192.168.5.1")),
        )
        direct = request_context(request(MessageType.REQUEST, 1), SERVER)
        self.assertEqual((direct.giaddr, direct.circuit_id, direct.remote_id), (None, b"", b""))


def attrs_evolve(lease: Lease, **changes) -> Lease:
    import attrs

    return attrs.evolve(lease, **changes)


class BindingAtTests(SynchronousTestCase):
    """
    dhcpd's leases file answers "who at T" only for the last binding of an
    address, Kea's legal log not at all without grep and arithmetic: this is
    the rule both would need, stated once.
    """

    history = [
        rec(HistoryEvent.ACK, T0, MAC1, T0 + 600),
        rec(HistoryEvent.RENEW, T0 + 300, MAC1, T0 + 900),
        rec(HistoryEvent.RELEASE, T0 + 700, MAC1),
        rec(HistoryEvent.ACK, T0 + 1000, MAC2, T0 + 1600),
        rec(HistoryEvent.EXPIRE, T0 + 1650, MAC2),
        rec(HistoryEvent.ACK, T0 + 2000, MAC1, T0 + 2600),
    ]

    def holder(self, at: float) -> bytes | None:
        record = binding_at(self.history, at)
        return None if record is None else record.mac

    def test_each_interval(self) -> None:
        self.assertEqual(
            [self.holder(T0 + s) for s in (-1, 0, 100, 650, 699, 700, 800, 1000, 1599, 1600, 1700, 2000, 2599, 2600)],
            [None, MAC1, MAC1, MAC1, MAC1, None, None, MAC2, MAC2, None, None, MAC1, MAC1, None],
        )

    def test_renew_extends_past_the_first_lease_end(self) -> None:
        # T0+650 is after the ack's lease end but within the renewal's.
        self.assertEqual(binding_at(self.history, T0 + 650).event, HistoryEvent.RENEW)

    def test_expire_recorded_late_still_ends_at_the_lease_end(self) -> None:
        # The reclaim sweep noticed at T0+1650; the binding ended at T0+1600.
        self.assertIsNone(self.holder(T0 + 1620))

    def test_infinite_lease(self) -> None:
        self.assertEqual(binding_at([rec(HistoryEvent.ACK, T0, MAC1, None)], T0 + 1e9).mac, MAC1)


class IntervalTests(SynchronousTestCase):
    def test_intervals_and_how_they_ended(self) -> None:
        result = intervals(BindingAtTests.history + [rec(HistoryEvent.REVOKE, T0 + 2100, MAC1)])
        self.assertEqual(
            [(i.mac, i.start - T0, i.end - T0, i.ended_by, i.renewals) for i in result],
            [(MAC1, 0, 700, "release", 1), (MAC2, 1000, 1600, "lease-end", 0), (MAC1, 2000, 2100, "revoke", 0)],
        )

    def test_open_binding_ends_at_its_lease_end(self) -> None:
        [only] = intervals([rec(HistoryEvent.ACK, T0, MAC1, T0 + 600)])
        self.assertEqual((only.end, only.ended_by), (T0 + 600, "lease-end"))


class ParseTimeTests(SynchronousTestCase):
    def test_forms(self) -> None:
        utc = datetime.timezone.utc
        self.assertEqual(parse_time("1800000000"), T0)
        self.assertEqual(parse_time("1800000000.5"), T0 + 0.5)
        self.assertEqual(parse_time("2027-01-15T08:00:00Z"), datetime.datetime(2027, 1, 15, 8, tzinfo=utc).timestamp())
        self.assertEqual(parse_time("2027-01-15T09:00:00+01:00"), datetime.datetime(2027, 1, 15, 8, tzinfo=utc).timestamp())
        plus2 = datetime.timezone(datetime.timedelta(hours=2))
        self.assertEqual(parse_time("2027-01-15 10:00", plus2), datetime.datetime(2027, 1, 15, 8, tzinfo=utc).timestamp())

    def test_malformed(self) -> None:
        for text in ("yesterday", "2027-13-01", "nan", "inf", ""):
            with self.subTest(text=text):
                self.assertRaises(TimeError, parse_time, text)


class StorageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)
        self.reactor = ThreadCallReactor()
        self.storage = SQLiteHistory(os.path.join(self.directory, "h.sqlite3"), reactor=self.reactor, max_pending=100)
        self.addCleanup(lambda: self.storage._closing or self.reactor.run_until(self.storage.close()))

    def test_provides_the_interface(self) -> None:
        self.assertTrue(verifyObject(ILeaseHistory, self.storage))

    def test_select_by_address_and_by_mac_back_to_a_binding_still_held(self) -> None:
        other = IPv4Address("10.0.0.6")
        for r in [
            rec(HistoryEvent.ACK, T0, MAC1, T0 + 86400),
            HistoryRecord(time=T0 + 5, address=other, event=HistoryEvent.ACK, mac=MAC2, lease_end=T0 + 60, hostname="x\x1b[2J"),
            rec(HistoryEvent.RENEW, T0 + 43200, MAC1, T0 + 129600),
            rec(HistoryEvent.RELEASE, T0 + 50000, MAC1),
        ]:
            self.assertTrue(self.storage.append(r))
        [(records, truncated)] = self.reactor.run_until(self.storage.select(A, T0 + 40000, T0 + 60000, 100))
        # From the ack (before the range, still held at its start) on.
        self.assertEqual([r.event for r in records], [HistoryEvent.ACK, HistoryEvent.RENEW, HistoryEvent.RELEASE])
        self.assertFalse(truncated)
        [(records, _)] = self.reactor.run_until(self.storage.select(MAC2, T0, T0 + 10, 100))
        self.assertEqual([(r.address, r.hostname) for r in records], [(other, "x\x1b[2J")])
        # Past the ack's lease end, within the renewal's: from the ack still.
        [(records, _)] = self.reactor.run_until(self.storage.select(A, T0 + 90000, T0 + 90000, 100))
        self.assertEqual([r.event for r in records], [HistoryEvent.ACK, HistoryEvent.RENEW, HistoryEvent.RELEASE])
        [(records, truncated)] = self.reactor.run_until(self.storage.select(A, T0, T0 + 60000, 2))
        self.assertEqual((len(records), truncated), (2, True))

    def test_round_trip_of_every_field(self) -> None:
        record = HistoryRecord(
            time=T0, address=A, event=HistoryEvent.ACK, mac=MAC1, client_id=b"\xff\x01", hostname="h",
            giaddr=IPv4Address("192.168.5.254"), circuit_id=b"c", remote_id=b"r", lease_end=None, server="s",
            server_id=IPv4Address("10.0.0.1"),
        )
        self.storage.append(record)
        [(records, _)] = self.reactor.run_until(self.storage.select(A, T0, T0, 10))
        self.assertEqual(records, [record])

    def test_a_lease_with_a_lone_surrogate_in_its_hostname_is_written(self) -> None:
        """
        A lease's hostname reaches the history as it is (L{derive}); SQLite
        refuses a lone surrogate, which would fail this batch and every one
        after it. The lease holds storable text, so the record is written.
        """
        record = derive(None, bound(hostname="odd\udcff\x00name"), T0, server="s")
        self.assertTrue(self.storage.append(record))
        self.assertTrue(self.storage.append(rec(HistoryEvent.RELEASE, T0 + 5)))
        [(records, _)] = self.reactor.run_until(self.storage.select(A, T0, T0 + 10, 10))
        self.assertEqual([(r.event, r.hostname) for r in records],
                         [(HistoryEvent.ACK, "odd\ufffdname"), (HistoryEvent.RELEASE, "")])

    def test_full_queue_drops_and_counts_never_blocks(self) -> None:
        import threading
        import time

        gate = threading.Event()
        self.addCleanup(gate.set)
        busy = self.storage._call(lambda connection: gate.wait(10))
        deadline = time.monotonic() + 10
        while self.storage._queue and time.monotonic() < deadline:
            time.sleep(0.01)
        # The writer is stuck (a slow disk): appends still return at once.
        started = time.monotonic()
        results = [self.storage.append(rec(HistoryEvent.ACK, T0 + i, MAC1, T0 + i + 1)) for i in range(150)]
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual((results.count(True), results.count(False)), (100, 50))
        self.assertEqual((self.storage.counters["recorded"], self.storage.counters["dropped"]), (100, 50))
        gate.set()
        self.reactor.run_until(busy)
        [(records, _)] = self.reactor.run_until(self.storage.select(A, T0, T0 + 200, 1000))
        self.assertEqual(len(records), 100)

    def test_prune_deletes_only_older_records(self) -> None:
        for i in range(10):
            self.storage.append(rec(HistoryEvent.ACK, T0 + i, MAC1, T0 + i + 0.5))
        [deleted] = self.reactor.run_until(self.storage.prune(T0 + 4))
        self.assertEqual(deleted, 4)
        [(records, _)] = self.reactor.run_until(self.storage.select(A, T0, T0 + 10, 100))
        self.assertEqual([r.time - T0 for r in records], [4, 5, 6, 7, 8, 9])

    def test_file_is_private(self) -> None:
        self.assertEqual(os.stat(self.storage.path).st_mode & 0o777, 0o640)


class ListStorage:
    """
    An L{ILeaseHistory} in a list, answering at once.
    """

    def __init__(self) -> None:
        import collections

        self.records: list[HistoryRecord] = []
        self.counters = collections.Counter()

    def append(self, record):
        self.records.append(record)
        return True

    def select(self, key, start, end, limit):
        field = "address" if isinstance(key, IPv4Address) else "mac"
        rows = [r for r in self.records if getattr(r, field) == key and r.time <= end]
        return succeed((rows[:limit], len(rows) > limit))

    def prune(self, before):
        kept = [r for r in self.records if r.time >= before]
        deleted = len(self.records) - len(kept)
        self.records = kept
        return succeed(deleted)

    def close(self):
        return succeed(None)


class RecorderTests(SynchronousTestCase):
    """
    The recorder following the store of a real ServerCore: the history sees
    what the decisions did, with the request's relay and option 82.
    """

    def setUp(self) -> None:
        config = parse_config_text(CONFIG.format(authoritative="true", max_leases=0, trusted_relays="[]", max_bindings_per_mac=4))
        self.store = MemoryLeaseStore()
        self.now = [T0]
        self.core = ServerCore(config.section("server"), self.store, {"lan0": SERVER}, clock=lambda: self.now[0])
        self.storage = ListStorage()
        self.recorder = HistoryRecorder(
            HistoryConfig(enabled=True, server_name="srv1"), self.storage, lambda: self.now[0],
            lambda: None if self.core.request is None else request_context(*self.core.request),
        )
        self.recorder.follow(self.store)

    def exchange(self, kind: int, n: int, **fields):
        return self.core.handle(request(kind, n, **fields), "lan0" if not fields.get("giaddr") else None, self.now[0])

    def bind(self, n: int, **fields) -> IPv4Address:
        offer = self.exchange(MessageType.DISCOVER, n, **fields)
        address = offer.reply.message.yiaddr
        options = dict(fields.pop("options", {}))
        server = SERVER if not fields.get("giaddr") else IPv4Address("192.168.5.1")
        options.update({Option.SERVER_ID: server.packed, Option.REQUESTED_ADDRESS: address.packed})
        self.assertEqual(self.exchange(MessageType.REQUEST, n, options=options, **fields).event, "ack")
        return address

    def test_bind_renew_release_rebind(self) -> None:
        address = self.bind(1)
        self.now[0] += 300
        renew = self.exchange(MessageType.REQUEST, 1, ciaddr=address)
        self.assertEqual(renew.event, "ack")
        self.now[0] += 10
        self.exchange(MessageType.RELEASE, 1, ciaddr=address, options={Option.SERVER_ID: SERVER.packed})
        self.assertEqual(
            [(r.event, r.mac, r.time - T0, r.server, r.server_id) for r in self.storage.records],
            [(HistoryEvent.ACK, MAC1, 0, "srv1", SERVER), (HistoryEvent.RENEW, MAC1, 300, "srv1", SERVER),
             (HistoryEvent.RELEASE, MAC1, 310, "srv1", SERVER)],
        )
        # Offers are off by default: the DISCOVER left no record.

    def test_an_offer_costs_no_request_context(self) -> None:
        asked = []
        self.recorder.request = lambda: asked.append(1)
        self.exchange(MessageType.DISCOVER, 1)
        self.assertEqual((asked, self.storage.records), ([], []))

    def test_relayed_request_records_giaddr_and_option_82(self) -> None:
        relay = encode_relay_agent_info([(1, b"port7"), (2, b"cpe-42")])
        address = self.bind(3, giaddr=IPv4Address("192.168.5.254"), options={Option.RELAY_AGENT_INFO: relay})
        [ack] = self.storage.records
        self.assertEqual(
            (ack.address, ack.giaddr, ack.circuit_id, ack.remote_id, ack.server_id),
            (address, IPv4Address("192.168.5.254"), b"port7", b"cpe-42", IPv4Address("192.168.5.1")),
        )

    def test_expire_by_reclaim_and_revoke_have_no_request(self) -> None:
        first = self.bind(1)
        second = self.bind(2)
        self.now[0] += 10_000
        self.core.reclaim(self.now[0])
        self.store.remove(second)
        events = [(r.event, r.address, r.giaddr) for r in self.storage.records[2:]]
        self.assertIn((HistoryEvent.EXPIRE, first, None), events)
        self.assertIn((HistoryEvent.EXPIRE, second, None), events)
        # The second's binding had already expired: removing it revokes nothing.
        self.assertEqual(len(events), 2)

    def test_decline(self) -> None:
        address = self.bind(1)
        self.exchange(MessageType.DECLINE, 1, options={Option.SERVER_ID: SERVER.packed, Option.REQUESTED_ADDRESS: address.packed})
        self.assertEqual(self.storage.records[-1].event, HistoryEvent.DECLINE)

    def test_prune_keeps_the_retention(self) -> None:
        self.bind(1)
        self.now[0] += 366 * 86400
        self.bind(2)
        self.recorder.prune()
        self.assertEqual([r.mac for r in self.storage.records], [MAC2])
        self.assertEqual(self.storage.counters["pruned"], 1)

    def test_lookup_at_and_range(self) -> None:
        address = self.bind(1)
        self.now[0] += 10
        self.exchange(MessageType.RELEASE, 1, ciaddr=address, options={Option.SERVER_ID: SERVER.packed})
        self.now[0] += 10
        self.assertEqual(self.bind(2, options={Option.REQUESTED_ADDRESS: address.packed}), address)
        answers = []
        self.recorder.lookup({"key": str(address), "at": repr(T0 + 5)}).addCallback(answers.append)
        self.recorder.lookup({"key": str(address), "at": repr(T0 + 15)}).addCallback(answers.append)
        self.recorder.lookup({"key": str(address), "at": repr(T0 + 20)}).addCallback(answers.append)
        self.recorder.lookup({"key": "02:00:00:00:00:01", "from": repr(T0 - 60), "to": repr(T0 + 60)}).addCallback(answers.append)
        self.assertEqual([[b["mac"] for b in a["bindings"]] for a in answers[:3]], [["02:00:00:00:00:01"], [], ["02:00:00:00:00:02"]])
        self.assertEqual([(i["address"], i["ended_by"]) for i in answers[3]["intervals"]], [(str(address), "release")])
        self.assertEqual([e["event"] for e in answers[3]["events"]], ["ack", "release"])

    def test_bad_questions_name_the_parameter(self) -> None:
        cases = {
            "key": {"key": "10.0.0.300"},
            "at": {"key": "10.0.0.5", "at": "14:02 on the 1st"},
            "from": {"key": "10.0.0.5", "from": "x"},
            "to": {"key": "10.0.0.5", "from": "0", "to": repr(T0)},
        }
        for parameter, query in cases.items():
            with self.subTest(parameter=parameter):
                e = self.assertRaises(QueryError, self.recorder.lookup, query)
                self.assertEqual(e.parameter, parameter)
        self.assertEqual(self.assertRaises(QueryError, self.recorder.lookup, {"key": "x"}).parameter, "key")

    def test_mac_spellings(self) -> None:
        from dhcpsuite.history.recorder import _key

        for text in ("02:00:5e:10:20:30", "02-00-5E-10-20-30", "0200.5e10.2030", "02005e102030"):
            with self.subTest(text=text):
                self.assertEqual(_key(text), bytes.fromhex("02005e102030"))
        for text in ("02:00:5e:10:20", "02:00:5e:10:20:3g", "0:2:0:0:5e:10:20:30"):
            with self.subTest(text=text):
                self.assertRaises(QueryError, _key, text)


class ApiAndCtlTests(SynchronousTestCase):
    def test_api_maps_a_bad_question_to_400(self) -> None:
        test = RecorderTests("test_decline")
        test.setUp()

        class Server:
            store = test.store
            history = test.recorder

        class Daemon:
            server = Server()

        e = self.assertRaises(api.ApiError, api.history, Daemon(), {"key": "10.0.0.5", "from": "0", "to": repr(T0)})
        self.assertEqual(e.status, 400)
        self.assertIn("to", e.message.split(":")[0])
        Server.history = None
        self.assertEqual(self.assertRaises(api.ApiError, api.history, Daemon(), {"key": "10.0.0.5"}).status, 404)

    def test_ctl_escapes_network_values(self) -> None:
        binding = {
            "address": "10.0.0.5", "mac": "02:00:00:00:00:01", "hostname": "evil\x1b[2J\nforged row", "client_id": "",
            "time": T0, "lease_end": T0 + 600, "relay": None, "circuit_id": "1b:5b", "remote_id": "", "server": "s",
            "event": "ack",
        }
        shown = cli._show_history({"key": "10.0.0.5", "at": T0, "bindings": [binding], "truncated": False})
        self.assertNotIn("\x1b", shown)
        self.assertIn("evil\\x1b[2J\\x0aforged row", shown)
        interval = dict(binding, start=T0, end=None, ended_by="", renewals=0)
        shown = cli._show_history({"key": "10.0.0.5", "from": T0, "to": T0 + 1, "intervals": [interval], "events": [binding], "truncated": True})
        self.assertNotIn("\x1b", shown)
        self.assertIn("never", shown)

    def test_ctl_refuses_a_malformed_time_before_asking(self) -> None:
        args = cli.build_parser().parse_args(["history", "10.0.0.5", "--at", "noon-ish"])
        e = self.assertRaises(cli.CtlError, cli._history_query, args)
        self.assertIn("--at", str(e))
        args = cli.build_parser().parse_args(["history", "10.0.0.5", "--from", "2027-01-15T08:00Z", "--to", "1800000000"])
        self.assertEqual(cli._history_query(args), {"key": "10.0.0.5", "from": repr(parse_time("2027-01-15T08:00Z")), "to": repr(T0)})


class ConfigTests(SynchronousTestCase):
    def test_defaults_and_keys(self) -> None:
        base = CONFIG.format(authoritative="true", max_leases=0, trusted_relays="[]", max_bindings_per_mac=4)
        self.assertEqual(parse_config_text(base).section("server").history, HistoryConfig())
        text = base + "\n[server.history]\nenabled = true\nretention_days = 30\noffers = true\nserver_name = \"a\"\n"
        history = parse_config_text(text).section("server").history
        self.assertEqual((history.enabled, history.retention_days, history.offers, history.server_name), (True, 30, True, "a"))
        for bad, key in (("retention_days = 0", "retention_days"), ("retension_days = 3", "retension_days")):
            with self.subTest(bad=bad):
                e = self.assertRaises(ConfigError, parse_config_text, base + f"\n[server.history]\n{bad}\n")
                self.assertIn(f"server.history.{key}", str(e))


class ServiceTests(SynchronousTestCase):
    """
    The server service opens the history beside its store when configured,
    follows reloads that turn it on or off, and closes it on stop.
    """

    def setUp(self) -> None:
        from tests.unit.test_server_service import CONFIG as SERVICE_CONFIG, FakeReactor

        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)
        self.reactor = FakeReactor()
        self.plain = parse_config_text(SERVICE_CONFIG).section("server")
        self.with_history = parse_config_text(SERVICE_CONFIG + "[server.history]\nenabled = true\nserver_name = \"a\"\n").section("server")

    def service(self, config):
        import socket as socket_module

        from dhcpsuite.server.service import ServerService

        def open_socket(ifname: str, port: int):
            sock = socket_module.socket(socket_module.AF_INET, socket_module.SOCK_DGRAM)
            self.addCleanup(sock.close)
            sock.bind(("127.0.0.1", 0))
            return sock

        return ServerService(config, self.directory, reactor=self.reactor, store=MemoryLeaseStore(),
                             open_socket=open_socket, interface_address=lambda ifname: IPv4Address("10.0.0.1"), port=6767)

    def test_on_at_start_then_off_by_reload(self) -> None:
        service = self.service(self.with_history)
        service.startService()
        history = service.history
        self.assertIsNotNone(history)
        self.assertTrue(os.path.exists(os.path.join(self.directory, "lease-history.sqlite3")))
        service.store.put(Lease(IPv4Address("10.0.0.10"), LeaseState.BOUND, KEY1, MAC1, self.reactor.seconds() + 600))
        self.assertEqual(history.counters["recorded"], 1)
        service.prepare_reconfigure(self.plain)()
        self.assertIsNone(service.history)
        # The old one no longer follows the store.
        service.store.put(Lease(IPv4Address("10.0.0.11"), LeaseState.BOUND, KEY2, MAC2, self.reactor.seconds() + 600))
        self.assertEqual(history.counters["recorded"], 1)
        self.reactor.run_until(service.stopService())

    def test_off_then_on_by_reload_and_closed_on_stop(self) -> None:
        service = self.service(self.plain)
        service.startService()
        self.assertIsNone(service.history)
        service.prepare_reconfigure(self.with_history)()
        history = service.history
        self.assertEqual(history.server_name, "a")
        self.reactor.run_until(service.stopService())
        self.assertIsNone(service.history)
        self.assertFalse(history.storage._thread.is_alive())


class FlakyBackend:
    """
    A backend in a list whose first C{failures} writes fail as a database
    that went away does.
    """

    transient_errors = (OSError,)
    description = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: list[HistoryRecord] = []
        self.connects = 0

    def connect(self):
        self.connects += 1
        return object()

    def write(self, connection, batch) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("connection lost")
        self.rows.extend(batch)

    def select(self, connection, key, start, end, limit):
        return list(self.rows), False

    def prune(self, connection, before, batch):
        return 0

    def close(self, connection) -> None:
        pass


class WriteBehindTests(SynchronousTestCase):
    def test_failed_write_is_retried_on_a_new_connection_and_counted(self) -> None:
        from dhcpsuite.history import writebehind

        self.patch(writebehind, "GATHER", 0.0)
        backend = FlakyBackend(failures=2)
        reactor = ThreadCallReactor()
        storage = writebehind.WriteBehindHistory(backend, reactor=reactor)
        storage.append(rec(HistoryEvent.ACK, T0, MAC1, T0 + 600))
        [(records, _)] = reactor.run_until(storage.select(A, T0, T0, 10))
        self.assertEqual([r.time for r in records], [T0])
        self.assertEqual((storage.counters["write-failed"], storage.counters["written"]), (2, 1))
        # The first connection, then one after each failure.
        self.assertEqual(backend.connects, 3)
        reactor.run_until(storage.close())

    def test_a_history_that_cannot_be_opened_stops_the_start_in_one_line(self) -> None:
        from dhcpsuite.errors import StartupError
        from dhcpsuite.history.recorder import open_history

        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        blocker = os.path.join(directory, "not-a-directory")
        open(blocker, "w").close()
        config = parse_config_text(
            CONFIG.format(authoritative="true", max_leases=0, trusted_relays="[]", max_bindings_per_mac=4)
            + "\n[server.history]\nenabled = true\n"
        ).section("server")
        e = self.assertRaises(StartupError, open_history, config, blocker, Clock(), lambda: None)
        self.assertIn("cannot open the lease history", str(e))
        self.assertNotIn("\n", str(e))
