# -*- test-case-name: tests.unit.test_control_page -*-
"""
The status pages: server-rendered HTML with no script and no external
asset, built from the same functions as the JSON API so the page and the
API never disagree.

  - C{/}: what a router admin looks for first, reloading itself: health,
    pool use as bars, the server's exchanges per minute over the last hour
    (an inline SVG chart), reservations, WAN clients with their last
    transitions, WAN leases, interfaces, and each component's details.
  - C{/leases}: the server's leases, searched by address, network, MAC or
    hostname through a plain GET form and paged, from an index kept beside
    the store (L{LeaseIndex}); it does not reload itself, so a search being
    typed is not lost.

Every value is shown through L{_e}: control characters made visible
(L{printable}), then HTML-escaped, since hostnames, client states and
ingested fields come from the network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import time
import urllib.parse
from ipaddress import IPv4Address
from typing import Any, Iterable, Sequence

from dhcpsuite.control import api, views
from dhcpsuite.control.activity import Activity, Exchange
from dhcpsuite.control.charts import bar_css, exchanges_chart, usage_bar
from dhcpsuite.control.leaseindex import LeaseIndex
from dhcpsuite.daemon import Daemon
from dhcpsuite.hexbytes import mac_text

LEASES_PER_PAGE = 50
# Seconds after the last search before the lease index is dropped.
INDEX_IDLE_SECONDS = 600
# Longest search accepted (a hostname is at most 255 bytes).
MAX_QUERY = 256
# Reservations shown on the overview; the rest are counted.
MAX_RESERVATION_ROWS = 500
TRANSITIONS_SHOWN = 3

_STYLE = (
    """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f6f9}
header{background:#1d2330;color:#fff;padding:.8em 1.5em}header h1{font-size:1.3em;margin:0}
header p{margin:.2em 0 0;color:#c7cfdb}header a{color:#9cc4ff}
main{padding:0 1.5em 1.5em;max-width:1200px}
h2{font-size:1.1em;margin:1.6em 0 .5em;padding-bottom:.2em;border-bottom:1px solid #cfd6e0}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0001}
th,td{padding:.3em .7em;border:1px solid #e1e5eb;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17702a;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#6b7480}
code{font-size:.95em}ul.plain{list-style:none;margin:0;padding:0}ul.plain li{white-space:nowrap}
.usage{display:flex;align-items:center;gap:.7em;min-width:22em}
.track{flex:0 0 14em;height:.9em;background:#e3e7ed;border-radius:3px;overflow:hidden}
.fill{height:100%}.fine{background:#2f8f46}.warn{background:#d98e04}.full{background:#c62828}
.figures{white-space:nowrap;font-variant-numeric:tabular-nums}
.chart{background:#fff;box-shadow:0 1px 2px #0001;max-width:100%;height:auto}
.chart .grid{stroke:#e6e9ee}.chart .tick{stroke:#8a929c}.chart .axis{font-size:11px;fill:#5b636d}
.chart .line{fill:none;stroke-width:2}
.line-offer{stroke:#1f6fd1;stroke-dasharray:7 5}.line-ack{stroke:#2f8f46}.line-nak{stroke:#d98e04}.line-drop{stroke:#c62828}
.legend{display:flex;gap:1.2em;margin:.4em 0;padding:0;list-style:none}
.legend span{display:inline-block;width:1.2em;height:.3em;margin-right:.35em;vertical-align:middle}
.key-offer{background:#1f6fd1}.key-ack{background:#2f8f46}.key-nak{background:#d98e04}.key-drop{background:#c62828}
form.search{margin:.6em 0}form.search input[type=search]{width:24em;padding:.3em}
nav.pages{margin:.6em 0}nav.pages a,nav.pages span{margin-right:1em}
dl.fields{display:grid;grid-template-columns:max-content auto;gap:.1em .8em;margin:0}dl.fields dt{color:#6b7480}dl.fields dd{margin:0}
"""
    + bar_css()
)

# The page's only active content is this inline style; the CSP names it by
# hash, so injected markup could neither style nor script anything.
STYLE_SOURCE = "'sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii") + "'"

_SERIES = tuple(kind.value for kind in Exchange)
_SERIES_NAMES = {"offer": "offers", "ack": "acks", "nak": "naks", "drop": "drops"}


def _e(value: Any) -> str:
    """
    One value as HTML text: control characters visible, markup escaped.
    """
    return html.escape(views.as_text(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str, numeric: Sequence[int] = ()) -> str:
    """
    A table of cells that are already HTML (each built with L{_e}).
    """
    rows = list(rows)
    if not rows:
        return f'<p class="muted">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, section_id: str, content: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{content}</section>'


def _fields(mapping: dict) -> str:
    """
    A component's details as labelled fields, never a repr.
    """
    items = [(k, v) for k, v in mapping.items() if k != "ok"]
    if not items:
        return '<span class="muted">—</span>'
    return '<dl class="fields">' + "".join(
        f"<dt>{html.escape(views.label(k))}</dt><dd>{html.escape(views.readable(v))}</dd>" for k, v in items
    ) + "</dl>"


def _clock_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _try(produce, default):
    try:
        return produce()
    except api.ApiError:
        return default


class StatusPage:
    """
    Renders the pages of one control site, with what they remember between
    requests: the exchange history and client transitions (L{Activity}) and
    the lease index of the server's current store.
    """

    def __init__(self, daemon: Daemon, reactor: Any, refresh: int = 5) -> None:
        self.daemon = daemon
        self.reactor = reactor
        self.refresh = refresh
        self.activity = Activity(daemon, reactor)
        self.activity.listeners.append(self._catch_up)
        self._index: LeaseIndex | None = None
        self._index_used = 0.0

    def start(self) -> None:
        # No lease index yet: it costs ~160 bytes a lease, and most gateways
        # never have their leases searched. The first search builds it.
        self.activity.start()

    def stop(self) -> None:
        self.activity.stop()
        self._drop_index()

    def _catch_up(self) -> None:
        index = self._index
        if index is None:
            return
        if self.reactor.seconds() - self._index_used > INDEX_IDLE_SECONDS:
            self._drop_index()
        else:
            index.flush()

    def _drop_index(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def lease_index(self) -> LeaseIndex | None:
        """
        The index of the server's store, made (one scan) when the leases
        are first searched, and kept current while they are searched again
        within L{INDEX_IDLE_SECONDS} (a scan of 300,000 leases takes about a
        second, too long to repeat for every page of a search); after that
        it is dropped. The server opens a new store on every start: an
        index of another store is dropped too.
        """
        server = self.daemon.server
        store = None if server is None else server.store
        if self._index is not None and self._index.store is not store:
            self._drop_index()
        if self._index is None and store is not None:
            self._index = LeaseIndex(store)
        self._index_used = self.reactor.seconds()
        return self._index

    # ---- the pages ----

    def overview(self) -> str:
        now = self.reactor.seconds()
        self.activity.sample()
        status = api.status(self.daemon, now)
        parts = [self._head(status, now, refresh=True)]
        daemon = self.daemon
        if daemon.server is not None and daemon.server.store is not None:
            parts.append(self._pools())
            parts.append(self._exchanges(now))
            parts.append(self._lease_summary())
            parts.append(self._reservations(now))
        if daemon.client is not None:
            parts.append(self._clients(now))
        if daemon.registry is not None or daemon.ingest is not None:
            parts.append(self._wan_leases(now))
        if daemon.netlink is not None:
            parts.append(self._interfaces())
        parts.append(self._components(status))
        parts.append(self._foot(now))
        return "".join(parts)

    def leases(self, query: dict[str, str]) -> str:
        now = self.reactor.seconds()
        status = api.status(self.daemon, now)
        index = self.lease_index()
        if index is None:
            raise api.ApiError(404, "no DHCPv4 server is configured")
        text = query.get("q", "")
        if len(text) > MAX_QUERY:
            raise api.ApiError(400, f"q must be at most {MAX_QUERY} characters")
        page = _page_number(query.get("page"))
        found = index.search(text, (page - 1) * LEASES_PER_PAGE, LEASES_PER_PAGE)
        pages = max(1, -(-found.total // LEASES_PER_PAGE))
        if page > pages:
            page = pages
            found = index.search(text, (page - 1) * LEASES_PER_PAGE, LEASES_PER_PAGE)
        rows = []
        for lease in found.leases:
            record = api.lease_json(lease, now)
            state = record["state"] + ("" if record["active"] or record["state"] not in ("bound", "offered") else " (lapsed)")
            client_id = bytes.fromhex(record["client_id"]).hex(":")
            rows.append((
                _e(record["address"]), _e(state), f"<code>{_e(record['mac'])}</code>", f"<code>{_e(client_id)}</code>",
                _e(record["hostname"]), _e(views.lease_time(record, now)),
            ))
        first = (page - 1) * LEASES_PER_PAGE + 1
        shown = f"{first}–{first + len(rows) - 1} of {found.total}" if rows else f"0 of {found.total}"
        what = f"matching <code>{_e(text)}</code>" if text else "in address order"
        form = (
            '<form class="search" method="get" action="/leases" role="search">'
            f'<input type="search" name="q" value="{_e(text)}" maxlength="{MAX_QUERY}" '
            'placeholder="address, network, MAC or hostname" aria-label="search leases"> '
            '<button type="submit">Search</button> <a href="/leases">all leases</a></form>'
        )
        body = (
            form
            + f'<p id="lease-count">Leases {what}: {shown}</p>'
            + _table(("address", "state", "MAC", "client id", "hostname", "time"), rows, "no lease matches" if text else "no leases")
            + self._pager(text, page, pages)
        )
        return self._head(status, now, refresh=False, title="leases") + _section("DHCP server leases", "leases", body) + self._foot(now)

    # ---- parts ----

    def _head(self, status: dict, now: float, refresh: bool, title: str = "status") -> str:
        version = _e(status["version"])
        meta = f"<meta http-equiv='refresh' content='{int(self.refresh)}'>" if refresh else ""
        health = f"<span class='{'ok' if status['ok'] else 'bad'}'>{'healthy' if status['ok'] else 'degraded'}</span>"
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"{meta}<title>dhcpsuite {version} — {html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<header><h1>dhcpsuite {version}</h1>"
            f"<p>{health} · up {_e(views.duration(status['uptime']))} · configuration <code>{_e(status['config'])}</code>"
            " · <a href='/'>status</a> · <a href='/leases'>leases</a></p></header><main>"
        )

    def _foot(self, now: float) -> str:
        return (
            f"<p class='muted'>rendered {_e(_clock_time(now))}; JSON at <code>/api/v1/</code>, "
            "metrics at <code>/metrics</code></p></main></body></html>"
        )

    def _pools(self) -> str:
        pools = api.pools(self.daemon)["pools"]
        rows = [(_e(p["subnet"]), _e(p["pool"]), usage_bar(p["active"], p["size"], f"pool {p['pool']}"), _e(p["free"])) for p in pools]
        return _section("Pool use", "pools", _table(("subnet", "pool", "in use", "free"), rows, "no pools", numeric=(3,)))

    def _exchanges(self, now: float) -> str:
        series = self.activity.rates.series(now)
        names = [_SERIES_NAMES[s] for s in _SERIES]
        totals = [sum(row[i] for row in series) for i in range(len(_SERIES))]
        legend = "".join(
            f'<li><span class="key-{kind}"></span>{name}: {total} in the last hour</li>'
            for kind, name, total in zip(_SERIES, names, totals)
        )
        chart = exchanges_chart(series, list(zip(_SERIES, names)), "DHCP exchanges per minute, last 60 minutes: " + ", ".join(f"{t} {n}" for n, t in zip(names, totals)))
        return _section("Exchanges per minute (last hour)", "exchanges", f'<ul class="legend">{legend}</ul>{chart}')

    def _lease_summary(self) -> str:
        count = len(self.daemon.server.store)
        return _section(
            "Leases",
            "lease-summary",
            f"<p>{count} leases in the store (any state). <a href='/leases'>Browse and search them</a> by address, network, MAC or hostname.</p>",
        )

    def _reservations(self, now: float) -> str:
        server = self.daemon.server
        store = server.store
        rows = []
        total = 0
        for subnet in server.config.subnets:
            for reservation in subnet.reservations:
                total += 1
                if len(rows) >= MAX_RESERVATION_ROWS:
                    continue
                mac = mac_text(reservation.mac) if reservation.mac else ""
                rows.append(
                    (
                        _e(subnet.network),
                        _e(reservation.address if reservation.address is not None else "any in pool"),
                        f"<code>{_e(mac)}</code>" if mac else "",
                        f"<code>{_e(reservation.client_id.hex(':'))}</code>" if reservation.client_id else "",
                        _e(reservation.hostname),
                        _e(_reservation_use(reservation, store, now)),
                    )
                )
        more = f"<p class='muted'>and {total - len(rows)} more (see the configuration)</p>" if total > len(rows) else ""
        return _section(
            "Reservations", "reservations",
            _table(("subnet", "address", "MAC", "client id", "hostname", "now"), rows, "no reservations") + more,
        )

    def _clients(self, now: float) -> str:
        clients = _try(lambda: api.clients(self.daemon)["clients"], [])
        rows = []
        for client in clients:
            name = client.get("interface", "")
            timer = client.get("next_timer")
            due = client.get("next_timer_in")
            next_timer = "" if timer is None else f"{views.readable(timer)} in {views.duration(due or 0)}"
            recent = self.activity.transitions.recent(str(name))[:TRANSITIONS_SHOWN]
            transitions = (
                '<ul class="plain">'
                + "".join(
                    f"<li>{_e(t.old)} → {_e(t.new)} <span class='muted'>{_e(views.duration(now - t.at))} ago ({_e(t.cause)})</span></li>"
                    for t in recent
                )
                + "</ul>"
                if recent
                else '<span class="muted">none since the daemon started</span>'
            )
            rows.append(
                (
                    _e(name),
                    f"<strong>{_e(client.get('state'))}</strong>",
                    _e(client.get("address")),
                    _e(client.get("server")),
                    _e(views.readable(client.get("verified"))),
                    _e(next_timer),
                    transitions,
                )
            )
        return _section(
            "WAN clients", "clients",
            _table(("interface", "state", "address", "server", "verified", "next timer", "last transitions"), rows, "no client agents"),
        )

    def _wan_leases(self, now: float) -> str:
        registry = _try(lambda: api.ingest(self.daemon).get("registry", {}), {})
        rows = [
            tuple(_e(c) for c in row)
            for row in views.registry_rows(registry, lambda learned: "" if learned is None else f"{views.duration(now - learned)} ago")
        ]
        return _section(
            "Leases held on this host (WAN)", "ingest",
            _table(("interface", "family", "address", "cause", "learned"), rows, "no leases"),
        )

    def _interfaces(self) -> str:
        interfaces = _try(lambda: api.interfaces(self.daemon)["interfaces"], [])
        rows = [tuple(_e(views.readable(c) if isinstance(c, bool) else c) for c in row) for row in views.interface_rows(interfaces)]
        return _section("Interfaces", "interfaces", _table(views.INTERFACE_COLUMNS, rows, "no interfaces"))

    def _components(self, status: dict) -> str:
        rows = [
            (_e(name), f"<span class='{'ok' if health.get('ok') else 'bad'}'>{'ok' if health.get('ok') else 'not ok'}</span>", _fields(health))
            for name, health in status["components"].items()
        ]
        return _section("Components", "components", _table(("component", "health", "details"), rows, "nothing configured"))

    def _pager(self, text: str, page: int, pages: int) -> str:
        if pages <= 1:
            return ""

        def link(number: int, label: str) -> str:
            target = urllib.parse.urlencode({"q": text, "page": number}) if text else urllib.parse.urlencode({"page": number})
            return f'<a href="/leases?{html.escape(target)}">{label}</a>'

        parts = []
        if page > 1:
            parts += [link(1, "« first"), link(page - 1, "‹ previous")]
        parts.append(f"<span>page {page} of {pages}</span>")
        if page < pages:
            parts += [link(page + 1, "next ›"), link(pages, "last »")]
        return f'<nav class="pages">{"".join(parts)}</nav>'


def _page_number(text: str | None) -> int:
    if not text:
        return 1
    try:
        page = int(text)
    except ValueError:
        raise api.ApiError(400, f"page must be a number, not {views.as_text(text)!r}") from None
    if not 1 <= page <= 1 << 31:
        raise api.ApiError(400, "page must be 1 or more")
    return page


def _reservation_use(reservation: Any, store: Any, now: float) -> str:
    if reservation.address is None:
        return "hostname only"
    lease = store.get(IPv4Address(reservation.address))
    if lease is None or not lease.holds(now):
        return "not in use"
    if reservation.mac is not None and lease.mac != reservation.mac:
        return f"held by {mac_text(lease.mac)}"
    left = "never expires" if lease.expires == float("inf") else f"{views.duration(lease.expires - now)} left"
    return f"{lease.state.value}, {left}"

