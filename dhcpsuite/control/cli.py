# -*- test-case-name: tests.unit.test_control -*-
"""
C{dhcpsuite-ctl}: the operator's command line, a client of the HTTP API.

Standard library only (it must start fast and work where Twisted's import
time would be felt). Readable tables by default, C{--json} for scripts.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import os
import re
import socket
import sys
import time
import tomllib
import urllib.parse
from typing import Any, Callable, Sequence

from dhcpsuite.control import views
from dhcpsuite.printable import printable
from dhcpsuite.history.times import TimeError, parse_time
from dhcpsuite.migration import ctl as import_leases

DEFAULT_URL = "http://127.0.0.1:8067"
TOKEN_VARIABLE = "DHCPSUITE_TOKEN"


class CtlError(Exception):
    pass


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def url_from_config(path: str) -> str:
    """
    The API address from a configuration file's C{[control] listen}
    endpoint (C{tcp:PORT:interface=ADDR} or C{unix:PATH}).
    """
    with open(path, "rb") as f:
        document = tomllib.load(f)
    listen = document.get("control", {}).get("listen", "tcp:8067:interface=127.0.0.1")
    kind, _, rest = listen.partition(":")
    # Twisted's endpoint syntax: ':' inside a value is escaped as '\:'; a
    # repeated key means its last value.
    parts = [p.replace("\\:", ":") for p in re.split(r"(?<!\\):", rest)]
    if kind == "unix":
        return "unix:" + parts[0]
    host = "::1" if kind == "tcp6" else "127.0.0.1"
    for part in parts[1:]:
        if part.startswith("interface="):
            host = part.split("=", 1)[1]
    if host in ("0.0.0.0", "::"):
        host = "::1" if kind == "tcp6" else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{parts[0]}"


# Methods that change nothing, so a request the daemon closed unanswered
# may be sent again.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
# Seconds between the tries of such a request (three retries).
RETRY_PAUSES = (0.1, 0.3, 0.6)


class ApiClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.sleep = sleep

    def _connection(self) -> http.client.HTTPConnection:
        if self.url.startswith("unix:"):
            return _UnixHTTPConnection(self.url[len("unix:") :], self.timeout)
        parsed = urllib.parse.urlsplit(self.url)
        return http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 8067, timeout=self.timeout)

    def request(self, method: str, path: str, query: dict | None = None, body: dict | None = None) -> Any:
        target = "/api/v1/" + path
        if query:
            target += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # A read may be sent again when the daemon closed the connection
        # without answering: at its connection limit it closes newcomers
        # unread (README, [control] max_connections), so under a flood of
        # slow clients the operator's next try usually gets through. A
        # change is never sent twice.
        pauses = list(RETRY_PAUSES) if method in IDEMPOTENT_METHODS else []
        while True:
            connection = self._connection()
            try:
                connection.request(method, target, body=data, headers=headers)
                response = connection.getresponse()
                raw = response.read()
                break
            except (ConnectionResetError, BrokenPipeError) as e:
                if not pauses:
                    raise CtlError(f"cannot reach the dhcpsuite API at {self.url}: {e}") from None
                self.sleep(pauses.pop(0))
            except OSError as e:
                raise CtlError(f"cannot reach the dhcpsuite API at {self.url}: {e}") from None
            finally:
                connection.close()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            raise CtlError(f"{method} {target}: HTTP {response.status}, not JSON") from None
        if response.status >= 400:
            raise CtlError(f"{method} {target}: HTTP {response.status}: {payload.get('error', raw[:200])}")
        return payload


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[views.as_text(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _show_status(data: dict) -> str:
    lines = [
        f"dhcpsuite {data['version']}  up {int(data['uptime'])} s  {'healthy' if data['ok'] else 'DEGRADED'}",
        f"configuration {views.as_text(data['config'])}",
    ]
    rows = [(name, "ok" if h.get("ok") else "NOT OK", " ".join(f"{k}={v}" for k, v in h.items() if k != "ok")) for name, h in data["components"].items()]
    return "\n".join(lines) + "\n" + format_table(["component", "health", "details"], rows)


def _show_leases(data: dict) -> str:
    rows = views.lease_rows(data["leases"])
    shown = f"{data['offset'] + 1}-{data['offset'] + len(rows)} of {data['total']}" if rows else f"0 of {data['total']}"
    return format_table(views.LEASE_COLUMNS, rows) + f"\n({shown})"


def _csv_leases(data: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(views.LEASE_COLUMNS)
    writer.writerows([[_csv_cell(views.as_text(c)) for c in row] for row in views.lease_rows(data["leases"])])
    return out.getvalue().rstrip("\n")


def _csv_cell(text: str) -> str:
    # A hostname comes from the network: one starting like a formula must
    # stay text when the file is opened in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _show_reload(data: dict) -> str:
    changed = ", ".join(views.as_text(name) for name in data.get("changed", [])) or "nothing changed"
    return f"reloaded {views.as_text(data.get('config'))}: {changed}"


def _show_interfaces(data: dict) -> str:
    return format_table(views.INTERFACE_COLUMNS, views.interface_rows(data["interfaces"]))


def _show_clients(data: dict) -> str:
    return format_table(views.CLIENT_COLUMNS, views.client_rows(data["clients"]))


def _show_ingest(data: dict) -> str:
    out = [format_table(views.REGISTRY_COLUMNS, views.registry_rows(data.get("registry") or {}))]
    counters = data.get("counters") or {}
    if counters:
        out.append(format_table(["counter", "value"], sorted(counters.items())))
    return "\n\n".join(out)


def _show_history(data: dict) -> str:
    if "bindings" in data:
        rows = views.history_binding_rows(data["bindings"])
        head = f"{views.as_text(data['key'])} at {views.when(data['at'])}: "
        head += "nobody" if not rows else f"{len(rows)} binding(s)"
        return head + ("\n" + format_table(views.HISTORY_BINDING_COLUMNS, rows) if rows else "")
    out = [
        f"{views.as_text(data['key'])} from {views.when(data['from'])} to {views.when(data['to'])}",
        format_table(views.HISTORY_INTERVAL_COLUMNS, views.history_interval_rows(data["intervals"])),
        format_table(views.HISTORY_EVENT_COLUMNS, views.history_event_rows(data["events"])),
    ]
    if data.get("truncated"):
        out.append("(more events than the server returns at once: narrow --from/--to)")
    return "\n\n".join(out)


def _history_query(args: argparse.Namespace) -> dict:
    """
    The API query of C{history}: times parsed here, so one without a zone is
    the operator's local time, and sent as epoch seconds.
    """
    query = {"key": args.key}
    for name in ("at", "from_", "to"):
        text = getattr(args, name)
        if text is not None:
            try:
                query[name.rstrip("_")] = repr(parse_time(text))
            except TimeError as e:
                raise CtlError(f"--{name.rstrip('_')}: {e}") from None
    return query


def _show_cluster(data: dict) -> str:
    rows = []
    for m in data["members"]:
        share = m.get("share")
        rows.append((
            ("* " if m.get("self") else "") + m["id"], m.get("host") or "-", m.get("pid") or "-", m.get("pools") or "-",
            f"{m['heartbeat_age']:.1f}s", "yes" if m["alive"] else "no",
            " ".join(f"{pool}:{n}" for pool, n in share.items()) if share else "-",
        ))
    out = [format_table(["member", "host", "pid", "pools", "heartbeat", "alive", "share"], rows)]
    counters = data.get("counters") or {}
    if counters:
        out.append(format_table(["counter", "value"], sorted(counters.items())))
    return "\n\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dhcpsuite-ctl", description="Inspect and steer a running dhcpsuite daemon.")
    _add_global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="version, uptime, component health")
    commands.add_parser("interfaces", help="the kernel's interfaces and their readiness")
    leases = commands.add_parser("leases", help="the server's leases")
    leases.add_argument("--subnet")
    leases.add_argument("--mac")
    leases.add_argument("--state", help="active, offered, bound, released, expired or declined")
    leases.add_argument("--limit", type=int, default=100)
    leases.add_argument("--offset", type=int, default=0)
    leases.add_argument("--csv", action="store_true", help="print CSV (a header line, then one line per lease)")
    history = commands.add_parser("history", help="who held an address (or what a MAC held) when")
    history.add_argument("key", help="an IPv4 address or a MAC")
    history.add_argument("--at", help="the instant (ISO 8601, local or with a zone, or epoch seconds)")
    history.add_argument("--from", dest="from_", help="the range's start (default: a day before --to)")
    history.add_argument("--to", help="the range's end (default: now)")
    revoke = commands.add_parser("revoke", help="delete a server lease")
    revoke.add_argument("address")
    commands.add_parser("clients", help="the DHCP client agents")
    commands.add_parser("cluster", help="the servers sharing the lease database, their shares, this one's counters")
    commands.add_parser("reload", help="re-read the configuration file and apply it live (exit 1, nothing changed, when refused)")
    commands.add_parser("ingest", help="leases ingested from external clients, and counters")
    for action in ("renew", "rebind", "release", "start", "stop"):
        p = commands.add_parser(action, help=f"{action} the DHCP client on an interface")
        p.add_argument("interface")
    monitor = commands.add_parser("monitor", help="print kernel link/address/route events as JSON lines (local, needs no daemon)")
    monitor.add_argument("--dump", action="store_true", help="print the interface table and exit")
    import_leases.register(commands)
    for subparser in commands.choices.values():
        _add_global_options(subparser, defaults=False)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """
    The options every verb takes, before or after it (C{dhcpsuite-ctl
    status --json}). After the verb they have no default of their own, so
    one given before the verb is not overwritten.
    """

    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--url", default=default(None), help=f"the API (default {DEFAULT_URL}; unix:/path for a UNIX socket)")
    parser.add_argument("--config", default=default(None), help="read the API address from this configuration file's [control] listen")
    parser.add_argument("--token", default=default(None), help=f"bearer token (default ${TOKEN_VARIABLE})")
    parser.add_argument("--json", action="store_true", default=default(False), help="print the API's JSON instead of a table")
    parser.add_argument(
        "--timeout", type=float, default=default(30.0), help="seconds to wait for an action (the agent keeps trying after)"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "monitor":
        from dhcpsuite.netlink.__main__ import main as netlink_main

        return netlink_main(["dump"] if args.dump else ["monitor"])
    if args.command == import_leases.COMMAND:
        return import_leases.run(args)
    url = args.url or (url_from_config(args.config) if args.config else DEFAULT_URL)
    client = ApiClient(url, args.token or os.environ.get(TOKEN_VARIABLE), timeout=args.timeout + 10)
    try:
        if args.command == "leases":
            query = {"subnet": args.subnet, "mac": args.mac, "state": args.state, "limit": args.limit, "offset": args.offset}
            data, show = client.request("GET", "leases", query), (_csv_leases if args.csv else _show_leases)
        elif args.command == "history":
            data, show = client.request("GET", "history", _history_query(args)), _show_history
        elif args.command == "reload":
            data, show = client.request("POST", "config/reload"), _show_reload
        elif args.command == "revoke":
            data, show = client.request("DELETE", f"leases/{urllib.parse.quote(args.address)}"), None
        elif args.command in ("renew", "rebind", "release", "start", "stop"):
            path = f"clients/{urllib.parse.quote(args.interface)}/{args.command}"
            data, show = client.request("POST", path, body={"timeout": args.timeout}), None
        else:
            shows = {"status": _show_status, "interfaces": _show_interfaces, "clients": _show_clients,
                     "ingest": _show_ingest, "cluster": _show_cluster}
            data, show = client.request("GET", args.command), shows[args.command]
    except CtlError as e:
        print(f"dhcpsuite-ctl: {printable(str(e))}", file=sys.stderr)
        return 1
    if args.json or show is None:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(show(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
