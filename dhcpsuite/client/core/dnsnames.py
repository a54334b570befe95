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

# udhcpc's replacement for a name that is not a name.
BAD = "bad"

# Checked with sets of characters, not regular expressions: the client's
# early path imports this module and not `re` (~3 ms of its start); and
# every character is checked, where `$` would let a trailing newline through.
_ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# RFC 1035 section 2.3.1 letters, digits and hyphen; like udhcpc, also "_"
# (harmless, and used in service names). No leading hyphen: a script
# running `cmd $hostname` would take it as an option.
_LABEL = frozenset(_ALPHANUMERIC + "_-")
MAX_LABEL = 63
MAX_NAME = 253
# A path (root path, boot file): what TFTP and NFS paths use (Windows
# Deployment Services boot files use backslashes), and no white space,
# quote, "$", backquote, ";", "|", "&", "<", ">" or control byte.
_PATH = frozenset(_ALPHANUMERIC + "._/\\+:@=,~-")
MAX_PATH = 255
_CONTROL = {code: "?" for code in (*range(0x20), 0x7F)}
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
    return all(_valid_label(label) for label in value.split("."))


def _valid_label(label: str) -> bool:
    return 0 < len(label) <= MAX_LABEL and label[0] != "-" and _LABEL.issuperset(label)


def valid_path(value: str) -> bool:
    return 0 < len(value) <= MAX_PATH and _PATH.issuperset(value)


def printable(value: str) -> str:
    """
    C{value} with every control byte (NUL, CR, LF, ESC...) replaced by
    C{?}: free text (a NAK's message) for a hook.
    """
    return value.translate(_CONTROL)


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
