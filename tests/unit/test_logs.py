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
