"""
The lease history against a running daemon and real udhcpc clients in
namespaces: a binding, its renewal (SIGUSR1), its release (SIGUSR2), and
another client (another MAC) given the same address later; then
C{dhcpsuite-ctl history ADDRESS --at T} must name the right MAC (or nobody)
for an instant in each interval, and C{GET /api/v1/history} the same.

Kea's legal-log hook records the same exchanges as lines of text ("Address:
10.77.0.100 has been assigned for 0 hrs 40 mins 0 secs to a device with
hardware address: hwtype=1 02:..., client-id: ..."): finding who held an
address at an instant is left to grep and arithmetic over those lines. ISC
dhcpd keeps only the latest state of each address in dhcpd.leases.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.parse

from tests.integration.conftest import wait_until
from tests.integration.test_control import PORT, control_config, ctl, metrics, sample, wait_http
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair

SECOND_MAC = "02:00:5e:10:20:30"
# A hostname with a terminal escape and a newline: it must reach the
# operator's terminal as visible escapes.
HOSTILE_HOSTNAME = "ev\x1b[2Jil\nrow"


def api(pair: VethPair, path: str, query: dict) -> tuple[int, dict]:
    url = f"http://127.0.0.1:{PORT}/api/v1/{path}?{urllib.parse.urlencode(query)}"
    fetch = (
        "import json, sys, urllib.request, urllib.error\n"
        "try:\n"
        f"    r = urllib.request.urlopen({url!r}, timeout=20); print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code); print(e.read().decode())\n"
    )
    out = pair.server.run([sys.executable, "-c", fetch], timeout=30).stdout
    status, _, body = out.partition("\n")
    return int(status), json.loads(body)


def lease_state(pair: VethPair, address: str) -> str | None:
    data = json.loads(ctl(pair, "--json", "leases").stdout)
    return next((l["state"] for l in data["leases"] if l["address"] == address), None)


def holder(pair: VethPair, address: str, at: float) -> list[str]:
    result = ctl(pair, "--json", "history", address, "--at", repr(at))
    assert result.returncode == 0, result.stderr
    return [b["mac"] for b in json.loads(result.stdout)["bindings"]]


def release(pair: VethPair, client, address: str) -> float:
    """
    udhcpc releases (SIGUSR2); once the server has the RELEASE, the time,
    and the client is stopped.
    """
    client.signal(signal.SIGUSR2)
    wait_until(lambda: lease_state(pair, address) == "released", 10, "the RELEASE to reach the server")
    released = time.time()
    client.stop()
    return released


def test_who_held_the_address_when(tmp_path, daemons, clients):
    require_root()
    require_programs("udhcpc")
    config = control_config(tmp_path)
    config["server"]["history"] = {"enabled": True, "server_name": "lab-dhcp-1"}
    with VethPair() as pair:
        daemon = daemons.start(pair.server, config)
        wait_http(pair, daemon)
        first_mac = pair.client_mac_address()

        first = clients.udhcpc(pair)
        first.wait_event({"bound"})
        address = first.environment(first.events().index("bound"))["ip"]
        t_bound = time.time()
        time.sleep(1.1)

        first.signal(signal.SIGUSR1)
        first.wait_event({"renew"}, after=1)
        t_renewed = time.time()
        time.sleep(1.1)

        t_released = release(pair, first, address)
        time.sleep(1.1)
        t_free = time.time()
        time.sleep(1.1)

        pair.client.run(["ip", "link", "set", pair.client_if, "address", SECOND_MAC])
        second = clients.udhcpc(pair, "-r", address, "-x", f"hostname:{HOSTILE_HOSTNAME}")
        index, _ = second.wait_event({"bound"})
        assert second.environment(index)["ip"] == address
        t_second = time.time()
        time.sleep(0.2)

        # Each interval, by an instant just inside it.
        assert holder(pair, address, t_bound) == [first_mac]
        assert holder(pair, address, t_renewed) == [first_mac]
        assert holder(pair, address, t_released) == []
        assert holder(pair, address, t_free) == []
        assert holder(pair, address, t_second) == [SECOND_MAC]
        assert holder(pair, address, t_bound - 3600) == []

        # The API answers the same.
        for at, macs in ((t_bound, [first_mac]), (t_free, []), (t_second, [SECOND_MAC])):
            status, body = api(pair, "history", {"key": address, "at": repr(at)})
            assert status == 200 and [b["mac"] for b in body["bindings"]] == macs

        # The range: every event, and the two bindings as intervals.
        status, body = api(pair, "history", {"key": address, "from": repr(t_bound - 60), "to": repr(time.time())})
        assert status == 200
        assert [(e["event"], e["mac"]) for e in body["events"]] == [
            ("ack", first_mac), ("renew", first_mac), ("release", first_mac), ("ack", SECOND_MAC),
        ]
        assert all(e["server"] == "lab-dhcp-1" and e["server_id"] == "10.77.0.1" for e in body["events"])
        assert [(i["mac"], i["ended_by"], i["renewals"]) for i in body["intervals"]] == [
            (first_mac, "release", 1), (SECOND_MAC, "lease-end", 0),
        ]
        # By MAC: what the first client held.
        status, body = api(pair, "history", {"key": first_mac, "from": repr(t_bound - 60), "to": repr(time.time())})
        assert [i["address"] for i in body["intervals"]] == [address]

        # Counted in /metrics: four recorded and written, none dropped.
        families = metrics(pair)
        assert sample(families, "dhcpsuite_lease_history_records", result="recorded") == 4
        assert sample(families, "dhcpsuite_lease_history_records", result="written") == 4
        assert sample(families, "dhcpsuite_lease_history_records", result="dropped") == 0

        # The hostname from the network is escaped in the table.
        table = ctl(pair, "history", address, "--at", repr(t_second))
        assert table.returncode == 0, table.stderr
        assert "\x1b" not in table.stdout and "ev\\x1b[2Jil\\x0arow" in table.stdout
        assert SECOND_MAC in table.stdout

        # Bad input: a 400 naming the parameter, from the API and the ctl.
        status, body = api(pair, "history", {"key": address, "at": "14:02 on the 1st"})
        assert status == 400 and body["error"].startswith("at:")
        status, body = api(pair, "history", {"key": address, "from": "0", "to": repr(time.time())})
        assert status == 400 and body["error"].startswith("to:")
        status, body = api(pair, "history", {"key": "10.77.0.300"})
        assert status == 400 and body["error"].startswith("key:")
        huge = ctl(pair, "history", address, "--from", "1970-01-01T00:00Z", "--to", "2030-01-01T00:00Z")
        assert huge.returncode == 1 and "400" in huge.stderr and "to:" in huge.stderr
        malformed = ctl(pair, "history", address, "--at", "noon")
        assert malformed.returncode == 1 and "--at" in malformed.stderr
        second.stop()
