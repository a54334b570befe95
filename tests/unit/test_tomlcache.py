"""
L{dhcpsuite.tomlcache} and C{load_config(path, cache_directory)}: the parsed
document is reused only for the very bytes it came from, validation runs on
every start, and a cache that cannot be used costs nothing but the parse.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite import tomlcache
from dhcpsuite.config import ConfigError, load_config

TEXT = 'state_dir = "/tmp/x"\n[client]\n[[client.interface]]\nname = "wan0"\n'


class TomlCacheTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="tomlcache-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.directory])
        self.cache = os.path.join(self.directory, "cache")
        self.path = os.path.join(self.directory, "client.toml")
        self.write(TEXT)

    def write(self, text: str) -> None:
        with open(self.path, "w") as f:
            f.write(text)

    def test_entry_names_escape_the_path(self) -> None:
        self.assertEqual(tomlcache.entry_path("/c", "/etc/a%b/d.toml"), "/c/%2Fetc%2Fa%25b%2Fd.toml.marshal")

    def test_second_load_reads_the_entry_not_the_toml(self) -> None:
        first = load_config(self.path, self.cache)
        entry = tomlcache.entry_path(self.cache, self.path)
        self.assertTrue(os.path.exists(entry))
        self.assertEqual(os.stat(self.cache).st_mode & 0o777, 0o700)
        # Prove the second load uses the entry: change only the entry.
        with open(entry, "rb") as f:
            tag, source, document = marshal.load(f)
        document["state_dir"] = "/from/the/cache"
        with open(entry, "wb") as f:
            marshal.dump((tag, source, document), f)
        second = load_config(self.path, self.cache)
        self.assertEqual(first.state_dir, "/tmp/x")
        self.assertEqual(second.state_dir, "/from/the/cache")
        self.assertEqual(second.section("client"), first.section("client"))

    def test_a_changed_file_is_parsed_again(self) -> None:
        load_config(self.path, self.cache)
        self.write(TEXT.replace("/tmp/x", "/tmp/y"))
        self.assertEqual(load_config(self.path, self.cache).state_dir, "/tmp/y")
        self.assertEqual(tomlcache.load(self.cache, self.path, TEXT.encode()), None)

    def test_validation_runs_on_a_cached_document(self) -> None:
        bad = TEXT + 'misspelt = 1\n'
        self.write(bad)
        for _ in range(2):
            with self.assertRaises(ConfigError) as caught:
                load_config(self.path, self.cache)
            self.assertEqual(str(caught.exception), "client.interface[0].misspelt: is not a known key here")
        self.assertIsNotNone(tomlcache.load(self.cache, self.path, bad.encode()))

    def test_invalid_toml_is_not_cached(self) -> None:
        self.write("[client\n")
        self.assertRaises(ConfigError, load_config, self.path, self.cache)
        self.assertFalse(os.path.exists(tomlcache.entry_path(self.cache, self.path)))

    def test_corrupt_or_foreign_entries_are_misses(self) -> None:
        entry = tomlcache.entry_path(self.cache, self.path)
        os.makedirs(self.cache)
        for content in (b"", b"garbage", marshal.dumps(("other-tag", TEXT.encode(), {})), marshal.dumps([1, 2])):
            with open(entry, "wb") as f:
                f.write(content)
            self.assertIsNone(tomlcache.load(self.cache, self.path, TEXT.encode()))
            self.assertEqual(load_config(self.path, self.cache).state_dir, "/tmp/x")

    def test_an_entry_others_could_have_written_is_ignored(self) -> None:
        """
        An entry names the hook script run as root: one writable by group
        or others is a miss (and the file is parsed).
        """
        load_config(self.path, self.cache)
        entry = tomlcache.entry_path(self.cache, self.path)
        self.assertEqual(os.stat(entry).st_mode & 0o777, 0o600)
        self.assertIsNotNone(tomlcache.load(self.cache, self.path, TEXT.encode()))
        os.chmod(entry, 0o666)
        self.assertIsNone(tomlcache.load(self.cache, self.path, TEXT.encode()))
        self.assertEqual(load_config(self.path, self.cache).state_dir, "/tmp/x")

    def test_unwritable_cache_directory_still_loads(self) -> None:
        blocker = os.path.join(self.directory, "file")
        with open(blocker, "w") as f:
            f.write("not a directory")
        self.assertFalse(tomlcache.store(blocker, self.path, b"x", {}))
        self.assertEqual(load_config(self.path, blocker).state_dir, "/tmp/x")

    def test_documents_marshal_cannot_hold_are_not_stored(self) -> None:
        import datetime

        self.assertFalse(tomlcache.store(self.cache, self.path, b"x", {"when": datetime.date(2026, 1, 1)}))
        self.assertEqual(os.listdir(self.cache) if os.path.exists(self.cache) else [], [])

    def test_a_cached_start_imports_no_toml_parser(self) -> None:
        load_config(self.path, self.cache)
        code = ("import sys\nfrom dhcpsuite.config import load_config\n"
                f"load_config({self.path!r}, {self.cache!r})\n"
                "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tomllib', 'typing', 're')))\n")
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        self.assertEqual(output.strip(), "[]")
