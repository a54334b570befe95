# -*- test-case-name: tests.unit.test_migration_leasefiles -*-
"""
The lease files of the servers dhcpsuite replaces, read the way each server
reads its own at start:

 - dnsmasq: one line per lease, C{EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID}
   (C{*} for none, expiry 0 for an infinite lease); DHCPv6 lines follow a
   C{duid} line.
 - ISC dhcpd: C{dhcpd.leases} is a journal; the last C{lease ADDRESS {...}}
   block for an address is the one dhcpd keeps.
 - Kea memfile: CSV with a header; the last row for an address wins, and a
   row with a valid lifetime of 0 records a deleted lease (as Kea's lease
   file cleanup reads it).

Each reader is pure (text in, records out) and raises L{LeaseFileError}
naming C{file:line} when the file is not what it claims to be. Records the
old server itself would not count as bound are returned too, marked
inactive, so the import reports them instead of losing them silently.
"""

from __future__ import annotations

import calendar
import re
import time
from ipaddress import IPv4Address, ip_address
from typing import Callable, Iterator

import attrs

from dhcpsuite.migration.records import ForeignLease, LeaseFileError, Source


@attrs.frozen
class Unreadable:
    """
    A record that cannot become an IPv4 lease at all (a DHCPv6 lease).
    """

    where: str
    address: str
    reason: str


@attrs.frozen
class LeaseFile:
    leases: tuple[ForeignLease, ...]
    unreadable: tuple[Unreadable, ...] = ()


def _hex_bytes(text: str, path: str, line: int, what: str) -> bytes:
    try:
        return bytes.fromhex(text.replace(":", "").replace("-", ""))
    except ValueError:
        raise LeaseFileError(path, line, f"{what} {text!r} is not hex bytes like 02:00:00:00:00:01") from None


def _ipv4(text: str, path: str, line: int) -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise LeaseFileError(path, line, f"{text!r} is not an IPv4 address") from None


def _integer(text: str, path: str, line: int, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise LeaseFileError(path, line, f"{what} {text!r} is not a number") from None


# dnsmasq --------------------------------------------------------------------


def read_dnsmasq(text: str, path: str) -> LeaseFile:
    leases: dict[IPv4Address, ForeignLease] = {}
    unreadable = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "duid":
            continue
        if len(fields) < 4:
            raise LeaseFileError(path, number, f"expected EXPIRY MAC ADDRESS HOSTNAME [CLIENT-ID], got {len(fields)} fields")
        expiry = _integer(fields[0], path, number, "expiry")
        where = f"{path}:{number}"
        try:
            address = ip_address(fields[2])
        except ValueError:
            raise LeaseFileError(path, number, f"{fields[2]!r} is not an IP address") from None
        if address.version == 6:
            unreadable.append(Unreadable(where, str(address), "dhcpv6-lease"))
            continue
        client_id = fields[4] if len(fields) > 4 else "*"
        leases[address] = ForeignLease(
            address=address,
            mac=_hex_bytes(fields[1], path, number, "hardware address"),
            client_id=b"" if client_id == "*" else _hex_bytes(client_id, path, number, "client id"),
            expires=None if expiry == 0 else float(expiry),
            hostname="" if fields[3] == "*" else fields[3],
            active=True,
            state="bound",
            where=where,
        )
    return LeaseFile(tuple(leases.values()), tuple(unreadable))


# ISC dhcpd ------------------------------------------------------------------

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
            raise LeaseFileError(path, line, f"{what} {text[position:m.start()][:20]!r}")
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
        raise LeaseFileError(path, line, f"unterminated {text[position:position + 20]!r}")


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
                raise LeaseFileError(path, token.line, "a block without a statement before it")
            yield words, list(statements(stream, path, token))
            words = []
        elif token.text == "}":
            if words:
                raise LeaseFileError(path, words[-1].line, f"missing ';' after '{' '.join(w.text for w in words)}'")
            if opened is None:
                raise LeaseFileError(path, token.line, "'}' without a block to close")
            return
        else:
            words.append(token)
    if words:
        raise LeaseFileError(path, words[-1].line, f"missing ';' after '{' '.join(w.text for w in words)}'")
    if opened is not None:
        raise LeaseFileError(path, opened.line, "this '{' is never closed")


def _dhcpd_time(words: list[Token], path: str) -> float | None:
    """
    C{ends 3 2026/12/06 06:00:00} (UTC), C{ends epoch 1733480000} or
    C{ends never}.
    """
    values = [w.text for w in words[1:]]
    line = words[0].line
    if values == ["never"]:
        return None
    if len(values) == 2 and values[0] == "epoch":
        return float(_integer(values[1], path, line, "time"))
    if len(values) == 3:
        try:
            return float(calendar.timegm(time.strptime(f"{values[1]} {values[2]}", "%Y/%m/%d %H:%M:%S")))
        except ValueError:
            pass
    raise LeaseFileError(path, line, f"cannot read the time '{' '.join(values)}'")


def _dhcpd_uid(token: Token, path: str) -> bytes:
    if token.quoted:
        return token.text.encode("latin-1")
    return _hex_bytes(token.text, path, token.line, "uid")


def read_isc_dhcpd(text: str, path: str) -> LeaseFile:
    leases: dict[IPv4Address, ForeignLease] = {}
    for words, block in statements(tokens(text, path), path):
        if words[0].text != "lease" or block is None:
            continue
        if len(words) != 2:
            raise LeaseFileError(path, words[0].line, "expected 'lease ADDRESS {'")
        address = _ipv4(words[1].text, path, words[1].line)
        fields: dict = {"mac": b"", "client_id": b"", "expires": 0.0, "hostname": "", "state": "free"}
        for inner, _ in block:
            keyword = inner[0].text
            if keyword == "ends":
                fields["expires"] = _dhcpd_time(inner, path)
            elif keyword == "binding" and len(inner) == 3 and inner[1].text == "state":
                fields["state"] = inner[2].text
            elif keyword == "hardware" and len(inner) == 3:
                fields["mac"] = _hex_bytes(inner[2].text, path, inner[2].line, "hardware address")
            elif keyword == "uid" and len(inner) == 2:
                fields["client_id"] = _dhcpd_uid(inner[1], path)
            elif keyword == "client-hostname" and len(inner) == 2:
                fields["hostname"] = inner[1].text
        leases[address] = ForeignLease(
            address=address,
            active=fields["state"] == "active",
            where=f"{path}:{words[0].line}",
            **fields,
        )
    return LeaseFile(tuple(leases.values()))


# Kea memfile ----------------------------------------------------------------

_KEA_COLUMNS = ("address", "hwaddr", "client_id", "valid_lifetime", "expire", "state", "hostname")
_KEA_STATES = {0: "default", 1: "declined", 2: "expired-reclaimed", 3: "released"}
# Kea's infinite valid lifetime.
_KEA_INFINITE = 0xFFFFFFFF


def read_kea(text: str, path: str) -> LeaseFile:
    lines = text.splitlines()
    if not lines:
        return LeaseFile(())
    header = lines[0].strip().split(",")
    missing = [c for c in _KEA_COLUMNS if c not in header]
    if missing:
        raise LeaseFileError(path, 1, f"not a Kea DHCPv4 memfile header (no column {', '.join(missing)})")
    column = {name: header.index(name) for name in _KEA_COLUMNS}
    leases: dict[IPv4Address, ForeignLease] = {}
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        row = line.split(",")
        if len(row) < len(header):
            raise LeaseFileError(path, number, f"{len(row)} columns, the header has {len(header)}")
        address = _ipv4(row[column["address"]], path, number)
        lifetime = _integer(row[column["valid_lifetime"]], path, number, "valid_lifetime")
        expire = _integer(row[column["expire"]], path, number, "expire")
        state_number = _integer(row[column["state"]], path, number, "state")
        state = "deleted" if lifetime == 0 else _KEA_STATES.get(state_number, f"state-{state_number}")
        leases[address] = ForeignLease(
            address=address,
            mac=_hex_bytes(row[column["hwaddr"]], path, number, "hwaddr"),
            client_id=_hex_bytes(row[column["client_id"]], path, number, "client_id"),
            expires=None if lifetime == _KEA_INFINITE else float(expire),
            # Kea escapes commas in text columns.
            hostname=row[column["hostname"]].replace("&#x2c", ","),
            active=state == "default",
            state=state,
            where=f"{path}:{number}",
        )
    return LeaseFile(tuple(leases.values()))


READERS: dict[Source, Callable[[str, str], LeaseFile]] = {
    Source.DNSMASQ: read_dnsmasq,
    Source.ISC_DHCPD: read_isc_dhcpd,
    Source.KEA: read_kea,
}


def read_lease_file(source: Source, path: str) -> LeaseFile:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        raise LeaseFileError(path, 0, e.strerror or str(e)) from None
    return READERS[source](text, path)
