# -*- test-case-name: tests.unit.test_migration_convert -*-
"""
The common part of an ISC C{dhcpd.conf}: subnets (in C{shared-network}s and
C{group}s too), C{range}s and C{pool}s, C{host}s with a C{fixed-address},
the common options, lease times, C{authoritative} and the server identifier.

Options and lease times are inherited as dhcpd inherits them: global, then
shared-network or group, then subnet; a subnet's own statements win
wherever they stand in its block. What a pool or a host sets only for itself
(dhcpsuite has no per-pool or per-host options) is reported and left out.
dhcpd's own defaults are written out where ours differ: a 12 h default
lease, 24 h longest, and not authoritative unless told.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import attrs

from dhcpsuite.migration.convert import Draft, LocalAddress, SubnetDraft
from dhcpsuite.migration.dhcpd_syntax import Token, statements, tokens

# dhcpd's built-in lease times (dhcpd.conf(5)).
DHCPD_DEFAULT_LEASE = 43200
DHCPD_MAX_LEASE = 86400
_LIST_OPTIONS = {"routers": "router", "domain-name-servers": "dns_servers", "ntp-servers": "ntp_servers"}
_SCALAR_OPTIONS = {"domain-name": "domain_name", "interface-mtu": "mtu", "broadcast-address": "broadcast_address"}
_TIMES = {"default-lease-time": "lease_time", "max-lease-time": "max_lease_time", "min-lease-time": "min_lease_time"}
_BLOCKS = ("subnet", "shared-network", "group", "pool", "host")


@attrs.frozen
class Scope:
    # Subnet key -> (value, where it was set).
    options: dict = attrs.Factory(dict)
    times: dict = attrs.Factory(dict)
    authoritative: bool = False
    server_identifier: IPv4Address | None = None


def read_dhcpd_conf(text: str, path: str, local: list[LocalAddress]) -> Draft:
    draft = Draft()
    hosts: list[tuple[str, list]] = []
    _walk(draft, list(statements(tokens(text, path), path)), Scope(), path, None, hosts, "global")
    for where, block in hosts:
        _host(draft, where, block, path)
    return draft


def _where(path: str, words: list[Token]) -> str:
    return f"{path}:{words[0].line}"


def _values(words: list[Token]) -> list[str]:
    return [w.text for w in words if w.text != ","]


def _scoped(draft: Draft, body: list, parent: Scope, path: str, level: str) -> Scope:
    """
    The scope of a block: its parent's, with the block's own settings.
    """
    options, times = dict(parent.options), dict(parent.times)
    authoritative, server_id = parent.authoritative, parent.server_identifier
    for words, block in body:
        if block is not None:
            continue
        keyword, where = words[0].text, _where(path, words)
        values = _values(words[1:])
        if keyword == "option" and values:
            name = values[0]
            if name == "dhcp-server-identifier" and len(values) == 2:
                server_id = _address(draft, where, values[1])
            elif level in ("host", "pool") and name in {*_LIST_OPTIONS, *_SCALAR_OPTIONS}:
                draft.warn(where, f"option {name} for one {level} only: dhcpsuite sets options per subnet; left out")
            elif name in _LIST_OPTIONS:
                addresses = [_address(draft, where, v) for v in values[1:]]
                if all(addresses):
                    options[_LIST_OPTIONS[name]] = (addresses, where)
            elif name == "interface-mtu" and len(values) == 2 and not values[1].isdigit():
                draft.warn(where, f"interface-mtu {values[1]!r} is not a number; left out")
            elif name in _SCALAR_OPTIONS and len(values) == 2:
                options[_SCALAR_OPTIONS[name]] = (int(values[1]) if name == "interface-mtu" else values[1], where)
            elif name in ("subnet-mask", "host-name", "dhcp-client-identifier") or level == "host":
                continue  # a subnet's own mask; a host's name and identity are read with the host
            else:
                draft.warn(where, f"option {name} is not carried over")
        elif keyword in _TIMES and len(values) == 1 and values[0].isdigit():
            times[_TIMES[keyword]] = (int(values[0]), where)
        elif keyword == "authoritative":
            authoritative = True
        elif keyword == "not" and values == ["authoritative"]:
            authoritative = False
        elif keyword == "server-identifier" and len(values) == 1:
            server_id = _address(draft, where, values[0])
        elif keyword == "ddns-update-style" and values == ["none"]:
            continue
        elif keyword in ("range", "hardware", "fixed-address"):
            continue  # read by the walk and the host reader
        else:
            draft.warn(where, f"'{' '.join(w.text for w in words)}' is not carried over")
    return Scope(options, times, authoritative, server_id)


def _walk(draft: Draft, body: list, parent: Scope, path: str, subnet: SubnetDraft | None, hosts: list, level: str) -> None:
    scope = _scoped(draft, body, parent, path, level)
    if subnet is not None and level == "subnet":
        _apply(subnet, scope)
    for words, block in body:
        keyword, where = words[0].text, _where(path, words)
        if block is None:
            if keyword == "range":
                _range(draft, where, _values(words[1:]), subnet)
            continue
        if keyword == "subnet":
            new = _subnet(draft, where, _values(words[1:]))
            if new is not None:
                _walk(draft, block, scope, path, new, hosts, "subnet")
        elif keyword in ("shared-network", "group"):
            _walk(draft, block, scope, path, subnet, hosts, keyword)
        elif keyword == "pool":
            # A shared network's pool serves whichever of its subnets holds the range.
            if subnet is None and level != "shared-network":
                draft.warn(where, "a pool outside a subnet or shared-network is not carried over")
            else:
                _walk(draft, block, scope, path, subnet, hosts, "pool")
        elif keyword == "host":
            hosts.append((where, block))
        else:
            draft.warn(where, f"'{keyword}' blocks are not carried over")


def _apply(subnet: SubnetDraft, scope: Scope) -> None:
    for key, (value, where) in scope.options.items():
        subnet.set(key, value, where)
    defaults = {"lease_time": (DHCPD_DEFAULT_LEASE, subnet.where), "max_lease_time": (DHCPD_MAX_LEASE, subnet.where)}
    for key, (value, where) in {**defaults, **scope.times}.items():
        subnet.set(key, value, where)
    subnet.authoritative = scope.authoritative
    subnet.server_identifier = scope.server_identifier


def _address(draft: Draft, where: str, text: str) -> IPv4Address | None:
    try:
        return IPv4Address(text)
    except ValueError:
        draft.warn(where, f"{text!r} is not an IPv4 address (host names are not resolved); left out")
        return None


def _subnet(draft: Draft, where: str, values: list[str]) -> SubnetDraft | None:
    if len(values) != 3 or values[1] != "netmask":
        draft.warn(where, "expected 'subnet ADDRESS netmask MASK'; left out")
        return None
    try:
        network = IPv4Network(f"{values[0]}/{values[2]}")
    except ValueError as e:
        draft.warn(where, f"subnet {values[0]} netmask {values[2]}: {e}; left out")
        return None
    subnet = SubnetDraft(network, where)
    draft.subnets.append(subnet)
    return subnet


def _range(draft: Draft, where: str, values: list[str], subnet: SubnetDraft | None) -> None:
    if values and values[0] == "dynamic-bootp":
        draft.warn(where, "dynamic-bootp: dhcpsuite does not answer BOOTP; the range is used for DHCP")
        values = values[1:]
    if not 1 <= len(values) <= 2:
        draft.warn(where, "not 'range FIRST [LAST]'; left out")
        return
    first = _address(draft, where, values[0])
    last = _address(draft, where, values[-1])
    if first is None or last is None:
        return
    subnet = subnet or draft.subnet_for(first)
    if subnet is None:
        draft.warn(where, f"range {first} {last} is in no subnet; left out")
        return
    if first not in subnet.network or last not in subnet.network:
        draft.warn(where, f"range {first} {last} is not inside subnet {subnet.network}; left out")
        return
    subnet.add("pool", f"{min(first, last)}-{max(first, last)}", where)


def _host(draft: Draft, where: str, block: list, path: str) -> None:
    reservation: dict = {}
    addresses: list[IPv4Address] = []
    for words, inner in block:
        values = _values(words[1:])
        keyword = words[0].text
        if inner is not None:
            continue
        if keyword == "hardware" and len(values) == 2 and values[0] == "ethernet":
            reservation["mac"] = values[1].lower()
        elif keyword == "fixed-address":
            addresses = [a for a in (_address(draft, _where(path, words), v) for v in values) if a is not None]
        elif keyword == "option" and len(values) == 2 and values[0] == "host-name":
            reservation["hostname"] = values[1]
        elif keyword == "option" and len(values) == 2 and values[0] == "dhcp-client-identifier":
            try:
                raw = values[1].encode("latin-1") if words[-1].quoted else bytes.fromhex(values[1].replace(":", ""))
            except ValueError:
                draft.warn(_where(path, words), f"dhcp-client-identifier {values[1]!r} is not hex bytes; left out")
                continue
            reservation["client_id"] = raw.hex(":")
    if "mac" not in reservation and "client_id" not in reservation:
        draft.warn(where, "a host without 'hardware ethernet' or a client identifier is not carried over")
        return
    if not addresses:
        draft.warn(where, "a host without a fixed-address: dhcpsuite reserves addresses, not options; left out")
        return
    placed = False
    for address in addresses:
        subnet = draft.subnet_for(address)
        if subnet is not None and not placed:
            subnet.add("reservation", dict(reservation, address=str(address)), where)
            placed = True
        elif subnet is not None:
            draft.warn(where, f"fixed-address {address}: one reservation per client; only the first address in a subnet is kept")
    if not placed:
        draft.warn(where, f"fixed-address {', '.join(map(str, addresses))} is in no subnet; left out")
