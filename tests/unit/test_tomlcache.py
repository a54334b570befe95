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


class CacheHygieneTests(SynchronousTestCase):
    """
    The cache directory stays bounded and never fails a start. (Python's
    own byte-code cache, the model for this one, never removes anything;
    a DHCP client's cache directory is expected to behave like ccache's or
    apt's: bounded, oldest out first.)
    """

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="tomlcache-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.directory])
        self.cache = os.path.join(self.directory, "cache")
        self.events: list[dict] = []
        from twisted.logger import globalLogPublisher

        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def config(self, name: str, text: str = TEXT) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def entries(self) -> list[str]:
        return sorted(os.listdir(self.cache))

    def logged(self) -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(e) for e in self.events if e.get("log_namespace") == "dhcpsuite.tomlcache"]

    def test_entry_names_map_back_to_their_file(self) -> None:
        for path in ("/etc/a%b/d.toml", "/etc/x%2Fy.toml", "/c.toml"):
            name = os.path.basename(tomlcache.entry_path("/c", path))
            self.assertEqual(tomlcache.config_path(name), path)
        for name in ("other.marshal", "%2Fx.toml.marshal.1.tmp", "%2Fx.toml"):
            self.assertIsNone(tomlcache.config_path(name))

    def test_entries_of_removed_files_go_when_a_new_one_is_written(self) -> None:
        gone = [self.config(f"tmp{n}.toml") for n in range(3)]
        for path in gone:
            load_config(path, self.cache)
        self.assertEqual(len(self.entries()), 3)
        for path in gone:
            os.unlink(path)
        kept = self.config("client.toml")
        load_config(kept, self.cache)
        self.assertEqual(self.entries(), [os.path.basename(tomlcache.entry_path(self.cache, kept))])
        self.assertIn(f"configuration cache: removed 3 stale entries from {self.cache!r}", self.logged())

    def test_a_start_from_the_cache_removes_nothing(self) -> None:
        """
        Pruning costs a directory listing: it runs only when an entry is
        written, never on the start that uses one.
        """
        path, gone = self.config("client.toml"), self.config("gone.toml")
        load_config(gone, self.cache)
        load_config(path, self.cache)
        os.unlink(gone)
        load_config(path, self.cache)
        self.assertEqual(len(self.entries()), 2)

    def test_at_most_max_entries_the_oldest_removed_first(self) -> None:
        paths = [self.config(f"c{n}.toml") for n in range(6)]
        for age, path in enumerate(paths):
            load_config(path, self.cache, cache_entries=4)
            # Distinct ages, oldest first, whatever the file system's clock.
            entry = tomlcache.entry_path(self.cache, path)
            os.utime(entry, ns=(age * 10**9, age * 10**9))
        self.assertEqual(self.entries(), sorted(os.path.basename(tomlcache.entry_path(self.cache, p))
                                                for p in paths[2:]))
        # The entry just written stays even when it is the oldest.
        os.utime(tomlcache.entry_path(self.cache, paths[5]), ns=(0, 0))
        load_config(self.config("c0.toml", TEXT + "\n"), self.cache, cache_entries=1)
        self.assertEqual(self.entries(), [os.path.basename(tomlcache.entry_path(self.cache, paths[0]))])

    def test_only_its_own_files_are_touched(self) -> None:
        os.makedirs(self.cache)
        others = ["README", "other.marshal", "%2Fnot-a-config", "x.tmp"]
        for name in others:
            with open(os.path.join(self.cache, name), "w") as f:
                f.write("x")
            os.utime(os.path.join(self.cache, name), (0, 0))
        load_config(self.config("client.toml"), self.cache, cache_entries=1)
        self.assertEqual(len(self.entries()), len(others) + 1)

    def test_temporary_files_of_a_dead_start_are_removed_after_a_minute(self) -> None:
        os.makedirs(self.cache)
        old = os.path.basename(tomlcache.entry_path(self.cache, "/etc/a.toml")) + ".123.tmp"
        new = os.path.basename(tomlcache.entry_path(self.cache, "/etc/b.toml")) + ".456.tmp"
        for name in (old, new):
            with open(os.path.join(self.cache, name), "w") as f:
                f.write("partial")
        os.utime(os.path.join(self.cache, old), (0, 0))
        load_config(self.config("client.toml"), self.cache)
        self.assertNotIn(old, self.entries())
        self.assertIn(new, self.entries())

    def test_a_link_at_the_temporary_name_is_not_followed(self) -> None:
        """
        In a directory someone else can write to, a symbolic link planted at
        the temporary file's name must not make us overwrite its target; and
        such a directory is not written to at all.
        """
        path = self.config("client.toml")
        os.makedirs(self.cache)
        victim = self.config("victim")
        temporary = f"{tomlcache.entry_path(self.cache, path)}.{os.getpid()}.tmp"
        os.symlink(victim, temporary)
        load_config(path, self.cache)
        with open(victim) as f:
            self.assertEqual(f.read(), TEXT)
        self.assertTrue(os.path.exists(tomlcache.entry_path(self.cache, path)))
        os.chmod(self.cache, 0o777)
        self.assertFalse(tomlcache.store(self.cache, path, b"y", {}))
        self.assertIn(f"configuration cache: not writing to {self.cache!r}: not owned by this user, or writable by others",
                      self.logged())

    def test_read_only_directory_or_unreadable_entry_still_loads(self) -> None:
        path = self.config("client.toml")
        os.makedirs(self.cache)
        entry = tomlcache.entry_path(self.cache, path)
        os.mkdir(entry)  # cannot be read as a file, nor replaced
        self.assertEqual(load_config(path, self.cache).state_dir, "/tmp/x")
        self.assertTrue(any(line.startswith(f"configuration cache: cannot read {entry!r}") for line in self.logged()))
        self.assertTrue(any(line.startswith(f"configuration cache: cannot keep {path!r} in {self.cache!r}")
                            for line in self.logged()))

    def test_a_corrupt_entry_is_logged_and_replaced(self) -> None:
        path = self.config("client.toml")
        os.makedirs(self.cache)
        entry = tomlcache.entry_path(self.cache, path)
        with open(entry, "wb") as f:
            f.write(b"\xff garbage")
        self.assertEqual(load_config(path, self.cache).state_dir, "/tmp/x")
        self.assertIn(f"configuration cache: ignoring {entry!r}: not an entry", self.logged())
        self.assertIsNotNone(tomlcache.load(self.cache, path, TEXT.encode()))
