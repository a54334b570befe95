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
whole: no time stamps or hashes to go stale). A cache that cannot be read
or written is ignored: the file is parsed as usual.

The directory must be writable by root only (it is made C{0700}): an entry
is trusted as much as the configuration file itself, so one not owned by
this user, or writable by group or others, is ignored.
"""

from __future__ import annotations

import marshal
import os

# Bumped when the entry's layout changes; an entry with another tag is a miss.
_TAG = "dhcpsuite-toml-1"
DEFAULT_DIRECTORY = "/var/cache/dhcpsuite"


def entry_path(directory: str, path: str) -> str:
    """
    The entry for the file C{path}: its absolute path with C{%} and C{/}
    escaped, so names never collide and an operator can tell which is which.
    """
    name = os.path.abspath(path).replace("%", "%25").replace("/", "%2F")
    return os.path.join(directory, f"{name}.marshal")


def load(directory: str, path: str, source: bytes) -> dict | None:
    """
    The document parsed from C{source} (the bytes of C{path}), or L{None}
    when the cache has no usable entry for exactly these bytes.
    """
    try:
        with open(entry_path(directory, path), "rb") as f:
            if not _trusted(os.fstat(f.fileno())):
                return None
            entry = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (not isinstance(entry, tuple) or len(entry) != 3 or entry[0] != _TAG or entry[1] != source
            or not isinstance(entry[2], dict)):
        return None
    return entry[2]


def _trusted(status: os.stat_result) -> bool:
    # Written by us and by no one else: an entry is as powerful as the
    # configuration file (it names the hook script run as root).
    return status.st_uid == os.geteuid() and not status.st_mode & 0o022


def store(directory: str, path: str, source: bytes, document: dict) -> bool:
    """
    Keep C{document}, parsed from C{source}, for the next start.

    @return: whether it was kept (not for a document C{marshal} cannot hold,
        such as one with TOML dates, nor when the directory is not writable).
    """
    try:
        data = marshal.dumps((_TAG, source, document))
    except ValueError:
        return False
    target = entry_path(directory, path)
    temporary = f"{target}.{os.getpid()}.tmp"
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(data)
        os.replace(temporary, target)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return False
    return True
