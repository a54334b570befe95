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

Each reader is pure (text in, records out) and raises L{InputError}
naming C{file:line} when the file is not what it claims to be. Records the
old server itself would not count as bound are returned too, marked
inactive, so the import reports them instead of losing them silently.
"""

from __future__ import annotations

import calendar
import os
import re
from ipaddress import IPv4Address, ip_address
from typing import Callable

import attrs

from dhcpsuite.hexbytes import parse_hex
from dhcpsuite.migration.dhcpd_syntax import Token, statements, tokens
from dhcpsuite.migration.records import ForeignLease, InputError, Source


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
        return parse_hex(text)
    except ValueError:
        raise InputError(path, line, f"{what} {text!r} is not hex bytes like 02:00:00:00:00:01") from None


def _ipv4(text: str, path: str, line: int) -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise InputError(path, line, f"{text!r} is not an IPv4 address") from None


def _integer(text: str, path: str, line: int, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(path, line, f"{what} {text!r} is not a number") from None


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
            raise InputError(path, number, f"expected EXPIRY MAC ADDRESS HOSTNAME [CLIENT-ID], got {len(fields)} fields")
        expiry = _integer(fields[0], path, number, "expiry")
        where = f"{path}:{number}"
        try:
            address = ip_address(fields[2])
        except ValueError:
            raise InputError(path, number, f"{fields[2]!r} is not an IP address") from None
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

_DHCPD_TIME = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})$")


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
        # By hand rather than strptime: a large lease file has one per lease.
        match = _DHCPD_TIME.match(f"{values[1]} {values[2]}")
        if match is not None:
            year, month, day, hour, minute, second = map(int, match.groups())
            if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60 and second < 61:
                return float(calendar.timegm((year, month, day, hour, minute, second)))
    raise InputError(path, line, f"cannot read the time '{' '.join(values)}'")


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
            raise InputError(path, words[0].line, "expected 'lease ADDRESS {'")
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
        raise InputError(path, 1, f"not a Kea DHCPv4 memfile header (no column {', '.join(missing)})")
    column = {name: header.index(name) for name in _KEA_COLUMNS}
    leases: dict[IPv4Address, ForeignLease] = {}
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        row = line.split(",")
        if len(row) < len(header):
            raise InputError(path, number, f"{len(row)} columns, the header has {len(header)}")
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


def kea_generations(path: str) -> list[str]:
    """
    The files Kea reads at start for the memfile C{path}, oldest first
    (its C{loadLeasesFromFiles}): what a finished lease file cleanup wrote
    (C{.completed}), else the previous generation (C{.2}) and the file a
    cleanup was reading (C{.1}); then the current one. Reading only the
    current file after a cleanup would miss every lease not renewed since.
    """
    if os.path.exists(path + ".completed"):
        return [path + ".completed", path]
    return [p for p in (path + ".2", path + ".1") if os.path.exists(p)] + [path]


# Which files make up the old server's lease database, given the one named.
_GENERATIONS: dict[Source, Callable[[str], list[str]]] = {Source.KEA: kea_generations}


def read_lease_file(source: Source, path: str) -> LeaseFile:
    """
    The leases in C{path} (with, for Kea, the older generations beside
    it), the later record for an address winning across files as within one.
    """
    merged: dict = {}
    unreadable: list[Unreadable] = []
    for name in _GENERATIONS.get(source, lambda p: [p])(path):
        try:
            with open(name, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError as e:
            raise InputError(name, 0, e.strerror or str(e)) from None
        part = READERS[source](text, name)
        merged.update((lease.address, lease) for lease in part.leases)
        unreadable += part.unreadable
    return LeaseFile(tuple(merged.values()), tuple(unreadable))
