# -*- test-case-name: tests.unit.test_migration_convert -*-
"""
C{dhcpsuite-convert --from dnsmasq|isc-dhcpd FILE}: the common part of
another server's configuration as a dhcpsuite TOML file on stdout, and a
warning on stderr, naming C{file:line}, for every directive it does not
carry over. Kea's KEAMA (keama, ISC dhcpd to Kea) is the prior art; like it,
this converts what has a clear equivalent and says what it left out.

Each source's reader (L{dnsmasq_conf}, L{isc_conf}) fills a L{Draft} of
subnets; L{finish} places each subnet the way the old server would: on the
local interface whose address is inside it, else as a relayed subnet
(dhcpd's subnets with no local interface, dnsmasq's ranges reached through
a relay), then reconciles lease times. The output is checked with our own
configuration parser before it is printed.
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import subprocess
import sys
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Callable

import attrs

from dhcpsuite.config import ConfigError, parse_config_text
from dhcpsuite.migration.records import InputError
from dhcpsuite.tomltext import toml_document

# Our own address as a value: dnsmasq's 0.0.0.0 in an option, and what both
# servers send as router (dnsmasq) or server identifier by default.
SELF = IPv4Address("0.0.0.0")
# What an infinite lease becomes: the store keeps an end time for every
# binding, and clients renew at T1 anyway.
INFINITE_LEASE = 365 * 86400


class ConfigSource(enum.Enum):
    DNSMASQ = "dnsmasq"
    ISC_DHCPD = "isc-dhcpd"


@attrs.frozen
class ConvertWarning:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@attrs.frozen
class LocalAddress:
    interface: str
    address: IPv4Interface


@attrs.define
class SubnetDraft:
    network: IPv4Network
    where: str
    pools: list[str] = attrs.Factory(list)
    lease_time: int | None = None
    max_lease_time: int | None = None
    min_lease_time: int | None = None
    # Named option keys of [[server.subnet]] (router, dns_servers, ...).
    options: dict[str, Any] = attrs.Factory(dict)
    # [[server.subnet.option]] and [[server.subnet.classless_route]] tables.
    extra_options: list[dict] = attrs.Factory(list)
    classless_routes: list[dict] = attrs.Factory(list)
    reservations: list[dict] = attrs.Factory(list)
    authoritative: bool | None = None
    server_identifier: IPv4Address | None = None
    # Where each value came from, by the key path it gets in the subnet
    # table (C{mtu}, C{pool[1]}, C{reservation[0]}), for the warning when
    # our parser refuses it.
    sources: dict[str, str] = attrs.Factory(dict)

    def set(self, key: str, value: Any, where: str) -> None:
        if key in _TIME_KEYS:
            setattr(self, key, value)
        else:
            self.options[key] = value
        self.sources[key] = where

    def add(self, kind: str, value: Any, where: str) -> None:
        """
        Append to C{pool}, C{reservation}, C{option} or C{classless_route}.
        """
        items = {
            "pool": self.pools,
            "reservation": self.reservations,
            "option": self.extra_options,
            "classless_route": self.classless_routes,
        }[kind]
        self.sources[f"{kind}[{len(items)}]"] = where
        items.append(value)


_TIME_KEYS = ("lease_time", "min_lease_time", "max_lease_time")


@attrs.define
class Draft:
    subnets: list[SubnetDraft] = attrs.Factory(list)
    warnings: list[ConvertWarning] = attrs.Factory(list)
    # Defaults the source applies when a subnet says nothing.
    default_router_is_self: bool = False
    default_dns_is_self: bool = False
    # The interfaces the source serves on (dnsmasq's interface=); None: all.
    interfaces: set[str] | None = None

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(ConvertWarning(where, message))

    def subnet_for(self, address: IPv4Address) -> SubnetDraft | None:
        return next((s for s in self.subnets if address in s.network), None)


@attrs.frozen
class Conversion:
    document: dict
    warnings: tuple[ConvertWarning, ...]

    @property
    def text(self) -> str:
        return toml_document(self.document)


def finish(draft: Draft, local: list[LocalAddress], server_address: IPv4Address | None = None) -> Conversion:
    """
    The TOML document of C{draft}, each subnet placed on its local
    interface or made relayed.
    """
    if draft.interfaces is not None:
        local = [l for l in local if l.interface in draft.interfaces]
    subnets: list[dict] = []
    local_subnets = [l for l in local if any(l.address.ip in s.network for s in draft.subnets)]
    for draft_subnet in draft.subnets:
        table = _subnet_table(draft, draft_subnet, local, local_subnets, server_address)
        if table is not None:
            table = _accepted(draft, draft_subnet, subnets, table)
        if table is not None:
            subnets.append(table)
    if not subnets:
        draft.warn("(output)", "no subnet could be converted: the output has no [server] section")
        return Conversion({}, tuple(draft.warnings))
    return Conversion({"server": {"subnet": subnets}}, tuple(draft.warnings))


_ERROR_PATH = re.compile(r"^server\.subnet\[(\d+)\]\.([a-z_]+)(?:\[(\d+)\])?")


def _accepted(draft: Draft, s: SubnetDraft, before: list[dict], table: dict) -> dict | None:
    """
    C{table} as our own parser accepts it beside the subnets C{before}: a
    value it refuses is left out with a warning naming the line it came
    from; a subnet it cannot take at all is left out whole.
    """
    for _ in range(len(s.sources) + len(table) + 1):
        try:
            parse_config_text(toml_document({"server": {"subnet": [*before, table]}}), "<converted>")
            return table
        except ConfigError as e:
            match = _ERROR_PATH.match(e.path)
            if match is None or int(match.group(1)) != len(before) or match.group(2) in ("subnet", "interface", "server_address"):
                draft.warn(s.where, f"subnet {s.network}: {e.problem}; left out")
                return None
            key, index = match.group(2), match.group(3)
            if key not in table:
                draft.warn(s.where, f"subnet {s.network}: {e.problem}; left out")
                return None
            if index is None:
                del table[key]
                draft.warn(s.sources.get(key, s.where), f"{key}: {e.problem}; left out")
            else:
                # Later items of the same list keep their source: mark this one gone.
                table[key][int(index)] = None
                draft.warn(s.sources.get(f"{key}[{index}]", s.where), f"{key}: {e.problem}; left out")
                table[key] = [item for item in table[key] if item is not None]
                _renumber(s.sources, key, int(index))
                if not table[key]:
                    del table[key]
                    if key == "pool":
                        draft.warn(s.where, f"subnet {s.network} has no usable range left; left out")
                        return None
    return None


def _renumber(sources: dict[str, str], key: str, removed: int) -> None:
    count = sum(1 for k in sources if k.startswith(key + "["))
    for i in range(removed, count):
        following = sources.pop(f"{key}[{i + 1}]", None)
        if following is not None:
            sources[f"{key}[{i}]"] = following
        else:
            sources.pop(f"{key}[{i}]", None)


def _subnet_table(
    draft: Draft, s: SubnetDraft, local: list[LocalAddress], local_subnets: list[LocalAddress], server_address: IPv4Address | None
) -> dict | None:
    if not s.pools:
        draft.warn(s.where, f"subnet {s.network} has no dynamic range; dhcpsuite needs a pool, so it (and its hosts) are left out")
        return None
    table: dict[str, Any] = {"subnet": str(s.network)}
    mine = next((l for l in local if l.address.ip in s.network), None)
    if mine is not None:
        table["interface"] = mine.interface
        ours = mine.address.ip
    else:
        ours = s.server_identifier or server_address
        if ours is None and len({l.address.ip for l in local_subnets}) == 1:
            ours = local_subnets[0].address.ip
            draft.warn(s.where, f"subnet {s.network} has no local interface: served as relayed, server_address {ours} (the only local subnet's address)")
        if ours is None:
            draft.warn(s.where, f"subnet {s.network} has no local interface and no server identifier: give --server-address; left out")
            return None
        table["server_address"] = str(ours)
    table["pool"] = list(s.pools)
    table.update(_lease_times(draft, s))
    options = dict(s.options)
    if "router" not in options and draft.default_router_is_self and mine is not None:
        options["router"] = [SELF]
    if "dns_servers" not in options and draft.default_dns_is_self:
        options["dns_servers"] = [SELF]
    for key, value in options.items():
        if isinstance(value, list):
            value = [str(ours) if v == SELF else str(v) for v in value]
        table[key] = value
    if s.authoritative is not None:
        table["authoritative"] = s.authoritative
    if s.extra_options:
        table["option"] = list(s.extra_options)
    if s.classless_routes:
        table["classless_route"] = list(s.classless_routes)
    if s.reservations:
        table["reservation"] = list(s.reservations)
    return table


def _lease_times(draft: Draft, s: SubnetDraft) -> dict[str, int]:
    lease, low, high = s.lease_time, s.min_lease_time, s.max_lease_time
    times: dict[str, int] = {}
    if lease is None:
        lease = 3600 if high is None else min(3600, high)
    if high is not None and high < lease:
        draft.warn(s.where, f"the longest lease ({high} s) is shorter than the default ({lease} s): the default is cut to {high} s")
        lease = high
    if low is not None and low > lease:
        draft.warn(s.where, f"the shortest lease ({low} s) is longer than the default ({lease} s): it is cut to {lease} s")
        low = lease
    times["lease_time"] = lease
    if low is not None:
        times["min_lease_time"] = low
    if high is not None:
        times["max_lease_time"] = high
    elif lease > 86400:
        times["max_lease_time"] = lease
    return times


def parse_lease_seconds(text: str) -> int | None:
    """
    C{3600}, C{45m}, C{12h}, C{2d}, C{1w} in seconds; C{infinite} as
    L{INFINITE_LEASE}; L{None} if C{text} is no lease time.
    """
    if text in ("infinite", "infinity"):
        return INFINITE_LEASE
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    number, unit = (text[:-1], units[text[-1].lower()]) if text and text[-1].lower() in units else (text, 1)
    return int(number) * unit if number.isdigit() else None


def local_addresses() -> list[LocalAddress]:
    """
    This host's IPv4 addresses, as the old server would see them at start.
    """
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [
        LocalAddress(link["ifname"], IPv4Interface(f"{a['local']}/{a['prefixlen']}"))
        for link in json.loads(out or "[]")
        for a in link.get("addr_info", [])
        if link.get("ifname") != "lo"
    ]


def _local_option(text: str) -> LocalAddress:
    name, _, address = text.partition("=")
    try:
        return LocalAddress(name, IPv4Interface(address))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not IFNAME=ADDRESS/PREFIX") from None


def converters() -> dict[ConfigSource, Callable[[str, str, list[LocalAddress]], Draft]]:
    from dhcpsuite.migration.dnsmasq_conf import read_dnsmasq_conf
    from dhcpsuite.migration.isc_conf import read_dhcpd_conf

    return {ConfigSource.DNSMASQ: read_dnsmasq_conf, ConfigSource.ISC_DHCPD: read_dhcpd_conf}


def convert(source: ConfigSource, text: str, path: str, local: list[LocalAddress], server_address: IPv4Address | None = None) -> Conversion:
    return finish(converters()[source](text, path, local), local, server_address)


def _line_order(warning: ConvertWarning) -> int:
    line = warning.where.rpartition(":")[2]
    return int(line) if line.isdigit() else 1 << 30


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dhcpsuite-convert",
        description="Turn a dnsmasq.conf or dhcpd.conf into dhcpsuite TOML (stdout); warnings for what is not carried over go to stderr.",
    )
    parser.add_argument("--from", dest="source", required=True, choices=[s.value for s in ConfigSource])
    parser.add_argument("file")
    parser.add_argument(
        "--local", action="append", type=_local_option, metavar="IFNAME=ADDRESS/PREFIX",
        help="an interface address the old server had (repeatable); default: this host's, from 'ip -j addr'",
    )
    parser.add_argument("--server-address", type=IPv4Address, help="server identifier for relayed subnets that name none")
    args = parser.parse_args(argv)
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        print(f"dhcpsuite-convert: {args.file}: {e}", file=sys.stderr)
        return 2
    local = args.local if args.local is not None else local_addresses()
    try:
        conversion = convert(ConfigSource(args.source), text, args.file, local, args.server_address)
    except InputError as e:
        print(f"dhcpsuite-convert: {e}", file=sys.stderr)
        return 2
    for warning in sorted(conversion.warnings, key=_line_order):
        print(f"dhcpsuite-convert: warning: {warning}", file=sys.stderr)
    if not conversion.document:
        return 1
    output = f"# Converted by dhcpsuite-convert from {args.file!r} ({args.source}).\n" + conversion.text
    try:
        parse_config_text(output, "<converted>")
    except ConfigError as e:
        print(f"dhcpsuite-convert: the converted configuration does not validate ({e}); nothing written", file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
