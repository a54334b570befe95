"""
A token-protected control plane in a real browser: headless Chromium opens
the status page of a daemon (in its own namespace, on loopback) with the
token as the password of a URL's credentials. Chromium sends credentials
only in answer to a Basic challenge, so the page comes only when the
daemon asks for them; without them Chromium shows the 401. A POST with the
same Basic credentials is refused: changes need the bearer header. Guessing
is limited per address (C{auth_failures_per_minute}).

For comparison: Kea's control agent takes HTTP Basic for everything
(C{authentication} with C{type: basic}), changes included; its own
clients send it. Here Basic is only for reading, because a browser
attaches it to other sites' requests as well.
"""

from __future__ import annotations

import base64
import json
import sys

from tests.integration.conftest import server_config, wait_until
from tests.integration.test_control import PORT, ctl
from tests.integration.test_control_page import chromium
from tests.support.environment import require_programs, require_root
from tests.support.netns import VethPair

TOKEN = "browser-token-0123456789"

REQUEST = r"""
import http.client, json, sys
method, path, headers = json.loads(sys.argv[1])
connection = http.client.HTTPConnection("127.0.0.1", %d, timeout=10)
connection.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
response = connection.getresponse()
print(json.dumps({"status": response.status, "challenges": response.headers.get_all("WWW-Authenticate") or [],
                  "body": response.read().decode("utf-8", "replace")}))
""" % PORT


def http(pair: VethPair, method: str, path: str, headers: dict[str, str]) -> dict:
    result = pair.server.run([sys.executable, "-c", REQUEST, json.dumps([method, path, headers])], timeout=30)
    return json.loads(result.stdout)


def test_status_page_opens_in_chromium_with_the_token_as_password(tmp_path, daemons):
    require_root()
    programs = require_programs("chromium")
    config = server_config(tmp_path / "state")
    config["control"] = {"listen": f"tcp:{PORT}:interface=127.0.0.1", "refresh": 300, "token": TOKEN}
    with VethPair() as pair:
        daemon = daemons.start(pair.server, config)
        wait_until(lambda: ctl(pair, "--token", TOKEN, "status").returncode == 0, 15,
                   f"the control API to answer; daemon output:\n{daemon.output()}")
        profile = tmp_path / "chromium-profile"

        anonymous = chromium(pair, programs["chromium"], profile, "--dump-dom", f"http://127.0.0.1:{PORT}/")
        assert 'id="pools"' not in anonymous, anonymous[:500]

        page = chromium(pair, programs["chromium"], profile, "--dump-dom", f"http://operator:{TOKEN}@127.0.0.1:{PORT}/")
        assert 'id="pools"' in page and "10.77.0.0/16" in page, page[:800]
        wrong = chromium(pair, programs["chromium"], profile, "--dump-dom",
                         f"http://operator:wrong-token-000000000@127.0.0.1:{PORT}/")
        assert 'id="pools"' not in wrong, wrong[:500]

        basic = {"Authorization": "Basic " + base64.b64encode(f"operator:{TOKEN}".encode()).decode(),
                 "Content-Type": "application/json"}
        change = http(pair, "POST", "/api/v1/config/reload", basic)
        assert change["status"] == 401 and "Bearer" in change["body"], change
        assert change["challenges"] == ['Bearer realm="dhcpsuite"'], change
        bearer = http(pair, "POST", "/api/v1/config/reload", {**basic, "Authorization": f"Bearer {TOKEN}"})
        assert bearer["status"] == 200, bearer
        refusals = http(pair, "GET", "/metrics", basic)
        assert refusals["status"] == 200, refusals
        # At least the anonymous visit, the wrong password and the POST
        # (Chromium also asks once without credentials before sending them).
        counted = next(line for line in refusals["body"].splitlines()
                       if line.startswith('dhcpsuite_control_refusals_total{reason="token"}'))
        assert float(counted.split()[-1]) >= 3, counted

        # Guessing the password goes no faster: within auth_failures_per_minute
        # (10) misses from this address, even the right token gets a 429.
        guesses = []
        for n in range(12):
            wrong = {"Authorization": "Basic " + base64.b64encode(f"operator:guess-{n:016d}".encode()).decode()}
            guesses.append(http(pair, "GET", "/", wrong)["status"])
            if guesses[-1] == 429:
                break
        assert guesses[-1] == 429 and set(guesses[:-1]) == {401} and len(guesses) <= 11, guesses
        locked = http(pair, "GET", "/api/v1/status", {"Authorization": f"Bearer {TOKEN}"})
        assert locked["status"] == 429 and "try again" in locked["body"], locked
