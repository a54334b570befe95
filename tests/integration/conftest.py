"""
Fixtures for the integration tests: our daemon under C{twistd} in a server
namespace, and real DHCP clients (udhcpc, dhclient) in a client namespace
whose hook scripts record every event with its full environment, so a test
can check what the client really received.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import pytest_twisted
from twisted.internet import defer

from dhcpsuite.tomltext import toml_document
from tests.support.ingest import Ingest
from tests.support.netns import Namespace, VethPair, wait_udp_listening

REPOSITORY = Path(__file__).resolve().parents[2]
TWISTD = str(Path(sys.executable).with_name("twistd"))
SERVER_TAC = REPOSITORY / "tac" / "server.tac"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    """
    Poll C{predicate} until it returns something true, at most C{timeout} s.

    @raise AssertionError: naming C{what} when it never does.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


# ---------------------------------------------------------------------------
# Configuration files

def subnet_config(**overrides: Any) -> dict[str, Any]:
    """
    The directly connected test subnet on C{srv0}. Values are chosen to be
    unlike any default, so that a client seeing them proves they came from
    this file.
    """
    subnet = {
        "subnet": "10.77.0.0/16",
        "interface": "srv0",
        "pool": ["10.77.0.100-10.77.0.199"],
        "lease_time": 2400,
        "router": ["10.77.0.1"],
        "dns_servers": ["10.77.0.53"],
        "domain_name": "example.lan",
        "ntp_servers": ["10.77.0.123"],
        "mtu": 1400,
    }
    subnet.update(overrides)
    return subnet


def server_config(state_dir: Path, *subnets: dict[str, Any], **server: Any) -> dict[str, Any]:
    section = {"lease_store": "sqlite", "log_exchanges": True}
    section.update(server)
    section["subnet"] = list(subnets) or [subnet_config()]
    return {"state_dir": str(state_dir), "server": section}


# ---------------------------------------------------------------------------
# Our daemon

class Daemon:
    """
    One run of C{twistd -n} in a namespace; its output goes to a file (a
    full pipe would block the daemon).
    """

    def __init__(self, ns: Namespace, args: list[str], output: Path, env: dict[str, str] | None = None) -> None:
        self.ns = ns
        self.output_path = output
        with open(output, "ab") as sink:
            self.process = ns.spawn(args, stdout=sink, stderr=subprocess.STDOUT, cwd=output.parent, env=env)

    def wait_listening(self, timeout: float = 15.0) -> "Daemon":
        try:
            wait_udp_listening(self.ns, 67, self.process, timeout)
        except RuntimeError as e:
            raise AssertionError(f"{e}; daemon output:\n{self.output()}") from None
        return self

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        return self.ns.stop(self.process, sig, timeout=15)


class DaemonFactory:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.runs = 0
        self.daemons: list[Daemon] = []

    def write_config(self, config: dict[str, Any], name: str = "dhcpsuite.toml") -> Path:
        path = self.tmp_path / name
        path.write_text(toml_document(config))
        return path

    def start(self, ns: Namespace, config: dict[str, Any] | Path, wait: bool = True) -> Daemon:
        """
        C{twistd -n --pidfile= dhcpsuite --config FILE} in C{ns}, waited for
        until it listens on UDP 67 (bounded, 15 s).
        """
        path = config if isinstance(config, Path) else self.write_config(config)
        return self._start(ns, [TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)], wait)

    def start_tac(self, ns: Namespace, config: dict[str, Any], wait: bool = True) -> Daemon:
        """
        C{twistd -ny tac/server.tac} with C{DHCPSUITE_CONFIG} naming the file.
        """
        path = self.write_config(config)
        env = dict(os.environ, DHCPSUITE_CONFIG=str(path))
        return self._start(ns, [TWISTD, "-n", "--pidfile=", "-y", str(SERVER_TAC)], wait, env)

    def _start(self, ns: Namespace, args: list[str], wait: bool, env: dict[str, str] | None = None) -> Daemon:
        self.runs += 1
        daemon = Daemon(ns, args, self.tmp_path / f"daemon-{self.runs}.out", env)
        self.daemons.append(daemon)
        if wait:
            daemon.wait_listening()
        return daemon


@pytest.fixture
def daemons(tmp_path: Path):
    factory = DaemonFactory(tmp_path)
    yield factory
    for daemon in factory.daemons:
        daemon.stop()


# ---------------------------------------------------------------------------
# Real clients whose hook scripts record what they were given

UDHCPC_SCRIPT = """\
#!/bin/sh
# Records each event with its environment, and applies only the address.
dir=$(dirname "$0")
n=0; [ -f "$dir/events" ] && n=$(wc -l < "$dir/events")
env > "$dir/env.$n.$1"
echo "$1" >> "$dir/events"
case "$1" in
    deconfig) [ -s "$dir/address" ] && ip addr del "$(cat "$dir/address")" dev "$interface" 2>/dev/null; : > "$dir/address" ;;
    bound|renew) ip addr replace "$ip/$mask" dev "$interface" && echo "$ip/$mask" > "$dir/address" ;;
esac
exit 0
"""

DHCLIENT_SCRIPT = """\
#!/bin/sh
dir=$(dirname "$0")
n=0; [ -f "$dir/events" ] && n=$(wc -l < "$dir/events")
env > "$dir/env.$n.$reason"
echo "$reason" >> "$dir/events"
case "$reason" in
    BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
    EXPIRE|FAIL|RELEASE) [ -n "$old_ip_address" ] && ip addr del "$old_ip_address/$old_subnet_mask" dev "$interface" 2>/dev/null ;;
esac
exit 0
"""

DHCLIENT_CONF = """\
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers,
        ntp-servers, interface-mtu, host-name, rfc3442-classless-static-routes;
"""


class ScriptedClient:
    """
    A DHCP client process and the events its script recorded, each with the
    environment the script was run with.
    """

    def __init__(self, ns: Namespace, directory: Path) -> None:
        self.ns = ns
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def events(self) -> list[str]:
        path = self.directory / "events"
        return path.read_text().split() if path.exists() else []

    def environment(self, index: int) -> dict[str, str]:
        event = self.events()[index]
        text = (self.directory / f"env.{index}.{event}").read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def wait_event(self, names: set[str], after: int = 0, timeout: float = 15.0) -> tuple[int, str]:
        """
        The first event in C{names} at index C{after} or later.
        """

        def found():
            for index, event in enumerate(self.events()):
                if index >= after and event in names:
                    return index, event
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"client exited ({self.process.returncode}); events {self.events()}: "
                                     f"{self.output()}")
            return None

        return wait_until(found, timeout, f"client event {names} (events so far: {self.events()})")

    def output(self) -> str:
        path = self.directory / "output"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, args: list[str]) -> "ScriptedClient":
        with open(self.directory / "output", "ab") as output:
            self.process = self.ns.spawn(args, stdout=output, stderr=subprocess.STDOUT)
        return self

    def signal(self, sig: int) -> None:
        os.killpg(self.process.pid, sig)

    def stop(self) -> int | None:
        return self.ns.stop(self.process)


# ---------------------------------------------------------------------------
# Our client under test: its interface settings, a hook program that records,
# and what it did to the interface

# Records every run (argv[1] and the environment) and touches nothing.
RECORDER = """\
#!/bin/sh
dir=$(dirname "$0")
n=0; [ -f "$dir/events" ] && n=$(wc -l < "$dir/events")
env > "$dir/env.$n.$1"
echo "$1" >> "$dir/events"
exit 0
"""


def recorder(directory: Path, ns: Namespace) -> ScriptedClient:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "script"
    script.write_text(RECORDER)
    script.chmod(0o755)
    return ScriptedClient(ns, directory)


def interface(name: str = "cli0", **overrides) -> dict:
    settings = {"name": name, "arp_probe": False, "initial_delay": 0.0, "renew_minimum": 2.0}
    settings.update(overrides)
    return settings


def addresses(ns: Namespace, ifname: str = "cli0") -> list[str]:
    return ns.ipv4_addresses(ifname)


def routes(ns: Namespace, ifname: str = "cli0") -> list[dict]:
    return json.loads(ns.run(["ip", "-j", "-4", "route", "show", "dev", ifname]).stdout or "[]")


def wait_address(ns: Namespace, daemon: Daemon, ifname: str = "cli0", timeout: float = 10.0,
                 prefix: str = "10.77.") -> str:
    def found():
        if daemon.process.poll() is not None:
            raise AssertionError(f"client exited: {daemon.output()}")
        return next((a for a in addresses(ns, ifname) if a.startswith(prefix)), None)

    return wait_until(found, timeout, f"an address on {ifname}")


def log_has(daemon: Daemon, text: str) -> bool:
    return text in daemon.output()


class ClientFactory:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.count = 0

    def _directory(self, name: str) -> Path:
        self.count += 1
        return self.tmp_path / f"{name}-{self.count}"

    def udhcpc(self, pair: VethPair, *extra: str) -> ScriptedClient:
        """
        C{udhcpc -f} on the client end; add C{-q} to quit once bound, C{-R}
        to release on exit.
        """
        client = ScriptedClient(pair.client, self._directory("udhcpc"))
        script = client.directory / "script"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        return client.start([
            "udhcpc", "-f", "-t", "5", "-T", "1", "-A", "1", "-i", pair.client_if, "-s", str(script),
            "-O", "ntpsrv", "-O", "mtu", *extra,
        ])

    def dhclient(self, pair: VethPair, *extra: str) -> ScriptedClient:
        """
        C{dhclient -4 -d} with a private minimal C{-cf}, C{-lf}, C{-pf}.
        """
        client = ScriptedClient(pair.client, self._directory("dhclient"))
        d = client.directory
        (d / "script").write_text(DHCLIENT_SCRIPT)
        (d / "script").chmod(0o755)
        (d / "dhclient.conf").write_text(DHCLIENT_CONF)
        client.files = ["-cf", str(d / "dhclient.conf"), "-sf", str(d / "script"),
                        "-lf", str(d / "dhclient.leases"), "-pf", str(d / "dhclient.pid")]
        return client.start(["dhclient", "-4", "-d", "-v", *client.files, *extra, pair.client_if])


@pytest.fixture
def clients(tmp_path: Path) -> ClientFactory:
    return ClientFactory(tmp_path)


# ---------------------------------------------------------------------------
# A real DHCP server for the client's tests

class Dnsmasq:
    def __init__(self, ns: Namespace, workdir: Path, lines: list[str], interfaces=("srv0",)) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "dnsmasq.log"
        conf = workdir / "dnsmasq.conf"
        conf.write_text("\n".join([
            "port=0", "no-resolv", "no-hosts", "bind-interfaces", "except-interface=lo",
            *[f"interface={i}" for i in interfaces],
            f"dhcp-leasefile={workdir / 'dnsmasq.leases'}", "dhcp-authoritative", "no-ping",
            "log-dhcp", f"log-facility={self.log}", "user=root", "group=root", *lines, "",
        ]))
        self.ns = ns
        self.process = ns.spawn(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"])
        wait_udp_listening(ns, 67, self.process)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        self.ns.stop(self.process)


# ---------------------------------------------------------------------------
# Lease ingest in this process's reactor

@pytest.fixture
def ingest_factory():
    started = []

    @defer.inlineCallbacks
    def make(**cfg):
        ingest = Ingest(**cfg)
        started.append(ingest)
        yield ingest.start()
        return ingest

    yield make
    for ingest in started:
        pytest_twisted.blockon(ingest.stop())
