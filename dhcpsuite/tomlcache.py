# -*- test-case-name: tests.unit.test_tomlcache -*-
"""
The parsed TOML document of a configuration file, kept between starts, as
Python keeps a module's byte code.

Why: C{tomllib} imports C{typing}, C{re} and C{datetime}; with its own
tables it costs ~15 ms of a ~40 ms cold start of C{python -m
dhcpsuite.client}, which races a C program. The client reads its file on
every start and the file rarely changes, so the second start onwards reads
the document with C{marshal} (built in, microseconds) instead.

Only the parse is cached: every start validates the document again
(L{dhcpsuite.config.parse_config}), so errors are named as always and a
new release's checks apply at once. An entry is used only when the file's
bytes are exactly the bytes it was made from (kept in the entry, compared
whole: no time stamps or hashes to go stale).

The cache never fails a start: an entry that cannot be read, is corrupt or
is not trusted, and a directory that cannot be written (read-only, full,
not a directory), are logged and cost only the parse.

The directory must be writable by root only (it is made C{0700}): an entry
is trusted as much as the configuration file itself, so one not owned by
this user, or writable by group or others, is ignored; a directory others
may write to is not written to. Temporary files are created exclusively and
never through a symbolic link.

The directory stays bounded: whenever an entry is written (a first start,
or one after the file changed; never on a start that uses the cache), the
entries whose configuration file no longer exists are removed, then the
oldest beyond C{max_entries}, and temporary files a crashed start left.
Only files named as this module names them are touched.
"""

from __future__ import annotations

import marshal
import os
import time

from dhcpsuite.lazylog import LazyLogger

# Bumped when the entry's layout changes; an entry with another tag is a miss.
_TAG = "dhcpsuite-toml-1"
DEFAULT_DIRECTORY = "/var/cache/dhcpsuite"
# Entries kept, most recently written first: a device has one or two
# configuration files; the rest are files that were moved or tried once.
DEFAULT_MAX_ENTRIES = 16
# Every entry's name starts with the escaped "/" of an absolute path.
_PREFIX = "%2F"
_SUFFIX = ".marshal"
_TEMPORARY_SUFFIX = ".tmp"
# A temporary file older than this was left by a start that died while
# writing it (a write takes microseconds).
_TEMPORARY_AGE = 60.0

log = LazyLogger(__name__)


def entry_path(directory: str, path: str) -> str:
    """
    The entry for the file C{path}: its absolute path with C{%} and C{/}
    escaped, so names never collide and an operator can tell which is which.
    """
    name = os.path.abspath(path).replace("%", "%25").replace("/", "%2F")
    return os.path.join(directory, f"{name}{_SUFFIX}")


def config_path(entry_name: str) -> str | None:
    """
    The configuration file an entry's name stands for, or L{None} when the
    name is not one of L{entry_path}'s.
    """
    if not (entry_name.startswith(_PREFIX) and entry_name.endswith(_SUFFIX)):
        return None
    return entry_name[: -len(_SUFFIX)].replace("%2F", "/").replace("%25", "%")


def load(directory: str, path: str, source: bytes) -> dict | None:
    """
    The document parsed from C{source} (the bytes of C{path}), or L{None}
    when the cache has no usable entry for exactly these bytes.
    """
    entry = entry_path(directory, path)
    try:
        with open(entry, "rb") as f:
            if not _trusted(os.fstat(f.fileno())):
                log.warn("configuration cache: ignoring {entry}: not owned by this user, or writable by others",
                         entry=ascii(entry))
                return None
            # One read, then loads: marshal.load on a file object reads it
            # in many small calls.
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warn("configuration cache: cannot read {entry}: {error}", entry=ascii(entry), error=e.strerror)
        return None
    try:
        value = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        value = None
    if not (isinstance(value, tuple) and len(value) == 3 and isinstance(value[2], dict)):
        log.warn("configuration cache: ignoring {entry}: not an entry", entry=ascii(entry))
        return None
    if value[0] != _TAG or value[1] != source:
        return None  # another release's, or the file changed: a plain miss
    return value[2]


def _trusted(status: os.stat_result) -> bool:
    # Written by us and by no one else: an entry is as powerful as the
    # configuration file (it names the hook script run as root).
    return status.st_uid == os.geteuid() and not status.st_mode & 0o022


def _trusted_directory(status: os.stat_result) -> bool:
    # Ours or root's, and no one else may add or swap files in it.
    return status.st_uid in (os.geteuid(), 0) and not status.st_mode & 0o022


def store(directory: str, path: str, source: bytes, document: dict,
          max_entries: int | None = None) -> bool:
    """
    Keep C{document}, parsed from C{source}, for the next start, and remove
    stale entries (see the module docstring).

    @param max_entries: entries left in the directory at most, this one
        included (L{None}: L{DEFAULT_MAX_ENTRIES}).
    @return: whether it was kept (not for a document C{marshal} cannot hold,
        such as one with TOML dates, nor when the directory is not writable
        or not trusted).
    """
    try:
        data = marshal.dumps((_TAG, source, document))
    except ValueError:
        return False
    target = entry_path(directory, path)
    temporary = f"{target}.{os.getpid()}{_TEMPORARY_SUFFIX}"
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _trusted_directory(os.stat(directory)):
            log.warn("configuration cache: not writing to {directory}: not owned by this user, or writable by others",
                     directory=ascii(directory))
            return False
        _remove(temporary)  # our own PID's, from a start that died
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(descriptor, "wb") as f:
            f.write(data)
        os.replace(temporary, target)
    except OSError as e:
        log.warn("configuration cache: cannot keep {path} in {directory}: {error}",
                 path=ascii(path), directory=ascii(directory), error=e.strerror)
        _remove(temporary)
        return False
    prune(directory, DEFAULT_MAX_ENTRIES if max_entries is None else max_entries, keep=os.path.basename(target))
    return True


def prune(directory: str, max_entries: int = DEFAULT_MAX_ENTRIES, keep: str | None = None,
          now: float | None = None) -> list[str]:
    """
    Remove the entries whose configuration file no longer exists, then the
    oldest beyond C{max_entries}, and temporary files older than a minute.

    @param keep: an entry's name never removed, and counted among
        C{max_entries} (the one just written).
    @return: the names removed.
    """
    now = time.time() if now is None else now
    stale = []
    entries = []
    try:
        with os.scandir(directory) as listing:
            items = [(item.name, _modified(item)) for item in listing]
    except OSError as e:
        log.warn("configuration cache: cannot list {directory}: {error}", directory=ascii(directory), error=e.strerror)
        return []
    for name, modified in items:
        if modified is None or name == keep:
            continue  # the entry just written, or a file gone meanwhile
        if name.endswith(_TEMPORARY_SUFFIX):
            writer = name[: -len(_TEMPORARY_SUFFIX)].rpartition(".")[0]
            if config_path(writer) is not None and now - modified / 1e9 > _TEMPORARY_AGE:
                stale.append(name)
            continue
        configuration = config_path(name)
        if configuration is None:
            continue  # not ours
        if os.path.exists(configuration):
            entries.append((modified, name))
        else:
            stale.append(name)
    entries.sort(reverse=True)
    stale.extend(name for _, name in entries[max(max_entries - (keep is not None), 0):])
    removed = [name for name in stale if _remove(os.path.join(directory, name))]
    if removed:
        log.info("configuration cache: removed {count} stale entries from {directory}",
                 count=len(removed), directory=ascii(directory))
    return removed


def _modified(item: os.DirEntry) -> int | None:
    try:
        return item.stat(follow_symlinks=False).st_mtime_ns
    except OSError:
        return None


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
