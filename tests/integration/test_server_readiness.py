"""
With [netlink] configured, the server serves an interface only while it is
up, has carrier and is addressed in its subnet — the vsomeip pattern — and
the control API shows the interface table with readiness.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.integration.conftest import server_config, wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair

CTL = str(Path(sys.executable).with_name("dhcpsuite-ctl"))


def listening(pair: VethPair) -> bool:
    return bool(pair.server.run(["ss", "-Hlun", "sport = :67"], check=False).stdout.strip())


def test_serves_only_when_ready(tmp_path, daemons, clients):
    require_root()
    require_programs("udhcpc")
    config = server_config(tmp_path / "state")
    config["netlink"] = {}
    config["control"] = {"listen": "tcp:8067:interface=127.0.0.1"}
    with VethPair() as pair:
        # Start with srv0 unaddressed: the daemon must wait, not fail.
        pair.server.run(["ip", "addr", "flush", "dev", pair.server_if])
        daemon = daemons.start(pair.server, config, wait=False)
        wait_until(lambda: "Waiting for srv0" in daemon.output(), 15, "the daemon to wait for srv0")
        time.sleep(0.3)
        assert not listening(pair)

        pair.server.run(["ip", "addr", "add", "10.77.0.1/16", "dev", pair.server_if])
        wait_until(lambda: listening(pair), 5, "the server to start serving srv0 once addressed")
        client = clients.udhcpc(pair, "-q")
        client.wait_event({"bound"})
        assert client.environment(client.events().index("bound"))["serverid"] == "10.77.0.1"

        table = json.loads(pair.server.run([CTL, "--json", "interfaces"]).stdout)["interfaces"]
        srv0 = next(i for i in table if i["name"] == "srv0")
        assert srv0["ready"] is True and "10.77.0.1/16" in srv0["addresses"] and srv0["carrier"] is True

        # Renumbered while it stays ready: new clients get the new identifier.
        # (With promote_secondaries, as systemd sets it, removing the old
        # primary keeps the new address; without it the kernel drops both.)
        pair.server.run(["sysctl", "-qw", f"net.ipv4.conf.{pair.server_if}.promote_secondaries=1"])
        pair.server.run(["ip", "addr", "add", "10.77.0.2/16", "dev", pair.server_if])
        pair.server.run(["ip", "addr", "del", "10.77.0.1/16", "dev", pair.server_if])
        wait_until(lambda: "Server identifier on srv0: 10.77.0.1 -> 10.77.0.2" in daemon.output(), 5,
                   "the server to take its new address as identifier")
        assert listening(pair)
        renumbered = clients.udhcpc(pair, "-q")
        renumbered.wait_event({"bound"})
        assert renumbered.environment(renumbered.events().index("bound"))["serverid"] == "10.77.0.2"

        pair.server.run(["ip", "link", "set", pair.server_if, "down"])
        wait_until(lambda: not listening(pair), 5, "the server to stop serving srv0 when it goes down")
        assert "Stopped serving srv0" in daemon.output()
        pair.server.run(["ip", "link", "set", pair.server_if, "up"])
        wait_until(lambda: listening(pair), 10, "the server to serve srv0 again")
        assert daemon.stop() in (0, -15)
