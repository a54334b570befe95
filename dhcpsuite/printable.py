# -*- test-case-name: tests.unit.test_printable -*-
"""
Text from the network made safe for a terminal or a log line.

A LAN client's hostname or a server's NAK message can carry ESC sequences
(clear the screen, move the cursor, recolour), CR and LF (forge a row or a
log line) and bidirectional overrides (show text in another order than it
is stored). Every such character is shown as a visible escape instead, so
one value stays one value on one line. Standard library only: the CLI
imports it and must start fast.
"""

from __future__ import annotations

import unicodedata

# Format characters that reorder what follows them (Unicode bidi controls).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Categories shown escaped: controls (C0, DEL, C1), line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset(("Cc", "Zl", "Zp"))


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, backslash: bool = True) -> str:
    """
    C{text} with control characters, line separators and bidi controls shown
    as C{\\xNN}/C{\\uNNNN}. With C{backslash}, a backslash is shown as
    C{\\\\} so that an escape cannot be forged either (tables); without, a
    C{repr} in a log line stays readable. Plain text comes back unchanged
    (the same object).
    """
    if text.isprintable() and (not backslash or "\\" not in text):
        return text
    out = []
    for character in text:
        if character == "\\" and backslash:
            out.append("\\\\")
        elif character in _BIDI or unicodedata.category(character) in _ESCAPED_CATEGORIES:
            out.append(_escape(character))
        else:
            out.append(character)
    return "".join(out)
