"""
The control plane against a running daemon in a namespace: the CLI, the
metrics moving with traffic, and the refusal to listen on the network
without a token. (The status page in headless Chromium: test_control_page.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import TWISTD, server_config, wait_until
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair

CTL = str(Path(sys.executable).with_name("dhcpsuite-ctl"))
PORT = 8067


def control_config(tmp_path: Path) -> dict:
    config = server_config(tmp_path / "state")
    config["control"] = {"listen": f"tcp:{PORT}:interface=127.0.0.1", "refresh": 2}
    return config


def ctl(pair: VethPair, *args: str) -> subprocess.CompletedProcess:
    return pair.server.run([CTL, "--url", f"http://127.0.0.1:{PORT}", *args], check=False, timeout=30)


def metrics(pair: VethPair) -> dict:
    fetch = "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:%d/metrics').read().decode())" % PORT
    text = pair.server.run([sys.executable, "-c", fetch], timeout=30).stdout
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(families: dict, name: str, **labels: str) -> float:
    for s in families[name].samples:
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def wait_http(pair: VethPair, daemon) -> None:
    def up():
        return ctl(pair, "status").returncode == 0
    try:
        wait_until(up, 15, "the control API to answer")
    except AssertionError:
        raise AssertionError(f"control API never answered; daemon output:\n{daemon.output()}") from None


def test_cli_and_metrics_follow_traffic(tmp_path, daemons, clients):
    require_root()
    require_programs("udhcpc")
    with VethPair() as pair:
        daemon = daemons.start(pair.server, control_config(tmp_path))
        wait_http(pair, daemon)
        before = metrics(pair)
        assert sample(before, "dhcpsuite_server_exchanges", result="ack") == 0

        client = clients.udhcpc(pair, "-q")
        client.wait_event({"bound"})
        address = client.environment(client.events().index("bound"))["ip"]

        listing = ctl(pair, "--json", "leases", "--state", "active")
        assert listing.returncode == 0, listing.stderr
        leases = json.loads(listing.stdout)["leases"]
        assert [l["address"] for l in leases] == [address]
        assert leases[0]["mac"] == pair.client_mac_address()

        table = ctl(pair, "leases")
        assert address in table.stdout and "ADDRESS" in table.stdout
        status = ctl(pair, "status")
        assert "healthy" in status.stdout and "server" in status.stdout

        after = metrics(pair)
        assert sample(after, "dhcpsuite_server_exchanges", result="ack") == 1
        assert sample(after, "dhcpsuite_server_exchanges", result="offer") >= 1
        assert sample(after, "dhcpsuite_server_packets_received", type="discover") >= 1
        pools = {s.labels["use"]: s.value for s in after["dhcpsuite_server_pool_addresses"].samples}
        assert pools == {"active": 1.0, "free": 99.0}
        commits = [s for s in after["dhcpsuite_lease_store_commit_seconds"].samples if s.name.endswith("_count")]
        assert commits and commits[0].value >= 1

        revoked = ctl(pair, "--json", "revoke", address)
        assert json.loads(revoked.stdout) == {"revoked": address}
        assert json.loads(ctl(pair, "--json", "leases").stdout)["total"] == 0
        missing = ctl(pair, "revoke", address)
        assert missing.returncode == 1 and "404" in missing.stderr


def test_remote_listen_without_token_refused(tmp_path, daemons):
    require_root()
    config = server_config(tmp_path / "state")
    config["control"] = {"listen": f"tcp:{PORT}:interface=0.0.0.0"}
    path = daemons.write_config(config)
    result = subprocess.run([TWISTD, "-n", "--pidfile=", "dhcpsuite", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert "control.listen" in lines[0] and "allow_remote" in lines[0] and "token" in lines[0]
