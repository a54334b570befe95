"""
The Grafana dashboard and the Prometheus alert rules in contrib/ against a
running daemon: every metric they name, and every label they select on, is
in its /metrics; the rules pass C{promtool check rules}, and C{promtool
test rules} shows each alert firing on the series it is written for and
staying quiet on the healthy case beside it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.conftest import REPOSITORY, server_config
from tests.integration.test_control import PORT, metrics, wait_http
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair, run

DASHBOARD = REPOSITORY / "contrib" / "grafana" / "dhcpsuite-dashboard.json"
RULES = REPOSITORY / "contrib" / "prometheus" / "dhcpsuite-alerts.yml"
RULE_TESTS = REPOSITORY / "contrib" / "prometheus" / "dhcpsuite-alerts.test.yml"
INGEST_PORT = 50324
_NAME = re.compile(r"\bdhcpsuite_[a-z0-9_]+")
_SELECTOR = re.compile(r"\b(dhcpsuite_[a-z0-9_]+)\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def dashboard_expressions() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    expressions = []
    for panel in document["panels"]:
        expressions += [t["expr"] for t in panel.get("targets", [])]
    for variable in document["templating"]["list"]:
        if variable["type"] == "query":
            expressions.append(variable["definition"])
    return expressions


def rule_expressions() -> list[str]:
    text = RULES.read_text()
    # The expressions only: comments and annotations may mention other things.
    return [m.group(1) for m in re.finditer(r"expr: \|?\n?((?:.*\n)*?)(?=\s+(?:for|labels):)", text)]


def exposed(families: dict) -> dict[str, set[str]]:
    """
    Every series name /metrics can hold, with the label names seen on it.
    """
    names: dict[str, set[str]] = {}
    for family in families.values():
        for name in [family.name, *(family.name + s for s in _SUFFIXES.get(family.type, ()))]:
            names.setdefault(name, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def gateway_config(tmp_path: Path) -> dict:
    config = server_config(tmp_path / "state")
    config["netlink"] = {}
    config["client"] = {"interface": [{"name": "wan9", "arp_probe": False, "initial_delay": 0.0, "configure": False}]}
    config["ingest"] = {"endpoint": f"tcp:{INGEST_PORT}:interface=127.0.0.1", "interfaces": ["wan9"]}
    config["control"] = {"listen": f"tcp:{PORT}:interface=127.0.0.1"}
    return config


def test_every_metric_used_exists(tmp_path, daemons, clients):
    """
    A daemon with every component (server with its SQLite store, client,
    ingest, netlink, control), a udhcpc bound through it and a dropped
    packet, so each family has samples whose labels can be checked.
    """
    require_root()
    require_programs("udhcpc")
    with VethPair() as pair:
        # The WAN client's interface: a veth with nobody serving on its peer.
        pair.server.run(["ip", "link", "add", "wan9", "type", "veth", "peer", "name", "wan9p"])
        for ifname in ("wan9", "wan9p"):
            pair.server.run(["ip", "link", "set", ifname, "up"])
        daemon = daemons.start(pair.server, gateway_config(tmp_path))
        wait_http(pair, daemon)
        clients.udhcpc(pair, "-q").wait_event({"bound"})
        # One truncated DHCP packet: a drop with a reason.
        send = "import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b'x'*10, ('10.77.0.1', 67))"
        pair.server.run(["python3", "-c", send])
        pair.server.run(["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {INGEST_PORT}), 5).close()"])
        families = metrics(pair)
        names = exposed(families)
        for expressions, where in ((dashboard_expressions(), DASHBOARD.name), (rule_expressions(), RULES.name)):
            assert expressions, f"no expressions found in {where}"
            used = {n for e in expressions for n in _NAME.findall(e)}
            assert used, where
            assert sorted(used - set(names)) == [], f"{where} uses metrics the daemon does not expose"
            for e in expressions:
                for name, matchers in _SELECTOR.findall(e):
                    labels = {_MATCHER_LABEL.match(m).group(1) for m in matchers.split(",") if m.strip()}
                    labels.discard("instance")  # added by Prometheus at scrape time
                    assert labels <= names[name], f"{where}: {name} has no label {labels - names[name]} ({e})"
        # The metrics the dashboard's main panels need have samples, not only a family.
        for name in ("dhcpsuite_server_pool_addresses", "dhcpsuite_client_state", "dhcpsuite_server_packets_dropped_total",
                     "dhcpsuite_lease_store_commit_seconds_bucket", "dhcpsuite_ingest_events_total"):
            assert names[name] or name.endswith("_bucket"), f"{name} has no samples"


def test_rules_check_and_fire():
    programs = require_programs("promtool")
    checked = run([programs["promtool"], "check", "rules", str(RULES)], check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout
    tested = run([programs["promtool"], "test", "rules", RULE_TESTS.name], check=False, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_dashboard_is_importable():
    """
    What Grafana's import needs: unique panel ids, a data source on every
    panel, and the data source as a variable so it is chosen on import.
    """
    document = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in document["panels"]]
    assert len(ids) == len(set(ids))
    panels = [p for p in document["panels"] if p["type"] != "row"]
    assert all(p["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for p in panels)
    assert {v["name"] for v in document["templating"]["list"]} == {"datasource", "instance"}
    titles = {p["title"] for p in document["panels"]}
    assert {"Pool use", "Drops per minute by reason", "Commit latency", "Client states", "Ingest events per minute", "Netlink"} <= titles


