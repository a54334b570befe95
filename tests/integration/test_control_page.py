"""
The status page of a running daemon, with leases bound by real clients
(busybox udhcpc in a namespace), loaded in headless Chromium with
JavaScript left on but none on the page: the DOM has the pool bars, the
exchanges chart, a searched lease, and a hostile hostname as text; the
screenshot is kept.

For comparison: ISC dhcpd has no status page; Kea's Stork draws pool use and
lease search with a JavaScript front end and its own server; dnsmasq has
none. Here the daemon serves it, no script, no external asset.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
from pathlib import Path

from tests.integration.conftest import REPOSITORY, server_config, subnet_config
from tests.integration.test_control import PORT, wait_http
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair

ARTIFACTS = Path(os.environ.get("DHCPSUITE_ARTIFACTS", REPOSITORY / "test-artifacts"))
HOSTILE = b"<script>alert(1)</script>\x1b[2J\r\nforged"
NAMES = ("page-one", "page-two", "page-three")


def chromium(pair: VethPair, program: str, profile: Path, *args: str) -> str:
    flags = [
        program, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args,
    ]
    result = pair.server.run(flags, timeout=90, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_status_page_in_chromium(tmp_path, daemons, clients):
    require_root()
    programs = require_programs("udhcpc", "chromium")
    config = server_config(
        tmp_path / "state",
        subnet_config(reservation=[{"mac": "02:00:00:00:77:01", "address": "10.77.0.42", "hostname": "printer"}]),
    )
    # A long refresh: the DOM is dumped once, not while reloading.
    config["control"] = {"listen": f"tcp:{PORT}:interface=127.0.0.1", "refresh": 300}
    with VethPair() as pair:
        daemon = daemons.start(pair.server, config)
        wait_http(pair, daemon)
        bound = {}
        # Four clients on one link, told apart by their client identifiers;
        # the last sends a hostname with markup, ESC and CR/LF (option 12 as raw bytes).
        for n, name in enumerate((*NAMES, None)):
            hostname = ["-x", f"hostname:{name}"] if name else ["-x", f"0x0c:{HOSTILE.hex()}"]
            client = clients.udhcpc(pair, "-q", "-x", f"0x3d:ff0000000{n}", *hostname)
            client.wait_event({"bound"})
            bound[name] = client.environment(client.events().index("bound"))["ip"]

        url = f"http://127.0.0.1:{PORT}"
        profile = tmp_path / "chromium-profile"
        dom = chromium(pair, programs["chromium"], profile, "--dump-dom", url + "/")
        assert "<script" not in dom
        pools = dom.split('id="pools"')[1].split("</section>")[0]
        assert "4 of 100 in use (4 %)" in pools, pools
        assert 'class="fill fine w4"' in pools
        chart = dom.split('id="exchanges"')[1].split("</section>")[0]
        assert re.search(r'<svg class="chart"[^>]*>', chart)
        assert len(re.findall(r'<polyline class="line line-(offer|ack|nak|drop)"', chart)) == 4
        assert "acks: 4 in the last hour" in chart and "offers: 4 in the last hour" in chart, chart[:600]
        # The ack line leaves the baseline somewhere in the last minutes.
        ack_points = re.search(r'line-ack" points="([^"]+)"', chart).group(1).split()
        assert min(float(p.split(",")[1]) for p in ack_points) < max(float(p.split(",")[1]) for p in ack_points)
        reservations = dom.split('id="reservations"')[1].split("</section>")[0]
        assert "10.77.0.42" in reservations and "printer" in reservations and "not in use" in reservations
        assert "up " in dom and "True" not in dom and "{'" not in dom

        found = chromium(pair, programs["chromium"], profile, "--dump-dom", url + "/leases?q=page-tw")
        leases = found.split('id="leases"')[1]
        assert "1–1 of 1" in leases, leases[:800]
        assert bound["page-two"] in leases and "page-two" in leases
        assert re.search(r"\d+ min left", leases)
        assert bound["page-one"] not in leases

        hostile = chromium(pair, programs["chromium"], profile, "--dump-dom", url + f"/leases?q={bound[None]}")
        assert "<script" not in hostile
        row = hostile.split('id="leases"')[1]
        shown = html.unescape(re.sub(r"<[^>]+>", " ", row))
        assert r"<script>alert(1)</script>\x1b[2J\x0d\x0aforged" in shown, row[:1500]
        for raw in ("\x1b", "\r"):
            assert raw not in hostile

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for name, path in (("status-page.png", "/"), ("leases-page.png", "/leases?q=10.77.0.0/24")):
            screenshot = tmp_path / name
            chromium(pair, programs["chromium"], profile, f"--screenshot={screenshot}", "--window-size=1280,1600", url + path)
            assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20000
            kept = shutil.copy(screenshot, ARTIFACTS / name)
            print(f"\nscreenshot of {path}: {screenshot} (copied to {kept})", file=sys.stderr)
