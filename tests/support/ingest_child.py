"""
The ingest service alone in a child process, for tests that measure it from
outside (resident memory, open descriptors) under a descriptor limit of its
own.

    python -m tests.support.ingest_child '{"endpoint": "tcp:0:interface=127.0.0.1", ...}'

The argument is the L{IngestConfig} as JSON. Once listening it prints
C{{"port": N}}; then, for each line C{report} on its standard input, one
JSON line C{{"counters": {...}, "leases": {ifname: address}}}. It exits
when its standard input closes.
"""

from __future__ import annotations

import json
import sys

from twisted.internet import reactor, stdio
from twisted.protocols.basic import LineReceiver

from dhcpsuite.ingest.config import IngestConfig
from dhcpsuite.ingest.service import make_ingest_service
from dhcpsuite.leases.registry import LeaseRegistry


class Commands(LineReceiver):
    delimiter = b"\n"

    def __init__(self, service, registry) -> None:
        self.service = service
        self.registry = registry

    def connectionMade(self) -> None:
        self.sendLine(json.dumps({"port": self.service.port.getHost().port}).encode())

    def lineReceived(self, line: bytes) -> None:
        if line.strip() == b"report":
            leases = {ifname: str(getattr(entry.lease, "address", None))
                      for (ifname, _), entry in self.registry.snapshot().items()}
            self.sendLine(json.dumps({"counters": dict(self.service.counters), "leases": leases}).encode())

    def connectionLost(self, reason=None) -> None:
        if reactor.running:
            reactor.stop()


def main() -> None:
    cfg = json.loads(sys.argv[1])
    if "interfaces" in cfg:
        cfg["interfaces"] = tuple(cfg["interfaces"])
    registry = LeaseRegistry()
    service = make_ingest_service(IngestConfig(**cfg), registry, reactor=reactor)

    def listening(port):
        stdio.StandardIO(Commands(service, registry))

    service.startService()
    service.when_listening().addCallback(listening)
    reactor.run()


if __name__ == "__main__":
    main()
