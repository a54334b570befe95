"""
What a test needs from the machine, and what to do when it is missing.

On a laptop a test that needs root, network namespaces or a peer program
skips with the reason. In CI (C{DHCPSUITE_REQUIRE_ALL=1}, set by C{.ci/run})
the same condition is a failure: a silent skip there would hide that the
real-peer tests never ran.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ALL_VARIABLE = "DHCPSUITE_REQUIRE_ALL"


def required() -> bool:
    return os.environ.get(REQUIRE_ALL_VARIABLE, "") not in ("", "0")


def missing(reason: str) -> None:
    """
    Skip, or fail when every requirement is mandatory.
    """
    if required():
        pytest.fail(f"{reason} (and {REQUIRE_ALL_VARIABLE} is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def require_root() -> None:
    if os.geteuid() != 0:
        missing("needs root (network namespaces, raw sockets)")
    if not shutil.which("ip"):
        missing("needs the 'ip' command (Debian package iproute2)")


def require_programs(*names: str) -> dict[str, str]:
    """
    @return: each program's full path.
    """
    found = {}
    for name in names:
        path = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)),
            None,
        )
        if path is None:
            missing(f"needs the program {name!r} (see README.md: the test command installs it)")
        found[name] = path
    return found


def require_module(name: str):
    try:
        return __import__(name)
    except ImportError:
        missing(f"needs the Python module {name!r}")
