# -*- test-case-name: tests.unit.test_migration_leasefiles -*-
"""
The syntax ISC dhcpd's configuration and lease files share: words, quoted
strings with octal escapes, C{#} comments, statements ended by C{;} and
blocks in C{{ }}.
"""

from __future__ import annotations

import re
from typing import Iterator, NamedTuple

from dhcpsuite.migration.records import InputError


# One token after optional blanks: a quoted string, punctuation, a comment
# (to the end of the line) or a word.
_TOKEN = re.compile(r'[ \t\r\f\v]*(?:("(?:[^"\\]|\\.)*")|([{};,])|(#.*)|([^\s{};,"#]+))')
_ESCAPE = re.compile(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


class Token(NamedTuple):
    # A tuple rather than an attrs class: a large lease file has millions.
    text: str
    line: int
    quoted: bool = False


def unquote(body: str) -> str:
    """
    The value of a dhcpd/dnsmasq quoted string body (octal C{\\001},
    hex C{\\x01} and C{\\"} escapes) as code points 0-255.
    """

    def replace(m: re.Match) -> str:
        e = m.group(1)
        if e[0] in "01234567":
            return chr(int(e, 8) & 0xFF)
        if e[0] == "x" and len(e) > 1:
            return chr(int(e[1:], 16))
        return _SIMPLE_ESCAPES.get(e, e)

    return _ESCAPE.sub(replace, body)


def tokens(text: str, path: str) -> Iterator[Token]:
    """
    The tokens of dhcpd's configuration and lease-file syntax: words,
    quoted strings and C{{ } ; ,}, each with its line; comments dropped.
    Neither file has a string that spans lines (dhcpd writes a newline in
    one as C{\\012}).
    """
    for number, line in enumerate(text.split("\n"), 1):
        position = 0
        for m in _TOKEN.finditer(line):
            if m.start() != position:
                break
            position = m.end()
            quoted, punctuation, comment, word = m.groups()
            if word is not None:
                yield Token(word, number)
            elif punctuation is not None:
                yield Token(punctuation, number)
            elif quoted is not None:
                body = quoted[1:-1]
                yield Token(unquote(body) if "\\" in body else body, number, True)
        rest = line[position:]
        if rest.strip():
            what = "unterminated string" if rest.lstrip().startswith('"') else "unexpected"
            raise InputError(path, number, f"{what} {rest.strip()[:20]!r}")


def statements(stream: Iterator[Token], path: str, opened: Token | None = None) -> Iterator[tuple[list[Token], list | None]]:
    """
    C{(words, block)} for each statement: C{block} is the nested statements
    of a C{{...}} body, L{None} for a statement ended by C{;}.

    @param opened: the C{{} whose body this is; L{None} at the top level.
    """
    words: list[Token] = []
    for token in stream:
        if token.quoted:
            words.append(token)
        elif token.text == ";":
            if words:
                yield words, None
            words = []
        elif token.text == "{":
            if not words:
                raise InputError(path, token.line, "a block without a statement before it")
            yield words, list(statements(stream, path, token))
            words = []
        elif token.text == "}":
            if words:
                raise InputError(path, words[-1].line, f"missing ';' after '{' '.join(w.text for w in words)}'")
            if opened is None:
                raise InputError(path, token.line, "'}' without a block to close")
            return
        else:
            words.append(token)
    if words:
        raise InputError(path, words[-1].line, f"missing ';' after '{' '.join(w.text for w in words)}'")
    if opened is not None:
        raise InputError(path, opened.line, "this '{' is never closed")
