"""
What every foreign lease-file reader gives: one L{ForeignLease} per address
(the record that counts for it, as the old server itself would read the
file), and one error type naming C{file:line}.
"""

from __future__ import annotations

import enum
from ipaddress import IPv4Address

import attrs


class Source(enum.Enum):
    DNSMASQ = "dnsmasq"
    ISC_DHCPD = "isc-dhcpd"
    KEA = "kea"


class InputError(Exception):
    """
    The file cannot be read as the format it claims to be.
    """

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(path, line, problem)
        self.path = path
        self.line = line
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


@attrs.frozen
class ForeignLease:
    """
    @ivar expires: wall-clock end of the lease, L{None} for an infinite one.
    @ivar active: the old server considers the address bound now (dhcpd's
        C{binding state active}, Kea's state 0 with a non-zero lifetime).
    @ivar state: the old server's own word for the state, for the report.
    @ivar where: C{file:line} of the record that counted.
    """

    address: IPv4Address
    mac: bytes
    client_id: bytes
    expires: float | None
    hostname: str
    active: bool
    state: str
    where: str
