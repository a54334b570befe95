"""
Tests for what an operator trips on in C{dhcpsuite-ctl} (issue 17 item 7):
global options after the verb, as C{ip -j}/C{systemctl} users expect
(C{dhcpsuite-ctl status --json}), and C{leases --csv}.
"""

from __future__ import annotations

import csv
import io

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.control import cli

LEASES = {
    "leases": [
        {"address": "10.0.0.5", "state": "bound", "mac": "02:00:00:00:00:05", "hostname": "=cmd|' /C calc'!A0", "remaining": 59},
        {"address": "10.0.0.6", "state": "bound", "mac": "02:00:00:00:00:06", "hostname": "a,b \"c\"", "remaining": None},
    ],
    "offset": 0,
    "total": 2,
}


class GlobalOptionsTests(SynchronousTestCase):
    def test_after_the_verb(self):
        args = cli.build_parser().parse_args(["status", "--json", "--url", "http://127.0.0.1:9", "--token", "t" * 16, "--timeout", "5"])
        self.assertEqual((args.json, args.url, args.token, args.timeout), (True, "http://127.0.0.1:9", "t" * 16, 5.0))

    def test_before_the_verb_not_overwritten(self):
        args = cli.build_parser().parse_args(["--json", "--url", "unix:/run/x.sock", "leases", "--state", "active"])
        self.assertEqual((args.json, args.url, args.timeout, args.state), (True, "unix:/run/x.sock", 30.0, "active"))

    def test_defaults(self):
        args = cli.build_parser().parse_args(["clients"])
        self.assertEqual((args.json, args.url, args.config, args.token, args.timeout), (False, None, None, None, 30.0))

    def test_every_verb(self):
        parser = cli.build_parser()
        for verb in ("status", "interfaces", "clients", "ingest", "leases", "monitor"):
            self.assertTrue(parser.parse_args([verb, "--json"]).json, verb)
        self.assertEqual(parser.parse_args(["renew", "wan0", "--timeout", "3"]).timeout, 3.0)


class CsvTests(SynchronousTestCase):
    def run_ctl(self, *argv: str) -> tuple[int, str]:
        requests = []

        def request(client, method, path, query=None, body=None):
            requests.append((method, path, query))
            return LEASES

        self.patch(cli.ApiClient, "request", request)
        out = io.StringIO()
        self.patch(cli.sys, "stdout", out)
        code = cli.main(list(argv))
        self.assertEqual(requests[0][:2], ("GET", "leases"))
        return code, out.getvalue()

    def test_csv(self):
        """
        A header, one row per lease, quoting as the csv module reads it; a
        hostname that a spreadsheet would run as a formula is kept as text.
        """
        code, text = self.run_ctl("leases", "--csv")
        self.assertEqual(code, 0)
        rows = list(csv.reader(io.StringIO(text)))
        self.assertEqual(rows[0], list(cli.views.LEASE_COLUMNS))
        self.assertEqual(rows[1], ["10.0.0.5", "bound", "02:00:00:00:00:05", "'=cmd|' /C calc'!A0", "59"])
        self.assertEqual(rows[2], ["10.0.0.6", "bound", "02:00:00:00:00:06", 'a,b "c"', "forever"])
        self.assertEqual(len(rows), 3)

    def test_csv_escapes_control_characters(self):
        """
        A hostname from the network cannot send terminal escapes or forge a
        line through the CSV either: control characters are shown escaped,
        as in the tables.
        """
        hostile = {"leases": [dict(LEASES["leases"][0], hostname="x\x1b[2J\r\ny")], "offset": 0, "total": 1}
        self.patch(cli.ApiClient, "request", lambda *a, **k: hostile)
        out = io.StringIO()
        self.patch(cli.sys, "stdout", out)
        self.assertEqual(cli.main(["leases", "--csv"]), 0)
        self.assertNotIn("\x1b", out.getvalue())
        self.assertEqual(list(csv.reader(io.StringIO(out.getvalue())))[1][3], "x\\x1b[2J\\x0d\\x0ay")

    def test_json_wins(self):
        code, text = self.run_ctl("leases", "--csv", "--json")
        self.assertEqual((code, text.lstrip()[:1]), (0, "{"))
