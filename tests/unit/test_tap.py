"""
Tests for L{dhcpsuite.tap}: twistd options and L{makeService}.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile

from twisted.application import service
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite import __version__, tap
from dhcpsuite.config import Config
from dhcpsuite.server.service import ServerService

GOOD = """
state_dir = "/srv/state"
[server]
lease_store = "memory"
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "eth0"
pool = "10.0.0.10-10.0.0.20"
"""


class OptionsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="dhcpsuite-tap-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.stderr = io.StringIO()
        self.stdout = io.StringIO()
        self.patch(sys, "stderr", self.stderr)
        self.patch(sys, "stdout", self.stdout)

    def write(self, text: str) -> str:
        path = os.path.join(self.directory, "dhcpsuite.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def parse(self, *argv: str) -> tap.Options:
        options = tap.Options()
        options.parseOptions(list(argv))
        return options

    def test_good_file(self) -> None:
        options = self.parse("--config", self.write(GOOD))
        config = options["dhcpsuite"]
        self.assertIsInstance(config, Config)
        self.assertEqual(config.state_dir, "/srv/state")
        self.assertEqual(config.section("server").subnets[0].interface, "eth0")
        self.assertEqual(self.stderr.getvalue(), "")

    def test_short_flag(self) -> None:
        self.assertIsInstance(self.parse("-c", self.write(GOOD))["dhcpsuite"], Config)

    def test_state_dir_overrides(self) -> None:
        options = self.parse("--config", self.write(GOOD), "--state-dir", self.directory)
        self.assertEqual(options["dhcpsuite"].state_dir, self.directory)
        self.assertIsNotNone(options["dhcpsuite"].section("server"))

    def test_embedded_default(self) -> None:
        config = self.parse()["dhcpsuite"]
        self.assertEqual(config.source, "<embedded default>")
        self.assertEqual(config.section("server").interfaces, ("srv0",))

    def test_bad_file_exits_2_with_one_line(self) -> None:
        path = self.write(GOOD.replace('interface = "eth0"', "interface = 7"))
        e = self.assertRaises(SystemExit, self.parse, "--config", path)
        self.assertEqual(e.code, 2)
        error = self.stderr.getvalue()
        self.assertEqual(error.count("\n"), 1)
        self.assertEqual(error, "dhcpsuite: configuration error: server.subnet[0].interface: must be a string, not an integer\n")

    def test_missing_file_exits_2(self) -> None:
        e = self.assertRaises(SystemExit, self.parse, "--config", os.path.join(self.directory, "absent.toml"))
        self.assertEqual(e.code, 2)
        self.assertEqual(self.stderr.getvalue().count("\n"), 1)
        self.assertIn("absent.toml", self.stderr.getvalue())

    def test_version(self) -> None:
        e = self.assertRaises(SystemExit, self.parse, "--version")
        self.assertEqual(e.code, 0)
        self.assertEqual(self.stdout.getvalue(), f"dhcpsuite {__version__}\n")

    def test_read_config(self) -> None:
        config = tap.read_config(self.write(GOOD), "/elsewhere")
        self.assertEqual(config.state_dir, "/elsewhere")
        self.assertEqual(tap.read_config(self.write(GOOD)).state_dir, "/srv/state")


class MakeServiceTests(SynchronousTestCase):
    def config(self) -> Config:
        return tap.read_config(None, "/nonexistent/state")

    def test_server_service_in_multiservice(self) -> None:
        config = self.config()
        top = tap.makeService({"dhcpsuite": config})
        self.assertIsInstance(top, service.MultiService)
        self.assertEqual(top.name, "dhcpsuite")
        server = top.getServiceNamed("dhcp4-server")
        self.assertIsInstance(server, ServerService)
        self.assertIs(server.parent, top)
        self.assertEqual(server.state_dir, "/nonexistent/state")
        self.assertIs(server.config, config.section("server"))

    def test_not_started(self) -> None:
        top = tap.makeService(self.config())
        server = top.getServiceNamed("dhcp4-server")
        self.assertFalse(top.running)
        self.assertFalse(server.running)
        self.assertEqual(server.ports, [])
        self.assertIsNone(server.store)

    def test_options_object(self) -> None:
        options = tap.Options()
        self.patch(sys, "stderr", io.StringIO())
        options.parseOptions([])
        top = tap.makeService(options)
        self.assertEqual([s.name for s in top], ["dhcp4-server", "reload-on-sighup"])

    def test_no_server_section(self) -> None:
        top = tap.makeService(Config())
        self.assertEqual([s.name for s in top], ["reload-on-sighup"])
