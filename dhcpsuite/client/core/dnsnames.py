# -*- test-case-name: tests.unit.test_client_hooks -*-
"""
Checks for values a DHCP server sends that a hook script will put into
files and command lines: domain names (label by label, as busybox udhcpc
does since its fix for CVE-2011-2716), file paths, and free text; and the
RFC 1035 name list of option 119 (RFC 3397, with compression).

A value from the network is never trusted: a name-like value that is not a
name becomes C{bad} (udhcpc's replacement), and no value handed on carries
a control byte.
"""

from __future__ import annotations

import re

# udhcpc's replacement for a name that is not a name.
BAD = "bad"

# RFC 1035 section 2.3.1 letters, digits and hyphen; like udhcpc, also "_"
# (harmless, and used in service names). No leading hyphen: a script
# running `cmd $hostname` would take it as an option.
_LABEL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$")
MAX_NAME = 253
# A path (root path, boot file): what TFTP and NFS paths use (Windows
# Deployment Services boot files use backslashes), and no white space,
# quote, "$", backquote, ";", "|", "&", "<", ">" or control byte.
_PATH = re.compile(r"^[A-Za-z0-9._/\\+:@=,~-]{1,255}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 1035 compression can point anywhere earlier; bound the work anyway.
_MAX_JUMPS = 64


def valid_name(value: str) -> bool:
    """
    A domain name, checked label by label; one trailing dot is allowed.
    """
    if value.endswith("."):
        value = value[:-1]
    if not value or len(value) > MAX_NAME:
        return False
    return all(_LABEL.match(label) for label in value.split("."))


def valid_path(value: str) -> bool:
    return bool(_PATH.match(value))


def printable(value: str) -> str:
    """
    C{value} with every control byte (NUL, CR, LF, ESC...) replaced by
    C{?}: free text (a NAK's message) for a hook.
    """
    return _CONTROL.sub("?", value)


def decode_name_list(raw: bytes) -> list[str]:
    """
    Option 119: a sequence of RFC 1035 names, compression pointers allowed
    only to earlier data (RFC 3397 section 2).

    @raise ValueError: malformed (a pointer forward or looping, a name
        running past the end).
    """
    names = []
    i = 0
    while i < len(raw):
        labels, i = _read_name(raw, i)
        names.append(".".join(labels))
    return names


def _read_name(raw: bytes, start: int) -> tuple[list[str], int]:
    labels: list[str] = []
    i, resume, jumps = start, None, 0
    while True:
        if i >= len(raw):
            raise ValueError("name runs past the end")
        length = raw[i]
        if length == 0:
            return labels, (i + 1 if resume is None else resume)
        if length & 0xC0 == 0xC0:
            if i + 1 >= len(raw):
                raise ValueError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | raw[i + 1]
            jumps += 1
            if target >= i or jumps > _MAX_JUMPS:
                raise ValueError("compression pointer does not point backwards")
            if resume is None:
                resume = i + 2
            i = target
            continue
        if length & 0xC0:
            raise ValueError(f"label type {length >> 6} is not supported")
        label = raw[i + 1:i + 1 + length]
        if len(label) != length:
            raise ValueError("label runs past the end")
        labels.append(label.decode("latin-1"))
        i += 1 + length
