# -*- test-case-name: tests.unit.test_hexbytes -*-
"""
Bytes as colon-separated hex text, and back: MAC addresses, client
identifiers and option values in configuration, logs and the API.
"""

from __future__ import annotations


def mac_text(raw: bytes) -> str:
    """
    C{02:00:ab:00:00:01}: lower case, two digits per octet, the way
    C{ip link}, Kea and dhcpd print hardware addresses.
    """
    return ":".join(f"{b:02x}" for b in raw)


def parse_hex(text: str) -> bytes:
    """
    Hex octets, optionally separated by C{:}, C{-} or spaces
    (C{01:02 03-04}).

    @raise ValueError: for an odd number of digits or a non-hex character.
    """
    return bytes.fromhex(text.replace(":", "").replace("-", "").replace(" ", ""))
