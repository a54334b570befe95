"""
Tests for L{dhcpsuite.config}: the Section readers, the top level of the
document, loading files, the embedded default and dhcpsuite-check-config.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite import checkconfig
from dhcpsuite.config import Config, ConfigError, Section, load_config, parse_config, parse_config_text
from dhcpsuite.server.config import ServerConfig
from dhcpsuite.tap import default_config_text

MINIMAL = """
[server]
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "eth0"
pool = "10.0.0.10-10.0.0.20"
"""


class TempDirMixin:
    def make_dir(self) -> str:
        path = tempfile.mkdtemp(prefix="dhcpsuite-test-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def write(self, text: str | bytes, name: str = "dhcpsuite.toml") -> str:
        path = os.path.join(self.make_dir(), name)
        with open(path, "wb") as f:
            f.write(text.encode("utf-8") if isinstance(text, str) else text)
        return path


class ConfigErrorTests(SynchronousTestCase):
    def test_str_with_path(self) -> None:
        self.assertEqual(str(ConfigError("a.b[0]", "is wrong")), "a.b[0]: is wrong")

    def test_str_without_path(self) -> None:
        self.assertEqual(str(ConfigError("", "whole file")), "whole file")


class SectionTests(SynchronousTestCase):
    def error(self, f, *args, **kwargs) -> str:
        return str(self.assertRaises(ConfigError, f, *args, **kwargs))

    def test_not_a_table(self) -> None:
        self.assertEqual(str(self.assertRaises(ConfigError, Section, [1], "a.b")), "a.b: must be a table, not a list")

    def test_key_path(self) -> None:
        self.assertEqual(Section({}).key_path("x"), "x")
        self.assertEqual(Section({}, "a[1]").key_path("x"), "a[1].x")

    def test_required(self) -> None:
        self.assertEqual(self.error(Section({}, "s").string, "name"), "s.name: is required")

    def test_defaults(self) -> None:
        s = Section({})
        self.assertEqual(s.string("a", "d"), "d")
        self.assertIsNone(s.integer("b", None, minimum=5))
        self.assertEqual(s.boolean("c", True), True)
        self.assertEqual(s.number("d", 1.5), 1.5)
        self.assertEqual(s.choice("e", ("x",), "x"), "x")
        self.assertEqual(s.string_list("f", []), [])
        self.assertIsNone(s.ipv4("g", None))
        self.assertIsNone(s.table("h", None))
        self.assertEqual(s.tables("i"), [])

    def test_string_for_integer(self) -> None:
        self.assertEqual(self.error(Section({"n": "5"}, "s").integer, "n"), "s.n: must be an integer, not a string")

    def test_boolean_for_integer(self) -> None:
        self.assertEqual(self.error(Section({"n": True}, "s").integer, "n"), "s.n: must be an integer, not a boolean")

    def test_boolean_for_number(self) -> None:
        self.assertEqual(self.error(Section({"n": False}).number, "n"), "n: must be a number, not a boolean")

    def test_integer_for_boolean(self) -> None:
        self.assertEqual(self.error(Section({"b": 1}).boolean, "b"), "b: must be true or false, not an integer")

    def test_float_for_integer(self) -> None:
        self.assertEqual(self.error(Section({"n": 1.5}).integer, "n"), "n: must be an integer, not a number")

    def test_integer_bounds(self) -> None:
        s = Section({"n": 5})
        self.assertEqual(s.integer("n", minimum=5, maximum=5), 5)
        self.assertEqual(self.error(s.integer, "n", minimum=6), "n: 5 is less than 6")
        self.assertEqual(self.error(s.integer, "n", maximum=4), "n: 5 is more than 4")

    def test_number(self) -> None:
        s = Section({"n": 2, "m": 0.5})
        self.assertEqual(s.number("n"), 2.0)
        self.assertIsInstance(s.number("n"), float)
        self.assertEqual(self.error(s.number, "m", minimum=1), "m: 0.5 is less than 1")

    def test_choice(self) -> None:
        s = Section({"c": "nope"})
        self.assertEqual(self.error(s.choice, "c", ("a", "b")), "c: 'nope' is not one of a, b")

    def test_string_list(self) -> None:
        self.assertEqual(Section({"l": "one"}).string_list("l"), ["one"])
        self.assertEqual(Section({"l": ["a", "b"]}).string_list("l"), ["a", "b"])
        self.assertEqual(self.error(Section({"l": ["a", 2]}, "s").string_list, "l"), "s.l[1]: must be a string, not an integer")
        self.assertEqual(self.error(Section({"l": 3}).string_list, "l"), "l: must be a list of strings, not an integer")

    def test_ipv4(self) -> None:
        self.assertEqual(Section({"a": "10.0.0.1"}).ipv4("a"), IPv4Address("10.0.0.1"))
        self.assertTrue(self.error(Section({"a": "10.0.0.300"}, "s").ipv4, "a").startswith("s.a: '10.0.0.300' is not an IPv4 address"))

    def test_ipv4_list_index_in_path(self) -> None:
        s = Section({"a": ["10.0.0.1", "nope"]}, "s")
        self.assertTrue(self.error(s.ipv4_list, "a").startswith("s.a[1]: 'nope' is not an IPv4 address"))
        self.assertEqual(Section({"a": "10.0.0.1"}).ipv4_list("a"), [IPv4Address("10.0.0.1")])
        self.assertTrue(self.error(Section({"a": "x"}).ipv4_list, "a").startswith("a: 'x' is not"))

    def test_table_and_tables(self) -> None:
        s = Section({"t": {"k": 1}, "arr": [{"k": 1}, {"k": 2}], "one": {"k": 3}, "bad": 4}, "root")
        self.assertEqual(s.table("t").path, "root.t")
        self.assertEqual([x.path for x in s.tables("arr")], ["root.arr[0]", "root.arr[1]"])
        self.assertEqual([x.integer("k") for x in s.tables("one")], [3])
        self.assertEqual(self.error(s.tables, "bad"), "root.bad: must be an array of tables, not an integer")
        self.assertEqual(self.error(Section({"t": 1}).table, "t"), "t: must be a table, not an integer")

    def test_finish_rejects_unread(self) -> None:
        s = Section({"known": 1, "typo": 2}, "x")
        s.integer("known")
        self.assertEqual(self.error(s.finish), "x.typo: is not a known key here")

    def test_finish_accepts_read_with_default(self) -> None:
        s = Section({"known": 1})
        s.integer("known", 3)
        s.finish()


class ParseConfigTests(TempDirMixin, SynchronousTestCase):
    def test_empty_document(self) -> None:
        config = parse_config_text("")
        self.assertEqual(config.state_dir, "/var/lib/dhcpsuite")
        self.assertEqual(config.sections, {})
        self.assertIsNone(config.section("server"))
        self.assertEqual(list(config), [])

    def test_state_dir_and_server(self) -> None:
        config = parse_config_text('state_dir = "/tmp/x"\n' + MINIMAL, "file.toml")
        self.assertEqual(config.state_dir, "/tmp/x")
        self.assertEqual(config.source, "file.toml")
        self.assertIsInstance(config.section("server"), ServerConfig)
        self.assertEqual([name for name, _ in config], ["server"])

    def test_unknown_top_level_key(self) -> None:
        e = self.assertRaises(ConfigError, parse_config_text, "statedir = '/x'\n")
        self.assertEqual(str(e), "statedir: is not a known key here")

    def test_unknown_server_key(self) -> None:
        e = self.assertRaises(ConfigError, parse_config_text, MINIMAL.replace("[server]", "[server]\nlease_stor = 'memory'"))
        self.assertEqual(str(e), "server.lease_stor: is not a known key here")

    def test_state_dir_wrong_type(self) -> None:
        e = self.assertRaises(ConfigError, parse_config_text, "state_dir = 5\n")
        self.assertEqual(str(e), "state_dir: must be a string, not an integer")

    def test_section_not_a_table(self) -> None:
        e = self.assertRaises(ConfigError, parse_config_text, "server = 5\n")
        self.assertEqual(str(e), "server: must be a table, not an integer")

    def test_bad_toml(self) -> None:
        e = self.assertRaises(ConfigError, parse_config_text, "[server\n", "broken.toml")
        self.assertEqual(e.path, "")
        self.assertIn("broken.toml: not valid TOML", str(e))
        self.assertNotIn("\n", str(e))

    def test_parse_config_document(self) -> None:
        self.assertIsInstance(parse_config({}), Config)

    def test_load_config(self) -> None:
        path = self.write(MINIMAL)
        config = load_config(path)
        self.assertEqual(config.source, path)
        self.assertIsInstance(config.section("server"), ServerConfig)

    def test_load_missing_file(self) -> None:
        path = os.path.join(self.make_dir(), "absent.toml")
        e = self.assertRaises(ConfigError, load_config, path)
        self.assertEqual(str(e), f"cannot read {path}: No such file or directory")

    def test_load_directory(self) -> None:
        path = self.make_dir()
        e = self.assertRaises(ConfigError, load_config, path)
        self.assertTrue(str(e).startswith(f"cannot read {path}: "))

    def test_load_not_utf8(self) -> None:
        path = self.write(b"state_dir = '\xff\xfe'\n")
        self.assertEqual(str(self.assertRaises(ConfigError, load_config, path)), f"{path}: not UTF-8 text")

    def test_load_bad_toml_names_file(self) -> None:
        path = self.write("x = = 1\n")
        self.assertIn(f"{path}: not valid TOML", str(self.assertRaises(ConfigError, load_config, path)))

    def test_embedded_default(self) -> None:
        config = parse_config_text(default_config_text(), "<embedded default>")
        server = config.section("server")
        self.assertEqual(server.interfaces, ("srv0",))
        self.assertEqual(str(server.subnets[0].network), "10.77.0.0/24")
        self.assertEqual(server.subnets[0].lease_time, 3600)


class CheckConfigTests(TempDirMixin, SynchronousTestCase):
    def run_main(self, argv: list[str]) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", err)
        code = checkconfig.main(argv)
        return code, out.getvalue(), err.getvalue()

    def test_valid_file(self) -> None:
        path = self.write(MINIMAL)
        code, out, err = self.run_main([path])
        self.assertEqual(code, 0)
        self.assertEqual(out, f"{path}: OK (server)\n")
        self.assertEqual(err, "")

    def test_embedded_default(self) -> None:
        code, out, err = self.run_main([])
        self.assertEqual((code, out, err), (0, "<embedded default>: OK (server)\n", ""))

    def test_empty_file_configures_nothing(self) -> None:
        path = self.write("")
        self.assertEqual(self.run_main([path])[:2], (0, f"{path}: OK (nothing)\n"))

    def test_invalid_file(self) -> None:
        path = self.write(MINIMAL.replace('"10.0.0.10-10.0.0.20"', '["10.0.0.10-10.0.0.20", "10.0.0.300-10.0.0.310"]'))
        code, out, err = self.run_main([path])
        self.assertEqual(code, 2)
        self.assertEqual(out, "")
        self.assertEqual(err.count("\n"), 1)
        self.assertTrue(err.startswith("dhcpsuite: configuration error: server.subnet[0].pool[1]: '10.0.0.300-10.0.0.310'"))

    def test_missing_file(self) -> None:
        code, out, err = self.run_main(["/nonexistent/dhcpsuite.toml"])
        self.assertEqual(code, 2)
        self.assertEqual(err.count("\n"), 1)
        self.assertIn("cannot read /nonexistent/dhcpsuite.toml", err)

    def test_help_and_usage(self) -> None:
        self.assertEqual(self.run_main(["--help"])[0], 0)
        code, out, err = self.run_main(["a", "b"])
        self.assertEqual(code, 2)
        self.assertEqual(out.count("\n"), 1)
        self.assertIn("usage:", out)
