# -*- test-case-name: tests.unit.test_server_wanoptions -*-
"""
Subnet options that follow a WAN lease: C{dns_servers = ["wan:erouter0",
"192.168.1.1"]}, the same for C{ntp_servers} and C{domain_name}, as RDK-B's
DHCP Manager rewrites the LAN server's configuration when the WAN lease
changes.

Pure: L{option_block} turns a subnet's configuration and the current v4
lease records of the WAN interfaces into the subnet's option block. The
server computes it when the lease registry changes (L{WanOptionFeed}), never
per packet.

A C{wan:IF} entry stands for the values of IF's current v4 lease (our own
client's or an ingested one), checked first: only unicast IPv4 addresses,
only a valid domain name. While IF has no lease, or its lease has no such
value, the entry stands for the subnet's C{wan_fallback_<key>} (default:
nothing). Static entries are always served; repeated addresses once.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any, Callable, Iterable

import attrs
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.client.core.dnsnames import valid_name
from dhcpsuite.dhcp4.constants import Option
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.options import encode_value
from dhcpsuite.interfaces import ILeaseListener

WAN_PREFIX = "wan:"
_FAMILY_V4 = 4


@attrs.frozen
class WanSource:
    """
    A C{wan:IF} entry: the values of IF's v4 lease.
    """

    interface: str


@attrs.frozen
class WanOption:
    """
    One option of a subnet that takes values from WAN leases.

    @ivar entries: in configuration order, each an L{IPv4Address} (or for
        the domain name a L{str}) or a L{WanSource}.
    @ivar fallback: what a L{WanSource} stands for while its interface has
        no value.
    """

    code: int
    entries: tuple
    fallback: tuple = ()

    @property
    def interfaces(self) -> frozenset[str]:
        return frozenset(e.interface for e in self.entries if isinstance(e, WanSource))


@attrs.frozen
class WanValues:
    """
    What a v4 lease offers the LAN, already checked.
    """

    dns_servers: tuple[IPv4Address, ...] = ()
    ntp_servers: tuple[IPv4Address, ...] = ()
    domain_name: str = ""

    def of(self, code: int) -> tuple:
        if code == Option.DOMAIN_NAME_SERVER:
            return self.dns_servers
        if code == Option.NTP_SERVERS:
            return self.ntp_servers
        return (self.domain_name,) if self.domain_name else ()


def _usable(addresses: Iterable[Any]) -> tuple[IPv4Address, ...]:
    # Values from the network: only addresses a LAN host could talk to.
    return tuple(
        a for a in addresses
        if isinstance(a, IPv4Address) and not (a.is_unspecified or a.is_multicast or a == IPv4Address("255.255.255.255"))
    )


def _domain(name: Any) -> str:
    return name if isinstance(name, str) and name and valid_name(name) else ""


def _from_client(record: Any) -> WanValues:
    # Our client's lease: the ACK's options; a malformed one reads as absent.
    reply = record.reply

    def option(code: int, default: Any) -> Any:
        try:
            return reply.option(int(code), default)
        except DecodeError:
            return default

    return WanValues(
        _usable(option(Option.DOMAIN_NAME_SERVER, []) or []),
        _usable(option(Option.NTP_SERVERS, []) or []),
        _domain(option(Option.DOMAIN_NAME, "")),
    )


def _from_ingest(record: Any) -> WanValues:
    # RDK-B's PLUGIN_MSG carries DNS servers and the domain, no NTP servers.
    return WanValues(_usable(record.dns_servers), (), _domain(record.domain_name))


def _record_types() -> dict[type, Callable[[Any], WanValues]]:
    from dhcpsuite.client.core.lease import Lease as ClientLease
    from dhcpsuite.ingest.pluginmsg import Lease4

    return {ClientLease: _from_client, Lease4: _from_ingest}


# Lease record type (whoever wrote it into the registry) -> its values.
RECORD_READERS: dict[type, Callable[[Any], WanValues]] = {}


def wan_values(record: Any) -> WanValues:
    """
    @return: the values of a registry v4 record; nothing for L{None} or a
        record type nobody reads.
    """
    if record is None:
        return WanValues()
    if not RECORD_READERS:
        RECORD_READERS.update(_record_types())
    reader = RECORD_READERS.get(type(record))
    return reader(record) if reader is not None else WanValues()


def option_block(
    static: tuple[tuple[int, bytes], ...],
    wan_options: tuple[WanOption, ...],
    lease_of: Callable[[str], Any],
) -> tuple[tuple[int, bytes], ...]:
    """
    A subnet's options: its static ones, then each WAN-fed one with its
    current values (omitted when it has none).

    @param lease_of: an interface's current v4 lease record, or L{None}.
    """
    block = list(static)
    for option in wan_options:
        values: list = []
        for entry in option.entries:
            found = wan_values(lease_of(entry.interface)).of(option.code) if isinstance(entry, WanSource) else (entry,)
            for value in found or option.fallback:
                if value not in values:
                    values.append(value)
        if not values:
            continue
        if option.code == Option.DOMAIN_NAME:
            block.append((option.code, encode_value(Option.DOMAIN_NAME, values[0])))
        else:
            block.append((option.code, encode_value(option.code, values)))
    return tuple(block)


@implementer(ILeaseListener)
class WanOptionFeed:
    """
    Recomputes the option blocks of the subnets that take WAN values when
    a lease of one of their interfaces changes, and hands them to
    C{apply(subnet, options)} (the server core's). New offers use them at
    once; bound clients get them at their next renewal.
    """

    log = Logger()

    def __init__(self, registry: Any, apply: Callable[[Any, tuple], None]) -> None:
        self.registry = registry
        self.apply = apply
        self.subnets: tuple = ()
        self._interfaces: frozenset[str] = frozenset()

    def follow(self, subnets: Iterable[Any]) -> None:
        """
        Take these subnets (all of the configuration's; those without WAN
        options are skipped) and give each its block now.
        """
        self.subnets = tuple(s for s in subnets if s.wan_options)
        self._interfaces = frozenset(i for s in self.subnets for o in s.wan_options for i in o.interfaces)
        self.refresh()

    def refresh(self) -> None:
        lease_of = lambda ifname: self.registry.lease(ifname, _FAMILY_V4)  # noqa: E731
        for subnet in self.subnets:
            self.apply(subnet, option_block(subnet.options, subnet.wan_options, lease_of))

    def lease_changed(self, change: Any) -> None:
        if change.family != _FAMILY_V4 or change.interface not in self._interfaces:
            return
        self.refresh()
        self.log.info("LAN options follow the WAN lease of {interface} ({cause})",
                      interface=change.interface, cause=change.cause)


def parse_entries(texts: list[str], parse: Callable[[str], Any]) -> tuple:
    """
    Configuration entries: C{wan:IF} as a L{WanSource}, anything else by
    C{parse} (a L{ValueError} names the entry).
    """
    entries = []
    for text in texts:
        if text.startswith(WAN_PREFIX):
            ifname = text[len(WAN_PREFIX):]
            if not ifname or len(ifname) > 15 or "/" in ifname or any(c.isspace() for c in ifname):
                raise ValueError(f"{text!r}: {ifname!r} is not an interface name")
            entries.append(WanSource(ifname))
        else:
            entries.append(parse(text))
    return tuple(entries)
