"""
C{python -m dhcpsuite.netlink monitor}: the event stream as JSON lines, like
C{ip -j monitor}; C{python -m dhcpsuite.netlink dump}: the interface table
as one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from twisted.internet import defer, task
from zope.interface import implementer

from dhcpsuite.interfaces import INetlinkListener
from dhcpsuite.netlink.events import Synced, to_json
from dhcpsuite.netlink.reader import NetlinkReader


def table_json(reader: NetlinkReader) -> dict:
    table = reader.table
    return {
        "links": [to_json(link) for link in table.links.values()],
        "addresses": [to_json(address) for address in table.addresses.values()],
        "routes": [to_json(route) for route in table.routes.values()],
    }


@implementer(INetlinkListener)
class JSONLinesPrinter:
    """
    Prints each event as one JSON line; fires C{done} after C{count} events.
    """

    def __init__(self, out: TextIO, count: int | None, show_initial: bool) -> None:
        self.out = out
        self.count = count
        self.show_initial = show_initial
        self.printed = 0
        self.done: defer.Deferred = defer.Deferred()
        self._live = False

    def netlink_event(self, event: Any) -> None:
        if isinstance(event, Synced):
            self._live = True
            return
        if not (self._live or self.show_initial):
            return
        self.out.write(json.dumps(to_json(event)) + "\n")
        self.out.flush()
        self.printed += 1
        if self.count is not None and self.printed >= self.count and not self.done.called:
            self.done.callback(None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dhcpsuite.netlink", description=__doc__)
    parser.add_argument("--netns", help="read inside this network namespace (/run/netns/NAME)")
    parser.add_argument("--decoder", choices=("fast", "pyroute2"), default="fast")
    commands = parser.add_subparsers(dest="command", required=True)
    monitor = commands.add_parser("monitor", help="print events as JSON lines")
    monitor.add_argument("--count", type=int, help="exit after this many events")
    monitor.add_argument("--timeout", type=float, help="exit after this many seconds")
    monitor.add_argument("--initial", action="store_true", help="first print the current table as *_added events")
    commands.add_parser("dump", help="print the interface table as JSON")
    return parser


@defer.inlineCallbacks
def run(reactor: Any, argv: list[str], out: TextIO = sys.stdout, system: Any = None):
    options = _parser().parse_args(argv)
    reader = NetlinkReader(reactor=reactor, system=system, netns=options.netns, decoder=options.decoder)
    try:
        if options.command == "dump":
            reader.start()
            yield reader.when_synced()
            out.write(json.dumps(table_json(reader), indent=2) + "\n")
            return
        printer = JSONLinesPrinter(out, options.count, options.initial)
        reader.add_listener(printer)
        reader.start()
        waits = [printer.done]
        if options.timeout is not None:
            waits.append(task.deferLater(reactor, options.timeout, lambda: None))
        yield defer.DeferredList(waits, fireOnOneCallback=True, consumeErrors=True)
        for wait in waits:
            if not wait.called:
                wait.cancel()
    finally:
        reader.stop()


def main(argv: list[str] | None = None) -> None:
    task.react(run, (sys.argv[1:] if argv is None else argv,))


if __name__ == "__main__":
    main()
