# -*- test-case-name: tests.unit.test_migration_leasefiles -*-
"""
The syntax ISC dhcpd's configuration and lease files share: words, quoted
strings with octal escapes, C{#} comments, statements ended by C{;} and
blocks in C{{ }}.
"""

from __future__ import annotations

import re
from typing import Iterator

import attrs

from dhcpsuite.migration.records import InputError


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{};,]|[^\s{};,"#]+|#[^\n]*|\n|[ \t\r\f\v]+')
_ESCAPE = re.compile(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


@attrs.frozen
class Token:
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
    """
    line = 1
    position = 0
    for m in _TOKEN.finditer(text):
        if m.start() != position:
            what = "unterminated string" if text[position] == '"' else "unexpected"
            raise InputError(path, line, f"{what} {text[position:m.start()][:20]!r}")
        position = m.end()
        value = m.group()
        if value == "\n":
            line += 1
        elif value[0] == '"':
            yield Token(unquote(value[1:-1]), line, quoted=True)
            line += value.count("\n")
        elif value[0] == "#" or value.isspace():
            continue
        else:
            yield Token(value, line)
    if position != len(text):
        raise InputError(path, line, f"unterminated {text[position:position + 20]!r}")


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
