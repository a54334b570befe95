"""
Lease-ingest test helpers: the ingest service running in this process's
reactor with a registry and a recording listener, message builders, and a
reactor-friendly wait.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from twisted.internet import defer, reactor, task

from dhcpsuite.ingest.config import IngestConfig
from dhcpsuite.ingest.service import make_ingest_service
from dhcpsuite.leases.registry import LeaseRegistry, RecordingLeaseListener
from tests.unit.test_ingest_layout import build


class Ingest:
    """
    A running ingest service with its registry and a recording listener.
    """

    def __init__(self, **cfg) -> None:
        cfg.setdefault("endpoint", "tcp:0:interface=127.0.0.1")
        endpoint = cfg.pop("endpoint_object", None)
        self.configurator = cfg.pop("configurator", None)
        self.registry = LeaseRegistry()
        self.listener = RecordingLeaseListener()
        self.registry.add_listener(self.listener)
        self.service_endpoint = cfg["endpoint"]
        self.service = make_ingest_service(IngestConfig(**cfg), self.registry, self.configurator,
                                           reactor=reactor, endpoint=endpoint)
        self.processes: list[subprocess.Popen] = []

    @defer.inlineCallbacks
    def start(self):
        self.service.startService()
        port = yield self.service.when_listening()
        endpoint = self.service_endpoint
        if endpoint.startswith("ipc://"):
            self.port = None
            self.url = endpoint
        else:
            self.port = port.getHost().port
            self.url = f"tcp://127.0.0.1:{self.port}"
        return self

    @property
    def counters(self):
        return self.service.counters

    def spawn(self, args, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        process = subprocess.Popen(args, start_new_session=True, **kw)
        self.processes.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    @defer.inlineCallbacks
    def stop(self):
        self.kill_all()
        yield self.service.stopService()
        # Let the aborted connections' connectionLost run.
        yield task.deferLater(reactor, 0.05, lambda: None)


@defer.inlineCallbacks
def wait_for(predicate, timeout: float, what: str, step: float = 0.02):
    """
    Poll C{predicate} on the reactor until true, at most C{timeout} s.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        yield task.deferLater(reactor, step, lambda: None)


def v4_message(ifname: str, address: str, state: str = "bound", layout: str = "x86_64") -> bytes:
    return build(layout, 0, ifname, {
        "addressAssigned": 1, "address": address, "netmask": "255.255.255.0", "gateway": "10.0.0.1",
        "dnsServer": "10.0.0.53", "ifname": ifname, "leaseTime": 600, "dhcpState": state,
    })


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def plugin_wrapper(directory: Path, port: int, client: str) -> str:
    """
    An executable for a DHCP client to run as its script: it records the
    event (C{$1}) in C{directory/events} and runs our plugin for C{client}
    (C{"udhcpc"} or C{"dibbler"}), sending to 127.0.0.1:C{port}.
    """
    path = directory / f"dhcpsuite-{client}-plugin"
    path.write_text(
        "#!/bin/sh\n"
        f"echo \"$1\" >> {directory}/events\n"
        f"DHCPSUITE_INGEST_ADDRESS=tcp://127.0.0.1:{port} "
        f"exec {sys.executable} -m dhcpsuite.ingest.plugins.{client} \"$@\"\n"
    )
    path.chmod(0o755)
    return str(path)

