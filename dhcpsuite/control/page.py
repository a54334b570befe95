# -*- test-case-name: tests.unit.test_control -*-
"""
The status page at C{/}: server-rendered HTML that reloads itself, showing
what a router admin looks for first — interfaces, client states, ingested
leases, server pools and leases. Built from the same functions as the JSON
API, so the page and the API never disagree.
"""

from __future__ import annotations

import base64
import hashlib
import html
import time
from typing import Any, Iterable, Sequence

from dhcpsuite.control import api, views
from dhcpsuite.daemon import Daemon

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;background:#fff}th,td{padding:.25em .7em;border:1px solid #ddd;text-align:left}
th{background:#eee}.ok{color:#17702a;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#777}
code{font-size:.95em}
"""

# The page's only active content is this inline style; the CSP names it by
# hash, so injected markup could neither style nor script anything.
STYLE_SOURCE = "'sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii") + "'"


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> str:
    rows = list(rows)
    if not rows:
        return f'<p class="muted">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(views.as_text(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, section_id: str, content: str) -> str:
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{content}</section>'


def _try(produce, default):
    try:
        return produce()
    except api.ApiError:
        return default


def render_status_page(daemon: Daemon, refresh: int = 5) -> str:
    now = time.time()
    status = api.status(daemon, now)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{int(refresh)}'>",
        f"<title>dhcpsuite {html.escape(status['version'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>dhcpsuite {html.escape(status['version'])}</h1>",
        f"<p>up {int(status['uptime'])} s · configuration <code>{html.escape(status['config'])}</code> · "
        f"<span class='{'ok' if status['ok'] else 'bad'}'>{'healthy' if status['ok'] else 'degraded'}</span></p>",
    ]
    parts.append(
        _section(
            "Components",
            "components",
            _table(
                ["component", "health", "details"],
                (
                    (name, "ok" if health.get("ok") else "not ok", ", ".join(f"{k}={views.as_text(v)}" for k, v in health.items() if k != "ok"))
                    for name, health in status["components"].items()
                ),
                "nothing configured",
            ),
        )
    )
    if daemon.netlink is not None:
        interfaces = _try(lambda: api.interfaces(daemon)["interfaces"], [])
        parts.append(
            _section(
                "Interfaces",
                "interfaces",
                _table(views.INTERFACE_COLUMNS, views.interface_rows(interfaces), "no interfaces"),
            )
        )
    if daemon.client is not None:
        clients = _try(lambda: api.clients(daemon)["clients"], [])
        parts.append(
            _section(
                "DHCP clients",
                "clients",
                _table(views.CLIENT_COLUMNS, views.client_rows(clients), "no client agents"),
            )
        )
    if daemon.registry is not None or daemon.ingest is not None:
        registry = _try(lambda: api.ingest(daemon).get("registry", {}), {})
        parts.append(
            _section(
                "Leases held on this host (WAN)",
                "ingest",
                _table(views.REGISTRY_COLUMNS, views.registry_rows(registry), "no leases"),
            )
        )
    if daemon.server is not None and daemon.server.store is not None:
        pools = api.pools(daemon)["pools"]
        parts.append(
            _section(
                "DHCP server pools",
                "pools",
                _table(["subnet", "pool", "size", "active", "free"], ((p["subnet"], p["pool"], p["size"], p["active"], p["free"]) for p in pools), "no pools"),
            )
        )
        leases = api.leases(daemon, {"state": "active", "limit": "200"}, now)
        parts.append(
            _section(
                f"DHCP server leases ({leases['total']} active)",
                "leases",
                _table(views.LEASE_COLUMNS, views.lease_rows(leases["leases"]), "no active leases"),
            )
        )
    parts.append(f"<p class='muted'>rendered {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))}; JSON at <code>/api/v1/</code>, metrics at <code>/metrics</code></p>")
    parts.append("</body></html>")
    return "".join(parts)
