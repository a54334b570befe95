"""
JSON-lines logging (twistd --logger=dhcpsuite.logs.json_stdout): one JSON
object per line, with an exchange's structured fields kept.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile

from twisted.logger import ILogObserver, Logger
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite import logs


class JsonLogTests(SynchronousTestCase):
    def test_one_object_per_line_with_fields(self) -> None:
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        observer = logs.json_stdout()
        verifyObject(ILogObserver, observer)
        log = Logger(observer=observer, namespace="dhcpsuite.server.protocol.ServerProtocol")
        log.info("{request} from {mac} via {interface}: {event} {address}", request="REQUEST",
                 mac="02:00:00:00:00:01", interface="lan0", event="ACK", address="10.0.0.10", xid=7)
        log.warn("Dropped malformed packet: {error}", error="truncated")
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2)
        first = json.loads(lines[0])
        self.assertEqual((first["mac"], first["address"], first["event"], first["xid"]), ("02:00:00:00:00:01", "10.0.0.10", "ACK", 7))
        self.assertEqual(first["log_level"]["name"], "info")
        self.assertEqual(json.loads(lines[1])["error"], "truncated")

    def test_json_file(self) -> None:
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        path = os.path.join(directory, "log.jsonl")
        self.patch(logs.os, "environ", {logs.LOG_FILE_VARIABLE: path})
        observer = logs.json_file()
        Logger(observer=observer).info("hello {who}", who="world")
        with open(path) as f:
            self.assertEqual(json.loads(f.readline())["who"], "world")


class TextLogTests(SynchronousTestCase):
    """
    The text log (C{--logger=dhcpsuite.logs.text_stdout}) with hostile field
    values: dhcpd and Kea log a client's hostname as sent; journald and
    rsyslog escape control characters only on their side. We escape before
    the line leaves the daemon.
    """

    def test_hostile_fields_render_escaped_on_one_line(self) -> None:
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        observer = logs.text_stdout()
        verifyObject(ILogObserver, observer)
        log = Logger(observer=observer, namespace="dhcpsuite.client.shell.agent")
        message = "bye\r\n2026-01-01T00:00:00+0000 [dhcpsuite#info] forged\x1b[2J\x1b]0;title\x07\x9b1m\u202e"
        log.info("NAK from {server}: {message} ({error!r})", server="192.0.2.1", message=message, error=ValueError("a\nb"))
        text = out.getvalue()
        self.assertEqual(text.count("\n"), 1, text)
        for raw in ("\r", "\x1b", "\x07", "\x9b", "\u202e"):
            self.assertNotIn(raw, text)
        self.assertIn(r"bye\x0d\x0a2026-01-01T00:00:00+0000 [dhcpsuite#info] forged\x1b[2J\x1b]0;title\x07\x9b1m\u202e", text)
        self.assertIn(r"ValueError('a\nb')", text)

    def test_plain_events_unchanged_and_tracebacks_keep_their_lines(self) -> None:
        out = io.StringIO()
        log = Logger(observer=logs.text_observer(out), namespace="ns")
        log.info("ACK {address} to {mac}, {count} leases", address="10.0.0.10", mac="02:00:00:00:00:01", count=3)
        try:
            raise RuntimeError("boom\x1b[2J")
        except RuntimeError:
            log.failure("Action failed for {ifname}", ifname="wan\n0")
        lines = out.getvalue().splitlines()
        self.assertTrue(lines[0].endswith("[ns#info] ACK 10.0.0.10 to 02:00:00:00:00:01, 3 leases"), lines[0])
        self.assertTrue(lines[1].endswith(r"Action failed for wan\x0a0"), lines[1])
        self.assertTrue(all(line.startswith("\t") for line in lines[2:]) and len(lines) > 3, lines)
        self.assertIn(r"RuntimeError: boom\x1b[2J", lines[-1])
        self.assertNotIn("\x1b", out.getvalue())


class DefaultLoggerTests(SynchronousTestCase):
    """
    C{twistd -n dhcpsuite} logs through the escaping text observer unless
    told otherwise (C{--logger}, or C{--logfile}, which keeps twistd's
    rotating file).
    """

    def parse(self, *args: str):
        from twisted.scripts.twistd import ServerOptions

        options = ServerOptions()
        options.parseOptions(list(args))
        return options["logger"]

    def test_nodaemon_defaults_to_escaped_text(self) -> None:
        self.assertIs(self.parse("-n", "--pidfile=", "dhcpsuite"), logs.text_stdout)
        self.assertIs(self.parse("-n", "--logfile=-", "dhcpsuite"), logs.text_stdout)

    def test_explicit_choices_stand(self) -> None:
        self.assertIs(self.parse("-n", "--logger=dhcpsuite.logs.json_stdout", "dhcpsuite"), logs.json_stdout)
        self.assertIsNone(self.parse("-n", "--logfile=/nonexistent/dhcpsuite.log", "dhcpsuite"))
