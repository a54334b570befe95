"""
A DHCPv4 server binding, as the store keeps it.
"""

from __future__ import annotations

import enum
import re
from ipaddress import IPv4Address

import attrs


class LeaseState(enum.Enum):
    # Held for a client between OFFER and REQUEST; in memory only.
    OFFERED = "offered"
    BOUND = "bound"
    # Freed, but the client->address affinity is kept so the same client
    # gets the same address back.
    RELEASED = "released"
    EXPIRED = "expired"
    # Quarantined after a DECLINE until the probation time ends.
    DECLINED = "declined"


# States in which the address belongs to somebody until `expires`.
HOLDING_STATES = frozenset((LeaseState.OFFERED, LeaseState.BOUND, LeaseState.DECLINED))
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(text: str) -> str:
    """
    C{text} as every store and the history can hold it: valid UTF-8 (each
    lone surrogate, which SQLite and PostgreSQL refuse, becomes U+FFFD, as
    an undecodable byte from the network does) and no NUL (PostgreSQL text
    holds none). A writer given anything else would fail its whole batch,
    and every batch after it, so a L{Lease} never holds it.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


@attrs.frozen
class Lease:
    """
    @ivar client_key: the client's identity: option 61 when it sent one,
        else the hardware type byte followed by chaddr.
    @ivar hostname: as L{storable_text} makes it.
    @ivar expires: wall-clock seconds since the epoch at which the state
        ends (the lease end for BOUND, the offer hold for OFFERED, the
        probation end for DECLINED, the time it was freed otherwise), so a
        stored lease means the same after a reboot.
    """

    address: IPv4Address
    state: LeaseState
    client_key: bytes
    mac: bytes
    expires: float
    # Made storable here, whichever way it came (a packet, a reservation, an
    # import, an API): see storable_text.
    hostname: str = attrs.field(default="", converter=storable_text)
    updated: float = 0.0

    def holds(self, now: float) -> bool:
        """
        Does this lease keep the address from everyone else at C{now}?
        """
        return self.state in HOLDING_STATES and self.expires > now

    def belongs_to(self, client_key: bytes) -> bool:
        return self.client_key == client_key and self.state is not LeaseState.DECLINED
