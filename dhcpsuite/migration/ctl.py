# -*- test-case-name: tests.unit.test_migration_importer -*-
"""
C{dhcpsuite-ctl import-leases --from dnsmasq|isc-dhcpd|kea FILE}: the
offline lease import, as a ctl subcommand. Twisted is imported only when the
command runs, so the rest of the ctl keeps its fast start.

Exit status: 0 imported (skipped records are reported, not errors), 2 a
lease file or configuration that cannot be read (the message names
C{file:line} or the key), 3 the store cannot be written now (the daemon
holds it).
"""

from __future__ import annotations

import argparse
import json
import sys

from dhcpsuite.migration.records import Source

COMMAND = "import-leases"


def register(commands) -> None:
    p = commands.add_parser(COMMAND, help="import another server's leases into the store (daemon stopped)")
    p.add_argument("--from", dest="source", required=True, choices=[s.value for s in Source])
    p.add_argument("file", help="the lease file: dnsmasq.leases, dhcpd.leases or Kea's kea-leases4.csv")
    p.add_argument("--server-config", dest="server_config", help="the daemon's configuration file (default: --config)")
    p.add_argument("--state-dir", help="override state_dir")
    p.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")


def run(args: argparse.Namespace) -> int:
    import time

    from twisted.internet import task

    from dhcpsuite.config import ConfigError
    from dhcpsuite.migration.importer import import_leases
    from dhcpsuite.migration.leasefiles import read_lease_file
    from dhcpsuite.migration.records import InputError
    from dhcpsuite.errors import StartupError
    from dhcpsuite.tap import read_config

    path = args.server_config or args.config
    if not path:
        # The embedded default would import into a store the daemon may never read.
        print("dhcpsuite-ctl: import-leases needs the daemon's configuration: --server-config FILE (or --config FILE)", file=sys.stderr)
        return 2
    try:
        config = read_config(path, args.state_dir)
        server = config.section("server")
        if server is None:
            raise ConfigError("server", "the configuration has no [server] section to import into")
        leases = read_lease_file(Source(args.source), args.file)
    except (ConfigError, InputError) as e:
        print(f"dhcpsuite-ctl: {e}", file=sys.stderr)
        return 2
    outcome: dict = {}

    def refused(failure):
        # Anything else is a bug: react() prints its traceback, exit 1.
        failure.trap(StartupError)
        outcome["error"] = failure.value

    def main(reactor):
        d = import_leases(leases, server, config.state_dir, reactor, time.time(), dry_run=args.dry_run)
        d.addCallback(lambda plan: outcome.__setitem__("plan", plan))
        return d.addErrback(refused)

    try:
        task.react(main, [])
    except SystemExit:
        # react() always ends in sys.exit; the outcome is what matters.
        pass
    if "error" in outcome:
        print(f"dhcpsuite-ctl: {outcome['error']}", file=sys.stderr)
        return 3
    if "plan" not in outcome:
        return 1
    print(render(outcome["plan"], args.file, args.dry_run, args.json))
    return 0


def render(plan, path: str, dry_run: bool, as_json: bool) -> str:
    from dhcpsuite.migration.plan import describe

    if as_json:
        return json.dumps(
            {
                "file": path,
                "dry_run": dry_run,
                "counts": plan.counts(),
                "imported": [
                    {"where": i.where, "address": str(i.lease.address), "mac": i.lease.mac.hex(":"), "subnet": i.subnet,
                     "expires": i.lease.expires, "hostname": i.lease.hostname}
                    for i in plan.imported
                ],
                "skipped": [
                    {"where": s.where, "address": s.address, "mac": s.mac, "reason": s.reason.value, "detail": s.detail}
                    for s in plan.skipped
                ],
            },
            indent=2,
        )
    verb = "would import" if dry_run else "imported"
    lines = [f"{i.where}: {i.lease.address} {i.lease.mac.hex(':')}: {verb} into {i.subnet}" for i in plan.imported]
    lines += describe(plan.skipped)
    summary = ", ".join(f"{k} {v}" for k, v in plan.counts().items())
    lines.append(f"{path}: {summary}")
    return "\n".join(terminal_safe(line) for line in lines)


def terminal_safe(text: str) -> str:
    """
    C{text} with every non-printable character (an escape sequence from a
    hostile lease file) shown as a Python escape instead.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
