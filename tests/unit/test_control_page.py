"""
The status pages' parts: durations, usage bars, the exchanges chart and its
ring buffer, client transitions, the lease index, and the pages built from
them, with hostile values from the network.

For comparison, ISC dhcpd has no status page (C{dhcp-lease-list} prints its
lease file); Kea's Stork shows pool use as bars and a lease search by
address, MAC, client id or hostname; dnsmasq has none. Here all of it is
server-rendered HTML with no script.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import re
import time
import xml.etree.ElementTree as ET
from ipaddress import IPv4Address, IPv4Network

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from dhcpsuite.client.core.machine import State, StateChanged
from dhcpsuite.config import parse_config_text
from dhcpsuite.control import charts, page, views
from dhcpsuite.control.activity import MINUTES, Exchange, ExchangeRates, TransitionLog, exchange_totals
from dhcpsuite.control.config import ControlConfig
from dhcpsuite.control.leaseindex import LeaseIndex
from dhcpsuite.control.web import SECURITY_HEADERS, make_site
from dhcpsuite.daemon import Daemon
from dhcpsuite.hexbytes import mac_text
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.service import ServerService

NOW = 1_800_000_000.0
HOSTILE = "<script>alert(1)</script>\x1b[2J\r\nforged-row\u202e"
CONFIG = """
[server]
lease_store = "memory"
[[server.subnet]]
subnet = "10.0.0.0/16"
interface = "lan0"
pool = ["10.0.0.10-10.0.0.19", "10.0.1.0-10.0.255.254"]
[[server.subnet.reservation]]
mac = "02:00:00:00:00:aa"
address = "10.0.0.5"
hostname = "printer"
[[server.subnet.reservation]]
client_id = "01:02:00:00:00:00:bb"
address = "10.0.0.6"
[control]
"""


def mac(n: int) -> bytes:
    return bytes([2, 0]) + n.to_bytes(4, "big")


def lease(address: str, n: int, hostname: str = "", state: LeaseState = LeaseState.BOUND, expires: float = NOW + 3599) -> Lease:
    return Lease(IPv4Address(address), state, b"\x01" + mac(n), mac(n), expires, hostname, NOW)


class FakeAgent:
    def __init__(self) -> None:
        self.observers: list = []


class FakeClient:
    """
    The surface the page reads of the client service.
    """

    def __init__(self, state: str = "BOUND") -> None:
        self.manager = type("Manager", (), {"agents": {"wan0": FakeAgent()}})()
        self.state = state

    def agents_json(self) -> list[dict]:
        return [{"interface": "wan0", "state": self.state, "address": "192.0.2.7/24", "server": "192.0.2.1",
                 "verified": True, "next_timer": "t1", "next_timer_in": 1805.0}]

    def health(self) -> dict:
        return {"ok": True, "interfaces": {"wan0": {"state": self.state, "running": True, "drops": {}}}}


def make(store: MemoryLeaseStore | None = None):
    config = parse_config_text(CONFIG)
    clock = Clock()
    clock.advance(NOW)
    store = store if store is not None else MemoryLeaseStore()
    server = ServerService(config.section("server"), "/nonexistent", reactor=clock, store=store)
    daemon = Daemon(config, started=NOW - 3 * 3600 - 125, server=server)
    site = make_site(daemon, ControlConfig(), reactor=clock)
    return daemon, site, clock


def get(site, path: str, args: dict | None = None) -> tuple[int, dict, str]:
    request = DummyRequest([p.encode() for p in path.strip("/").split("/")] if path.strip("/") else [])
    request.method = b"GET"
    request.content = io.BytesIO(b"")
    request.args = {k.encode(): [v.encode()] for k, v in (args or {}).items()}
    result = site.resource.render(request)
    assert result is not NOT_DONE_YET
    request.write(result)
    request.finish()
    headers = {k.decode().lower(): v[-1].decode() for k, v in request.responseHeaders.getAllRawHeaders()}
    return request.responseCode or 200, headers, b"".join(request.written).decode()


class DurationTests(SynchronousTestCase):
    def test_durations(self) -> None:
        cases = {0: "0 s", 59.9: "59 s", 60: "1 min", 3599: "59 min", 3600: "1 h", 3720: "1 h 2 min",
                 3 * 3600 + 125: "3 h 2 min", 86400: "1 d", 2 * 86400 + 5 * 3600 + 59: "2 d 5 h", -5: "0 s"}
        self.assertEqual({s: views.duration(s) for s in cases}, cases)

    def test_lease_time_by_state(self) -> None:
        self.assertEqual(views.lease_time({"active": True, "expires": NOW + 3599, "state": "bound"}, NOW), "59 min left")
        self.assertEqual(views.lease_time({"active": False, "expires": NOW - 7200, "state": "released"}, NOW), "released 2 h ago")
        self.assertEqual(views.lease_time({"active": False, "expires": NOW - 90, "state": "bound"}, NOW), "expired 1 min ago")
        self.assertEqual(views.lease_time({"active": True, "expires": None, "state": "bound"}, NOW), "never expires")

    def test_readable_never_a_repr(self) -> None:
        self.assertEqual(views.readable({"counters": {"messages": 0}, "ok": True, "none": None}), "counters: messages: 0, none: —, ok: yes")
        self.assertEqual(views.readable(False), "no")
        self.assertEqual(views.readable(["lan0", "lan1"]), "lan0, lan1")
        self.assertEqual(views.readable(0.25), "0.25")
        self.assertEqual(views.readable("a\x1bb"), r"a\x1bb")


class BarTests(SynchronousTestCase):
    def test_steps(self) -> None:
        cases = {(0, 100): 0, (1, 10000): 2, (50, 100): 50, (33, 100): 34, (9999, 10000): 98, (100, 100): 100, (5, 0): 0}
        self.assertEqual({k: charts.bar_steps(*k) for k in cases}, cases)

    def test_every_width_has_a_rule(self) -> None:
        css = charts.bar_css()
        for used in range(0, 1001, 7):
            self.assertIn(f".w{charts.bar_steps(used, 1000)}{{", css)

    def test_bar_markup(self) -> None:
        bar = charts.usage_bar(96, 100, "pool <x>")
        self.assertIn('class="fill full w96"', bar)
        self.assertIn("96 of 100 in use (96 %)", bar)
        self.assertIn("pool &lt;x&gt;", bar)
        self.assertNotIn("style=", bar)
        self.assertIn("fill warn", charts.usage_bar(80, 100, "p"))
        self.assertIn("fill fine", charts.usage_bar(1, 3, "p"))


class ChartTests(SynchronousTestCase):
    def test_chart_geometry(self) -> None:
        series = [(0, 0, 0, 0)] * 59 + [(37, 30, 2, 5)]
        svg = charts.exchanges_chart(series, [("offer", "offers"), ("ack", "acks"), ("nak", "naks"), ("drop", "drops")], "t <&>")
        root = ET.fromstring(svg)
        ns = "{http://www.w3.org/2000/svg}"
        lines = root.findall(f"{ns}polyline")
        self.assertEqual([l.get("class") for l in lines], ["line line-drop", "line line-nak", "line line-ack", "line line-offer"])
        points = [tuple(map(float, p.split(","))) for p in lines[-1].get("points").split()]
        self.assertEqual(len(points), 60)
        # The y axis goes to 40 (four steps of 10) for a peak of 37.
        labels = [t.text for t in root.findall(f"{ns}text")]
        self.assertEqual(labels[:5], ["0", "10", "20", "30", "40"])
        self.assertEqual(labels[-1], "now")
        bottom, top = charts.HEIGHT - charts.BOTTOM, charts.TOP
        self.assertEqual(points[0], (charts.LEFT, bottom))
        self.assertAlmostEqual(points[-1][1], bottom - (bottom - top) * 37 / 40, places=1)
        self.assertEqual(points[-1][0], charts.WIDTH - charts.RIGHT)
        self.assertEqual(root.find(f"{ns}title").text, "t <&>")
        self.assertNotIn("style=", svg)

    def test_empty_chart_has_a_scale(self) -> None:
        svg = charts.exchanges_chart([(0, 0, 0, 0)] * 60, [("offer", "offers")], "t")
        self.assertIn(">4</text>", svg)


class ExchangeRateTests(SynchronousTestCase):
    def test_totals_from_counters(self) -> None:
        counters = {"offer": 3, "ack": 2, "ack:rapid-commit": 1, "nak:unknown-binding": 4, "drop:truncated": 5,
                    "drop:rate-limited": 1, "received:discover": 9, "acknowledged": 100, "sent": 7}
        self.assertEqual(exchange_totals(counters), (3, 3, 4, 6))
        self.assertEqual([e.value for e in Exchange], ["offer", "ack", "nak", "drop"])

    def test_per_minute_buckets(self) -> None:
        rates = ExchangeRates()
        start = 60 * 1000
        rates.sample(start + 5, (10, 10, 0, 0))  # the baseline: nothing before it is counted
        rates.sample(start + 15, (12, 11, 0, 1))
        rates.sample(start + 65, (20, 19, 1, 1))
        rates.sample(start + 75, (3, 2, 0, 0))  # a reset: counted from zero
        series = rates.series(start + 80)
        self.assertEqual(len(series), MINUTES)
        self.assertEqual(series[-2:], [(2, 1, 0, 1), (11, 10, 1, 0)])
        self.assertEqual(set(series[:-2]), {(0, 0, 0, 0)})
        # An hour on, the old minutes have left the ring.
        rates.sample(start + 60 * 61, (4, 2, 0, 0))
        series = rates.series(start + 60 * 61)
        self.assertEqual(series[-1], (1, 0, 0, 0))
        self.assertEqual(set(series[:-1]), {(0, 0, 0, 0)})

    def test_fixed_memory_and_clock_steps_back(self) -> None:
        rates = ExchangeRates()
        total = 0
        for minute in range(5000):
            total += minute % 7
            rates.sample(minute * 60.0, (total, 0, 0, 0))
        self.assertEqual((len(rates._stamps), len(rates._counts)), (MINUTES, MINUTES))
        self.assertEqual([row[0] for row in rates.series(4999 * 60.0)], [m % 7 for m in range(4940, 5000)])
        # The clock set back an hour: the sample goes under the latest minute.
        rates.sample(3999 * 60.0, (total + 5, 0, 0, 0))
        self.assertEqual(rates.series(3999 * 60.0)[-1][0], 4999 % 7 + 5)

    def test_site_samples_while_listening(self) -> None:
        daemon, site, clock = make()
        daemon.server.counters.update({"offer": 1})
        site.doStart()
        for second in range(0, 300, 10):
            daemon.server.counters["offer"] += 6
            daemon.server.counters["drop:truncated"] += 1
            clock.advance(10)
        site.doStop()
        series = site.page.activity.rates.series(clock.seconds())
        self.assertEqual(sum(r[0] for r in series), 6 * 30)
        self.assertEqual(sum(r[3] for r in series), 30)
        self.assertEqual(max(r[0] for r in series), 36)
        self.assertEqual(clock.getDelayedCalls(), [])


class TransitionTests(SynchronousTestCase):
    def test_agents_followed_newest_first_and_bounded(self) -> None:
        clock = Clock()
        clock.advance(NOW)
        log = TransitionLog(clock.seconds, kept=3)
        agent = FakeAgent()
        log.attach({"wan0": agent})
        log.attach({"wan0": agent})
        self.assertEqual(len(agent.observers), 1)
        steps = [(State.STOPPED, State.INIT), (State.INIT, State.SELECTING), (State.SELECTING, State.REQUESTING), (State.REQUESTING, State.BOUND)]
        for old, new in steps:
            clock.advance(2)
            for observer in agent.observers:
                observer(StateChanged(old, new, f"to {new.value}"))
        recent = log.recent("wan0")
        self.assertEqual([(t.old, t.new, t.at) for t in recent], [("REQUESTING", "BOUND", NOW + 8), ("SELECTING", "REQUESTING", NOW + 6), ("INIT", "SELECTING", NOW + 4)])
        log.detach()
        self.assertEqual(agent.observers, [])


class LeaseIndexTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = MemoryLeaseStore()
        self.store.put(lease("10.0.0.10", 1, "Johns-iPhone"))
        self.store.put(lease("10.0.1.7", 2, "printer"))
        self.index = LeaseIndex(self.store)
        self.store.put(lease("10.0.3.9", 3, "johns-laptop", LeaseState.RELEASED, NOW - 100))
        self.store.put(lease("10.0.3.200", 0xABCDEF, "NAS"))

    def found(self, query: str) -> list[str]:
        return [str(l.address) for l in self.index.search(query, 0, 100).leases]

    def test_queries(self) -> None:
        cases = {
            "": ["10.0.0.10", "10.0.1.7", "10.0.3.9", "10.0.3.200"],
            "10.0.1.7": ["10.0.1.7"],
            "10.0.3.0/24": ["10.0.3.9", "10.0.3.200"],
            "10.0.3": ["10.0.3.9", "10.0.3.200"],
            "10.0.3.": ["10.0.3.9", "10.0.3.200"],
            "02:00:00:ab:cd:ef": ["10.0.3.200"],
            "02-00-00-AB-CD-EF": ["10.0.3.200"],
            "0200.00ab.cdef": ["10.0.3.200"],
            "02:00:00:00": ["10.0.0.10", "10.0.1.7", "10.0.3.9"],
            "iphone": ["10.0.0.10"],
            "JOHNS": ["10.0.0.10", "10.0.3.9"],
            "johns-l": ["10.0.3.9"],
            "nas": ["10.0.3.200"],
            "nothing": [],
            "10.0.9.9": [],
        }
        self.assertEqual({q: self.found(q) for q in cases}, cases)

    def test_follows_the_store(self) -> None:
        self.store.put(lease("10.0.0.10", 1, "renamed"))
        self.store.remove(IPv4Address("10.0.1.7"))
        self.store.put(lease("10.0.1.7", 9, "printer"))
        self.assertEqual(self.found("iphone"), [])
        self.assertEqual(self.found("renamed"), ["10.0.0.10"])
        self.assertEqual(self.found("02:00:00:00:00:09"), ["10.0.1.7"])
        self.assertEqual(self.found("02:00:00:00:00:02"), [])
        self.index.close()
        self.store.put(lease("10.0.9.9", 5, "late"))
        self.assertEqual(self.found("late"), [])

    def test_paging(self) -> None:
        result = self.index.search("", 1, 2)
        self.assertEqual((result.total, [str(l.address) for l in result.leases]), (4, ["10.0.1.7", "10.0.3.9"]))

    def test_same_answers_as_a_scan(self) -> None:
        """
        Random puts, renames and removes: the index answers what a scan of
        every lease answers.
        """
        from dhcpsuite.control import leaseindex

        # Catch-ups on overflow too, not only before a search.
        self.patch(leaseindex, "FLUSH_AT", 50)
        rng = random.Random(7)
        words = ["ap", "tv", "Johns-iPhone", "printer", "", "ap-2", "x\x1by"]
        for _ in range(3000):
            address = IPv4Address("10.0.0.0") + rng.randrange(300)
            if rng.random() < 0.2:
                self.store.remove(address)
            else:
                self.store.put(lease(str(address), rng.randrange(40), rng.choice(words)))
        every = list(self.store.leases())

        def scan(q: str) -> list[str]:
            q = q.lower()
            net = IPv4Network(q, strict=False) if q[0].isdigit() and q.count(".") == 3 else None
            hits = [
                l for l in every
                if (net is not None and l.address in net)
                or mac_text(l.mac).replace(":", "").startswith(q.replace(":", ""))
                or any(k.startswith(q) for k in [l.hostname.lower()] + re.split(r"[^0-9a-z]+", l.hostname.lower()) if k)
            ]
            return [str(l.address) for l in sorted(hits, key=lambda l: int(l.address))]

        for q in ["ap", "johns", "iphone", "x", "printer", "10.0.0.0/30", "10.0.1.0/24", "02:00:00:00:00:1", "0200000000"]:
            self.assertEqual(self.found(q) if len(self.found(q)) < 100 else [str(l.address) for l in self.index.search(q, 0, 1000).leases], scan(q), q)
        self.assertEqual(len(self.index), len(every))


class PageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.daemon, self.site, self.clock = make()
        store = self.daemon.server.store
        store.put(lease("10.0.0.10", 1, HOSTILE))
        store.put(lease("10.0.0.11", 2, "tv", LeaseState.RELEASED, NOW - 600))
        store.put(lease("10.0.0.5", 0xAA, "printer", expires=NOW + 3 * 3600 + 130))
        for n in range(120):
            store.put(lease(str(IPv4Address("10.0.1.0") + n), 100 + n, f"host-{n}"))

    def test_overview(self) -> None:
        self.daemon.client = FakeClient()
        self.site.page.activity.transitions.attach(self.daemon.client.manager.agents)
        for observer in self.daemon.client.manager.agents["wan0"].observers:
            observer(StateChanged(State.REQUESTING, State.BOUND, "ACK from 192.0.2.1"))
        self.clock.advance(130)
        code, headers, html = get(self.site, "")
        self.assertEqual(code, 200)
        self.assertIn("up 3 h 4 min", html)
        self.assertIn('class="fill fine w10"', html)  # 10.0.0.10, one of ten
        self.assertIn("120 of 65279 in use (0.2 %)", html)
        self.assertIn('<svg class="chart"', html)
        self.assertIn("REQUESTING → BOUND", html)
        self.assertIn("2 min ago (ACK from 192.0.2.1)", html)
        self.assertIn("t1 in 30 min", html)
        self.assertIn("<dt>store</dt><dd>memory</dd>", html)
        self.assertNotRegex(html, r"True|False|\{'|None")
        # Reservations, with what each is doing now.
        section = html.split('id="reservations"')[1].split("</section>")[0]
        self.assertIn("printer", section)
        self.assertIn("bound, 3 h left", section)
        self.assertIn("01:02:00:00:00:00:bb", section)
        self.assertIn("not in use", section)

    def test_hostile_hostname_escaped(self) -> None:
        """
        dhcpd's and Kea's lease listings print a hostname as sent; here
        markup is escaped and control characters are shown as escapes.
        """
        code, headers, html = get(self.site, "leases", {"q": "10.0.0.10"})
        self.assertEqual(code, 200)
        self.assertIn(r"&lt;script&gt;alert(1)&lt;/script&gt;\x1b[2J\x0d\x0aforged-row\u202e", html)
        self.assertNotIn("<script", html)
        for raw in "\x1b\r\u202e":
            self.assertNotIn(raw, html)
        self.assertEqual(html.count("\n"), page._STYLE.count("\n"))
        # The search box echoes a hostile query escaped too.
        code, headers, html = get(self.site, "leases", {"q": '"><script>x</script>\x1b'})
        self.assertIn('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;\\x1b"', html)
        self.assertNotIn("<script", html)

    def test_hostile_wan_lease_fields_escaped(self) -> None:
        """
        Ingested leases come from plugins on the host, their fields from
        the WAN server: shown escaped like hostnames.
        """
        from dhcpsuite.client.core.lease import Lease as ClientLease
        from dhcpsuite.client.testing import reply_to
        from dhcpsuite.dhcp4.constants import MessageType
        from dhcpsuite.dhcp4.packet import Message
        from dhcpsuite.leases.registry import LeaseRegistry

        registry = LeaseRegistry(now=lambda: NOW - 300)
        ack = reply_to(Message(op=1, xid=1, chaddr=bytes(6)), MessageType.ACK, yiaddr="192.0.2.7", lease_time=600)
        registry.set_lease("erouter0", 4, ClientLease.from_ack(ack, 0.0, NOW), HOSTILE)
        self.daemon.registry = registry
        code, headers, html = get(self.site, "")
        section = html.split('id="ingest"')[1].split("</section>")[0]
        self.assertIn(r"&lt;script&gt;alert(1)&lt;/script&gt;\x1b[2J\x0d\x0aforged-row\u202e", section)
        self.assertIn("192.0.2.7", section)
        self.assertIn("5 min ago", section)
        self.assertNotIn("<script", html)

    def test_leases_page_search_and_pages(self) -> None:
        code, headers, html = get(self.site, "leases")
        self.assertIn("Leases in address order: 1–50 of 123", html)
        self.assertNotIn("http-equiv='refresh'", html)
        self.assertIn('<form class="search" method="get" action="/leases"', html)
        self.assertIn('href="/leases?page=2">next ›', html)
        code, headers, html = get(self.site, "leases", {"q": "host-1", "page": "2"})
        # host-1 and host-10..19 and host-100..119: 31 matches, 50 a page.
        self.assertIn("matching <code>host-1</code>: 1–31 of 31", html)
        code, headers, html = get(self.site, "leases", {"q": "10.0.1.0/24", "page": "3"})
        self.assertIn("101–120 of 120", html)
        self.assertIn('href="/leases?q=10.0.1.0%2F24&amp;page=2">‹ previous', html)
        self.assertIn("59 min left", html)
        code, headers, html = get(self.site, "leases", {"q": "tv"})
        self.assertIn("released 10 min ago", html)
        code, _, body = get(self.site, "leases", {"page": "x"})
        self.assertEqual((code, body), (400, '{\n "error": "page must be a number, not \'x\'"\n}\n'))
        code, _, body = get(self.site, "leases", {"q": "a" * 300})
        self.assertEqual(code, 400)

    def test_lease_index_only_while_leases_are_searched(self) -> None:
        """
        The index costs ~160 bytes a lease: it is not built when the site
        starts nor for the overview (which counts the store itself), but at
        the first lease page; kept current while the pages are used, and
        dropped INDEX_IDLE_SECONDS after the last one.
        """
        store = self.daemon.server.store
        self.site.startFactory()
        self.addCleanup(self.site.stopFactory)
        self.assertIn("123 leases in the store", get(self.site, "")[2])
        self.assertIsNone(self.site.page._index)
        # The pool usage the overview shows follows the store; nothing else.
        observers = len(store._observers)
        self.assertIn("1–50 of 123", get(self.site, "leases")[2])
        self.assertIsNotNone(self.site.page._index)
        self.assertEqual(len(store._observers), observers + 1)
        store.put(lease("10.0.2.1", 999, "late"))
        self.clock.advance(page.INDEX_IDLE_SECONDS - 60)
        self.assertIn("1–1 of 1", get(self.site, "leases", {"q": "late"})[2])
        self.clock.advance(page.INDEX_IDLE_SECONDS - 60)
        self.assertIsNotNone(self.site.page._index)
        self.clock.advance(120)
        self.assertIsNone(self.site.page._index)
        self.assertEqual(len(store._observers), observers)
        self.assertIn("1–50 of 124", get(self.site, "leases")[2])

    def test_only_the_hashed_style_no_script_no_external_asset(self) -> None:
        for path, args in (("", {}), ("leases", {"q": "host"})):
            code, headers, html = get(self.site, path, args)
            styles = re.findall(r"<style>(.*?)</style>", html, re.S)
            self.assertEqual(len(styles), 1)
            digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
            self.assertIn(f"style-src 'sha256-{digest}'", headers["content-security-policy"])
            self.assertIn("form-action 'self'", headers["content-security-policy"])
            self.assertNotRegex(html, r"(?i)<script|style=|\son[a-z]+=|src=|<link|@import|url\(")
            self.assertEqual(re.findall(r"https?://[^\"' ]+", html), ["http://www.w3.org/2000/svg"] * (path == ""))
        self.assertEqual(dict((k.decode(), v.decode()) for k, v in SECURITY_HEADERS)["content-security-policy"], headers["content-security-policy"])

    def test_no_scan_per_request(self) -> None:
        """
        After the index is built (once per store), a page reads only the
        leases it shows: the store's every-lease iterator is not called.
        """
        store = self.daemon.server.store
        get(self.site, "leases")
        get(self.site, "")  # the server's pool counts are built by one scan too
        scans = []
        original = store.leases
        self.patch(store, "leases", lambda: scans.append(1) or original())
        for path, args in (("", {}), ("leases", {}), ("leases", {"q": "host-11"}), ("leases", {"page": "3"})):
            get(self.site, path, args)
        self.assertEqual(scans, [])


class ScaleTests(SynchronousTestCase):
    def test_fifty_thousand_leases(self) -> None:
        """
        50,000 leases in a memory store: build the index once, then time
        the overview and the lease pages (printed; the bound is generous
        for a shared CI machine, the figures are in the report).
        """
        store = MemoryLeaseStore()
        base = int(IPv4Address("10.0.1.0"))
        for n in range(50_000):
            store.put(lease(str(IPv4Address(base + n)), n, f"host-{n}-{'tv' if n % 10 == 0 else 'pc'}"))
        daemon, site, clock = make(store)
        started = time.perf_counter()
        site.page.lease_index()
        built = time.perf_counter() - started
        started = time.perf_counter()
        get(site, "")
        first = time.perf_counter() - started
        timings = {}
        for name, path, args in (
            ("overview", "", {}),
            ("leases page 1", "leases", {}),
            ("leases page 700", "leases", {"page": "700"}),
            ("search address", "leases", {"q": "10.0.100.7"}),
            ("search /16", "leases", {"q": "10.0.0.0/16"}),
            ("search MAC", "leases", {"q": "02:00:00:00:9c:3f"}),
            ("search hostname word (5,000 hits)", "leases", {"q": "tv"}),
        ):
            started = time.perf_counter()
            code, _, html = get(site, path, args)
            timings[name] = time.perf_counter() - started
            self.assertEqual(code, 200, html)
        self.assertIn("1–50 of 5000", get(site, "leases", {"q": "tv"})[2])
        self.assertIn("02:00:00:00:9c:3f", get(site, "leases", {"q": "02:00:00:00:9c:3f"})[2])
        print(f"\nindex build {built * 1000:.0f} ms; first overview (the server counts its pools) {first * 1000:.0f} ms; " + "; ".join(f"{k} {v * 1000:.1f} ms" for k, v in timings.items()))
        self.assertLess(max(timings.values()), 0.5, timings)


class RealClientTests(SynchronousTestCase):
    """
    The page follows the real client service's agents (the same set-up as
    test_client_service): transitions appear as they happen, with their time.
    """

    from tests.unit.test_client_service import ServiceTests as _Service

    setUp = _Service.setUp
    tearDown = _Service.tearDown
    sysfs = _Service.sysfs

    def test_transitions_on_the_page(self) -> None:
        from tests.unit.test_client_service import link
        from dhcpsuite.netlink.events import LinkAdded

        config = parse_config_text("[control]\n")
        daemon = Daemon(config, started=self.reactor.seconds(), client=self.service)
        status = page.StatusPage(daemon, self.reactor)
        self.reactor.advance(125)
        self.netlink.emit(LinkAdded(link()))
        self.reactor.advance(61)
        html = status.overview()
        section = html.split('id="clients"')[1].split("</section>")[0]
        row = next(r for r in section.split("<tr>") if r.startswith("<td>wan0</td>"))
        self.assertIn("<strong>SELECTING</strong>", row)
        self.assertRegex(row, r"INIT → SELECTING <span class='muted'>1 min ago \([^)]*\)</span>")
        self.assertRegex(row, r"STOPPED → INIT <span class='muted'>1 min ago")
        # wan1 started before the page followed it: only what came after.
        self.assertNotIn("STOPPED → INIT", section.split("<td>wan1</td>")[1].split("</tr>")[0])
        self.assertNotRegex(html, r"True|False|\{'|None")
        status.activity.transitions.detach()
        self.assertEqual([o for a in self.service.manager.agents.values() for o in a.observers], [])
