"""
dhcpsuite's client against a hostile, scripted DHCP server
(L{tests.support.rogueserver}) in network namespaces, with busybox udhcpc
given the same replies as the reference (issue 16, items 1, 15, 16, 17, 19
and 20). The client runs as C{twistd -n -y tac/client.tac}, as deployed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    REPOSITORY,
    TWISTD,
    Daemon,
    addresses,
    interface,
    recorder,
    routes,
    toml_document,
    wait_until,
)
from tests.integration.test_client import CLIENT_TAC, start_client
from tests.support.environment import require_programs, require_root
from tests.support.netns import Namespace, VethPair

DEFAULT_SCRIPT = "/etc/udhcpc/default.script"


@pytest.fixture(autouse=True)
def needs_root_and_udhcpc():
    require_root()
    require_programs("udhcpc")


class RogueServer:
    """
    One run of the scripted server in the server namespace, and what it
    received.
    """

    def __init__(self, ns: Namespace, record: Path, *args: str, address: str = "10.77.0.50",
                 server_id: str = "10.77.0.1", duration: float = 60.0) -> None:
        self.ns = ns
        self.record = record
        record.unlink(missing_ok=True)
        self.process = ns.spawn([sys.executable, "-m", "tests.support.rogueserver", "--interface", "srv0",
                                 "--server-id", server_id, "--address", address, "--record", str(record),
                                 "--duration", str(duration), *args], cwd=REPOSITORY)
        wait_until(lambda: record.exists() and record.read_text().startswith('{"ready"'), 10, "rogue server")

    def received(self) -> list[dict]:
        return [entry for entry in map(json.loads, self.record.read_text().splitlines()) if "type" in entry]

    def count(self, *kinds: int) -> int:
        return sum(entry["type"] in kinds for entry in self.received())

    def stop(self) -> None:
        self.ns.stop(self.process)


class ScratchResolvConf:
    """
    C{ip netns exec NS} bind-mounts C{/etc/netns/NS/resolv.conf} over
    C{/etc/resolv.conf} when that file exists: the stock udhcpc script,
    run in the namespace, writes there and not to the host's.
    """

    def __init__(self, ns: Namespace) -> None:
        self.directory = Path("/etc/netns") / ns.name
        self.path = self.directory / "resolv.conf"

    def __enter__(self) -> "ScratchResolvConf":
        self.directory.mkdir(parents=True, exist_ok=False)
        self.path.write_text("")
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def text(self) -> str:
        return self.path.read_text()

    def clear(self) -> None:
        self.path.write_text("")


def labels(*names: str) -> str:
    raw = b""
    for name in names:
        raw += b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    return raw.hex()


def test_stock_udhcpc_script_writes_no_injected_resolv_conf_line(tmp_path):
    """
    Item 1. A rogue server offers hostname C{h;touch …;$(touch …)}, domain
    C{e.x\\nnameserver 6.6.6.6} and a search list with a newline. Debian's
    C{/etc/udhcpc/default.script} writes C{domain $domain} into
    resolv.conf. busybox udhcpc (the reference, driven first with the same
    offer) passes C{domain=bad} and the file holds no injected line; so must
    we, with the same script as our hook.
    """
    marker = tmp_path / "pwned"
    options = [
        f"12={(f'h;touch {marker};$(touch {marker})').encode().hex()}",
        "15=" + b"e.x\nnameserver 6.6.6.6".hex(),
        f"6={bytes([10, 77, 0, 53]).hex()}",
        "119=" + labels("ok.example", "x\nsearch.evil"),
    ]
    with VethPair(prefix="thr") as pair, ScratchResolvConf(pair.client) as resolv:
        server = RogueServer(pair.server, tmp_path / "received.jsonl", *sum((["--option", o] for o in options), []))
        # The reference: busybox udhcpc with the stock script, once (-q).
        reference = pair.client.spawn(["udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "cli0",
                                       "-s", DEFAULT_SCRIPT], stdout=subprocess.DEVNULL)
        assert reference.wait(20) == 0
        expected = resolv.text()
        assert "domain bad" in expected and "nameserver 10.77.0.53" in expected, expected
        pair.client.run(["ip", "addr", "flush", "dev", "cli0"])
        resolv.clear()

        daemon = start_client(tmp_path, pair.client, [interface(script=DEFAULT_SCRIPT)])
        wait_until(lambda: "nameserver" in resolv.text(), 15, f"resolv.conf written: {daemon.output()}")
        time.sleep(0.3)  # the script writes the file in one echo
        written = resolv.text()
        assert written == expected, (written, expected)
        assert "6.6.6.6" not in written and "evil" not in written
        assert not marker.exists()
        output = daemon.output()
        assert "domain is not a valid value" in output and "search is not a valid value" in output
        assert output.count("domain is not a valid value") == 1
        daemon.stop()
        server.stop()


@pytest.mark.parametrize("search, ours", [
    (labels("eng.apple.com") + (b"\x09marketing\xc0\x04").hex(), "eng.apple.com marketing.apple.com"),
    (labels("ok.example", "x\nsearch.evil"), "bad"),
])
def test_hook_values_compared_with_udhcpc(tmp_path, search, ours):
    """
    Item 1, value by value, busybox udhcpc 1.35 given the same ACK with a
    recording script: a host name C{h;x} becomes C{ba} (udhcpc writes
    "bad" cut to the option's length) and a NIS domain with a space
    C{bad}; we give C{bad} for both. A compressed option 119 (RFC 3397's
    example) gives both of us the same C{search}. Where udhcpc falls short
    we do not follow it: it passes a search list with a newline in a label
    through unchecked (and a boot file with a space), we give C{bad}.
    """
    options = ["--option", "119=" + search, "--option", "12=" + b"h;x".hex(), "--option", "40=" + b"nis dom".hex(),
               "--option", "67=" + b"a b".hex()]
    with VethPair(prefix="thv") as pair:
        server = RogueServer(pair.server, tmp_path / "received.jsonl", *options)
        reference = recorder(tmp_path / "udhcpc", pair.client)
        reference.start(["udhcpc", "-f", "-q", "-n", "-t", "3", "-T", "1", "-i", "cli0",
                         "-s", str(reference.directory / "script"), "-O", "search"])
        index, _ = reference.wait_event({"bound"})
        theirs = reference.environment(index)
        pair.client.stop(reference.process)
        pair.client.run(["ip", "addr", "flush", "dev", "cli0"])

        hooks = recorder(tmp_path / "hooks", pair.client)
        daemon = start_client(tmp_path, pair.client, [interface(script=str(hooks.directory / "script"))])
        hooks.process = daemon.process
        index, _ = hooks.wait_event({"bound"})
        env = hooks.environment(index)
        assert (theirs["hostname"], theirs["nisdomain"], theirs["bootfile"]) == ("ba", "bad", "a b")
        assert (env["hostname"], env["nisdomain"], env["bootfile"]) == ("bad", "bad", "bad")
        assert env["search"] == ours
        if ours != "bad":
            assert theirs["search"] == ours
        else:
            assert theirs["search"].startswith("ok.example x")  # udhcpc's unchecked newline
        daemon.stop()
        server.stop()


def test_lease_time_zero_is_no_wire_speed_loop(tmp_path, clients):
    """
    Item 15. A server that ACKs with lease time 0: without a minimum lease
    the client sent 770 DISCOVERs and 796 REQUESTs in 3 s. The references, driven first against
    the same server: busybox udhcpc 1.35 sends one DISCOVER and one REQUEST
    in 5 s ("lease time 0"), binds and stays quiet; ISC dhclient 4.4 says
    "no expiry time on offered lease", never binds, rejects that server and
    DISCOVERs on with its backoff. We follow udhcpc: bind once (the lease
    used as C{minimum_lease}, 60 s, long) and stay quiet.
    """
    with VethPair(prefix="thz") as pair:
        server = RogueServer(pair.server, tmp_path / "received.jsonl", "--lease-time", "0")
        reference = pair.client.spawn(["udhcpc", "-f", "-t", "5", "-T", "1", "-i", "cli0", "-s", "/bin/true"],
                                      stdout=subprocess.DEVNULL)
        time.sleep(5)
        pair.client.stop(reference)
        udhcpc = server.count(1, 3)
        assert udhcpc == 2, server.received()
        server.stop()

        if shutil.which("dhclient"):
            server = RogueServer(pair.server, tmp_path / "received-dhclient.jsonl", "--lease-time", "0")
            dhclient = clients.dhclient(pair)
            time.sleep(5)
            dhclient.stop()
            assert "no expiry time on offered lease" in dhclient.output()
            assert "BOUND" not in dhclient.events()
            assert server.count(1, 3) < 10, server.received()
            server.stop()
            pair.client.run(["ip", "addr", "flush", "dev", "cli0"])

        server = RogueServer(pair.server, tmp_path / "received2.jsonl", "--lease-time", "0")
        hooks = recorder(tmp_path / "hooks", pair.client)
        daemon = start_client(tmp_path, pair.client, [interface(script=str(hooks.directory / "script"))])
        hooks.wait_event({"bound"})
        time.sleep(5)
        ours = server.count(1, 3)
        assert ours <= udhcpc, server.received()
        assert hooks.events() == ["bound"]
        assert addresses(pair.client) == ["10.77.0.50/16"]
        daemon.stop()
        server.stop()


@pytest.mark.parametrize("name, args", [
    ("mtu-four-bytes", ["--option", "26=000005dc"]),
    ("121-prefix-33", ["--option", "121=210a090000000a4d0001"]),
    ("121-host-bits", ["--option", "121=0c0a090a4d0001"]),
    ("no-server-id", ["--no-server-id"]),
])
def test_one_bad_option_does_not_discard_the_offer(tmp_path, clients, name, args):
    """
    Item 16. busybox udhcpc 1.35 binds in each case (with no option 54 it
    logs "no server ID, using 0.0.0.0"), and so does ISC dhclient 4.4
    (naming the server by the source address); so do we, ignoring the bad
    option (counted and logged once) or naming the server by the reply's
    source address.
    """
    with VethPair(prefix="thb") as pair:
        server = RogueServer(pair.server, tmp_path / "received.jsonl", *args)
        out = tmp_path / "udhcpc.out"
        with open(out, "wb") as sink:
            reference = pair.client.spawn(["udhcpc", "-f", "-q", "-n", "-t", "3", "-T", "1", "-i", "cli0",
                                           "-s", "/bin/true"], stdout=sink, stderr=subprocess.STDOUT)
            assert reference.wait(20) == 0, out.read_text()
        assert "lease of 10.77.0.50 obtained" in out.read_text()
        server.stop()
        if shutil.which("dhclient"):
            server = RogueServer(pair.server, tmp_path / "received-dhclient.jsonl", *args)
            dhclient = clients.dhclient(pair)
            dhclient.wait_event({"BOUND"}, timeout=15)
            dhclient.stop()
            server.stop()
        pair.client.run(["ip", "addr", "flush", "dev", "cli0"])

        server = RogueServer(pair.server, tmp_path / "received2.jsonl", *args)
        daemon = start_client(tmp_path, pair.client, [interface()])
        wait_until(lambda: addresses(pair.client) == ["10.77.0.50/16"], 10, f"bound: {daemon.output()}")
        output = daemon.output()
        if name == "no-server-id":
            assert "has no server identifier; using 10.77.0.1" in output
        else:
            assert output.count("ignoring malformed option") == 1, output
        assert server.count(1) == 1
        daemon.stop()
        server.stop()


def test_crash_and_move_removes_the_old_address_and_reboots_from_source_zero(tmp_path):
    """
    Items 17 and 19. The client binds 10.77.0.50, is killed (SIGKILL: the
    address stays on the interface), the link moves to 10.88.0.0/16, and
    the client restarts: its INIT-REBOOT REQUEST leaves with source 0.0.0.0
    (RFC 2131 section 4.1; without the packet socket it carried 10.77.0.50), the new server NAKs
    it, the old address and its route go, the hook runs nak and deconfig,
    and the new lease is bound.
    """
    with VethPair(prefix="thc") as pair:
        server = RogueServer(pair.server, tmp_path / "received.jsonl", "--option", "3=0a4d0001")
        hooks = recorder(tmp_path / "hooks", pair.client)
        client = [interface(script=str(hooks.directory / "script"))]
        daemon = start_client(tmp_path, pair.client, client)
        hooks.wait_event({"bound"})
        wait_until(lambda: addresses(pair.client) == ["10.77.0.50/16"], 5, "first address")
        daemon.stop(signal.SIGKILL)
        server.stop()
        assert addresses(pair.client) == ["10.77.0.50/16"]

        pair.server.run(["ip", "addr", "flush", "dev", "srv0"])
        pair.server.run(["ip", "addr", "add", "10.88.0.1/16", "dev", "srv0"])
        server = RogueServer(pair.server, tmp_path / "received2.jsonl", "--option", "3=0a580001",
                             address="10.88.0.60", server_id="10.88.0.1")
        daemon = start_client(tmp_path, pair.client, client)  # the same state directory
        try:
            wait_until(lambda: addresses(pair.client) == ["10.88.0.60/16"], 15, "only the new address")
        except AssertionError:
            raise AssertionError(f"{addresses(pair.client)}\n{server.received()}\n{daemon.output()}") from None
        reboot = [entry for entry in server.received() if entry["requested"] == "10.77.0.50"]
        assert reboot and all(entry["source"] == "0.0.0.0" for entry in reboot), reboot
        assert all(entry["source"] == "0.0.0.0" for entry in server.received() if entry["type"] in (1, 3))
        # The first run's "bound", then the second run's hooks.
        try:
            wait_until(lambda: len(hooks.events()) >= 4, 5, "the second run's hooks")
        except AssertionError:
            raise AssertionError(f"hook runs: {hooks.events()}") from None
        assert hooks.events() == ["bound", "nak", "deconfig", "bound"], hooks.events()
        assert hooks.environment(1)["serverid"] == "10.88.0.1"  # item 20: the NAK's own variables
        assert [r.get("gateway") for r in routes(pair.client) if r["dst"] == "default"] == ["10.88.0.1"]
        daemon.stop()
        server.stop()


def test_router_outside_the_subnet_gets_an_on_link_route(tmp_path):
    """
    Item 20. A /32 lease with its router outside it: without an on-link
    route the default route fails with ENETUNREACH. dhclient-script and systemd-networkd add
    an on-link host route to the router first; so do we.
    """
    with VethPair(prefix="tho") as pair:
        server = RogueServer(pair.server, tmp_path / "received.jsonl", "--mask", "255.255.255.255",
                             "--option", "3=0a4d0001")
        daemon = start_client(tmp_path, pair.client, [interface()])
        wait_until(lambda: any(r["dst"] == "default" for r in routes(pair.client)), 10,
                   f"default route: {routes(pair.client)} {daemon.output()}")
        table = {r["dst"]: r for r in routes(pair.client)}
        assert table["default"]["gateway"] == "10.77.0.1"
        assert "10.77.0.1" in table and "gateway" not in table["10.77.0.1"], table
        assert "ENETUNREACH" not in daemon.output() and "unreachable" not in daemon.output().lower()
        daemon.stop()
        server.stop()


def test_release_through_the_api_sticks(tmp_path):
    """
    Item 18. A link event must not restart an agent the API released:
    the release restores the link MTU, and that netlink event once started
    the agent again (RELEASE at +0.01 s, DISCOVER at +0.03 s). Released, it stays
    stopped through that and a carrier bounce until it is started.
    """
    port = 8167
    with VethPair(prefix="thr") as pair:
        server = RogueServer(pair.server, tmp_path / "received.jsonl", "--option", "26=0578")
        config = {"state_dir": str(tmp_path / "state"), "client": {"interface": [interface()]},
                  "control": {"listen": f"tcp:{port}:interface=127.0.0.1"}}
        path = tmp_path / "client.toml"
        path.write_text(toml_document(config))
        daemon = Daemon(pair.client, [TWISTD, "-n", "--pidfile=", "-y", str(CLIENT_TAC)], tmp_path / "client.out",
                        dict(os.environ, DHCPSUITE_CONFIG=str(path)))
        wait_until(lambda: addresses(pair.client) == ["10.77.0.50/16"], 10, "bound")
        assert pair.client.run(["cat", "/sys/class/net/cli0/mtu"]).stdout.strip() == "1400"

        def act(action: str) -> dict:
            post = ("import json, sys, urllib.request; r = urllib.request.Request("
                    f"'http://127.0.0.1:{port}/api/v1/clients/cli0/{action}', data=b'{{}}', method='POST', "
                    "headers={'Content-Type': 'application/json'}); "
                    "sys.stdout.write(urllib.request.urlopen(r, timeout=20).read().decode())")
            return json.loads(pair.client.run([sys.executable, "-c", post], timeout=30).stdout)

        assert act("release")["outcome"] == "stopped"
        wait_until(lambda: pair.client.run(["cat", "/sys/class/net/cli0/mtu"]).stdout.strip() == "1500", 5,
                   "MTU restored")
        released = len(server.received())
        assert server.received()[-1]["type"] == 7  # RELEASE
        pair.server.run(["ip", "link", "set", "srv0", "down"])
        pair.server.run(["ip", "link", "set", "srv0", "up"])
        time.sleep(3)
        assert len(server.received()) == released, server.received()[released:]
        assert addresses(pair.client) == []
        assert "agent stopped on request" in daemon.output()

        assert act("start")["outcome"] == "started"
        wait_until(lambda: addresses(pair.client) == ["10.77.0.50/16"], 10, "bound again")
        daemon.stop()
        server.stop()


def test_discover_at_expiry_leaves_from_source_zero(tmp_path):
    """
    Item 19. The server answers only the first exchange (an 8 s lease,
    allowed by C{minimum_lease = 4}) and then stays silent: the renewal
    (unicast) and the rebinding (broadcast, C{ciaddr} set) carry the leased
    address, as they should; the DISCOVER after expiry must carry 0.0.0.0
    (RFC 2131 section 4.1), not the expired address, which may still be
    being removed.
    """
    with VethPair(prefix="the") as pair:
        server = RogueServer(pair.server, tmp_path / "received.jsonl", "--lease-time", "8", "--max-replies", "2")
        daemon = start_client(tmp_path, pair.client, [interface(minimum_lease=4, renew_minimum=1)])
        wait_until(lambda: server.count(1) >= 2, 15, "a DISCOVER after expiry")
        received = server.received()
        first_request = next(i for i, entry in enumerate(received) if entry["type"] == 3)
        later = received[first_request + 1:]
        renewals = [entry for entry in later if entry["type"] == 3]
        assert renewals and all(entry["source"] == "10.77.0.50" for entry in renewals), later
        discovers = [entry for entry in later if entry["type"] == 1]
        assert discovers and all(entry["source"] == "0.0.0.0" for entry in discovers), later
        assert "BOUND -> RENEWING" in daemon.output() and "lease expired" in daemon.output()
        daemon.stop()
        server.stop()
