# -*- test-case-name: tests.unit.test_migration_convert -*-
"""
The DHCPv4 part of a C{dnsmasq.conf}: C{dhcp-range}, C{dhcp-host},
C{dhcp-option}, C{domain}, C{dhcp-authoritative}, C{interface}, C{port}.

dnsmasq's own defaults are carried over where ours differ: it is not
authoritative unless told (C{dhcp-authoritative}), it offers its own address
as router, and as DNS server unless its DNS is off (C{port=0}). A range with
no netmask takes the netmask of the local interface it falls in, as dnsmasq
does. Options given with a C{tag:} apply to some clients only; dhcpsuite has
no client classes, so they are reported and left out.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, ip_address

from dhcpsuite.migration.convert import Draft, LocalAddress, SubnetDraft, parse_lease_seconds

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
# dnsmasq option names and numbers -> our subnet key, for the options we name.
_NAMED = {
    "router": "router", "3": "router",
    "dns-server": "dns_servers", "6": "dns_servers",
    "ntp-server": "ntp_servers", "42": "ntp_servers",
    "domain-name": "domain_name", "15": "domain_name",
    "mtu": "mtu", "26": "mtu",
    "broadcast": "broadcast_address", "28": "broadcast_address",
}
_SCALAR = {"domain_name", "mtu", "broadcast_address"}
# Known option names with no named key; their number for [[option]].
_CODES = {"netmask": 1, "time-offset": 2, "log-server": 7, "lpr-server": 9, "hostname": 12, "boot-file-size": 13,
          "swap-server": 16, "root-path": 17, "ip-forward-enable": 19, "policy-filter": 21, "time-server": 4,
          "nis-domain": 40, "nis-server": 41, "netbios-ns": 44, "netbios-dd": 45, "netbios-nodetype": 46,
          "tftp-server": 66, "bootfile-name": 67, "smtp-server": 69, "pop3-server": 70, "domain-search": 119,
          "classless-static-route": 121, "T1": 58, "T2": 59, "lease-time": 51, "server-identifier": 54}
_CLASSLESS_ROUTES = 121
# Options whose values are numbers or the server's own, never address lists.
_NOT_ADDRESSES = {1, 2, 13, 22, 23, 24, 26, 51, 53, 54, 57, 58, 59}
# Options whose value is one string (RFC 2132): host name, merit dump file,
# root path, extensions path, NIS domain, NetBIOS scope, NIS+ domain, TFTP
# server, boot file.
_TEXT_CODES = {12, 14, 17, 18, 40, 47, 64, 66, 67}
# Directives with no DHCPv4 server meaning here, taken without a warning.
_QUIET = {"bind-interfaces", "bind-dynamic", "except-interface", "listen-address"}


def read_dnsmasq_conf(text: str, path: str, local: list[LocalAddress]) -> Draft:
    draft = Draft(default_router_is_self=True, default_dns_is_self=True)
    # Hosts and options need every subnet: applied after the ranges.
    options: list[tuple[str, str, list[str]]] = []
    domain: tuple[str, str] | None = None
    authoritative = False
    interfaces: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        where = f"{path}:{number}"
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if name == "dhcp-range":
            _range(draft, where, value, local)
        elif name == "dhcp-host":
            options.append(("host", where, [value]))
        elif name in ("dhcp-option", "dhcp-option-force"):
            options.append(("option", where, _split(value)))
        elif name == "domain":
            parts = _split(value)
            if len(parts) > 1:
                draft.warn(where, "domain for a range only: the domain is applied to every subnet")
            domain = (parts[0], where)
        elif name == "dhcp-authoritative":
            authoritative = True
        elif name == "interface":
            interfaces.update(_split(value))
        elif name == "port":
            if value.strip() == "0":
                draft.default_dns_is_self = False
        elif name in _QUIET:
            continue
        elif name == "dhcp-leasefile":
            draft.warn(where, f"the leases themselves: import them with 'dhcpsuite-ctl import-leases --from dnsmasq {value}'")
        else:
            draft.warn(where, f"'{name}' is not carried over")
    if interfaces:
        draft.interfaces = interfaces
    for kind, where, values in options:
        if kind == "host":
            _host(draft, where, values[0])
        else:
            _option(draft, where, values)
    for subnet in draft.subnets:
        subnet.authoritative = authoritative
        if domain and "domain_name" not in subnet.options:
            subnet.set("domain_name", *domain)
    return draft


def _strip_comment(line: str) -> str:
    stripped = line.strip()
    if stripped.startswith("#"):
        return ""
    return re.split(r"\s#", stripped, maxsplit=1)[0].strip()


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",")]


def _ipv4(text: str) -> IPv4Address | None:
    try:
        return IPv4Address(text)
    except ValueError:
        return None


def _range(draft: Draft, where: str, value: str, local: list[LocalAddress]) -> None:
    parts = _split(value)
    while parts and re.match(r"^(tag|set|net|interface):", parts[0]):
        tag = parts.pop(0)
        if not tag.startswith(("set:", "net:")):
            draft.warn(where, f"'{tag}' in dhcp-range: the range is served to every client")
    if not parts:
        draft.warn(where, "dhcp-range without addresses")
        return
    try:
        start = ip_address(parts[0])
    except ValueError:
        draft.warn(where, f"dhcp-range start {parts[0]!r} is not an address; left out")
        return
    if start.version == 6:
        draft.warn(where, "DHCPv6 range: dhcpsuite's server is DHCPv4 only; left out")
        return
    rest = parts[1:]
    end = _ipv4(rest[0]) if rest else None
    if end is None:
        mode = rest[0] if rest else "static"
        draft.warn(where, f"dhcp-range in '{mode}' mode has no dynamic pool; left out")
        return
    rest = rest[1:]
    netmask = _ipv4(rest[0]) if rest else None
    broadcast = None
    if netmask is not None:
        rest = rest[1:]
        broadcast = _ipv4(rest[0]) if rest else None
        if broadcast is not None:
            rest = rest[1:]
    lease_time = None
    for extra in rest:
        lease_time = parse_lease_seconds(extra)
        if lease_time is None:
            draft.warn(where, f"'{extra}' in dhcp-range is not carried over")
    if netmask is not None:
        try:
            network = IPv4Network(f"{start}/{netmask}", strict=False)
        except ValueError:
            draft.warn(where, f"{netmask} is not a netmask; the range is left out")
            return
    else:
        found = next((l for l in local if start in l.address.network), None)
        if found is None:
            draft.warn(where, f"dhcp-range {start}-{end} has no netmask and no local interface is in it; give the netmask; left out")
            return
        network = found.address.network
    subnet = draft.subnet_for(start)
    if subnet is None or subnet.network != network:
        subnet = SubnetDraft(network, where)
        draft.subnets.append(subnet)
    subnet.add("pool", f"{start}-{end}", where)
    if lease_time is not None:
        if subnet.lease_time is not None and subnet.lease_time != lease_time:
            draft.warn(where, f"a second lease time in subnet {network}: {subnet.lease_time} s is kept")
        else:
            subnet.set("lease_time", lease_time, where)
            if lease_time > 86400:
                subnet.set("max_lease_time", lease_time, where)
    if broadcast is not None:
        subnet.set("broadcast_address", str(broadcast), where)


def _host(draft: Draft, where: str, value: str) -> None:
    reservation: dict = {}
    address = None
    for part in _split(value):
        if _MAC.match(part):
            if "mac" in reservation:
                draft.warn(where, f"a second hardware address {part} for one host: only the first is reserved")
            else:
                reservation["mac"] = part.lower()
        elif part.startswith("id:"):
            client_id = part[3:]
            if client_id == "*":
                continue
            if re.match(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$", client_id):
                reservation["client_id"] = client_id.lower()
            else:
                reservation["client_id"] = client_id.encode().hex(":")
        elif part == "ignore":
            draft.warn(where, "dhcp-host ... ignore (refuse a client): dhcpsuite has no deny list; left out")
            return
        elif part.startswith(("set:", "tag:", "net:")) or part.startswith("["):
            draft.warn(where, f"'{part}' in dhcp-host is not carried over")
        elif _ipv4(part) is not None:
            address = IPv4Address(part)
        elif parse_lease_seconds(part) is not None:
            draft.warn(where, f"a per-host lease time ({part}) is not carried over: the subnet's applies")
        elif re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]*$", part):
            reservation["hostname"] = part
        else:
            draft.warn(where, f"'{part}' in dhcp-host is not understood; left out")
    if "mac" not in reservation and "client_id" not in reservation:
        draft.warn(where, "dhcp-host without a hardware address or client id is not carried over")
        return
    if address is None:
        draft.warn(where, "dhcp-host without an IPv4 address: dhcpsuite reserves an address per subnet; left out")
        return
    subnet = draft.subnet_for(address)
    if subnet is None:
        draft.warn(where, f"dhcp-host address {address} is in no dhcp-range's subnet; left out")
        return
    reservation["address"] = str(address)
    subnet.add("reservation", reservation, where)


def _option(draft: Draft, where: str, parts: list[str]) -> None:
    if parts and re.match(r"^(tag|encap|vi-encap|vendor|rfc3925-encap):", parts[0]):
        draft.warn(where, f"dhcp-option for '{parts[0]}' only: dhcpsuite has no client classes; left out")
        return
    if not parts or not parts[0]:
        draft.warn(where, "empty dhcp-option")
        return
    option = parts[0].removeprefix("option:")
    values = [v for v in parts[1:] if v != ""]
    key = _NAMED.get(option)
    if key is not None:
        value = _option_value(draft, where, key, values)
        if value is not None:
            for subnet in draft.subnets:
                subnet.set(key, value, where)
        return
    code = _CODES.get(option, int(option) if option.isdigit() else None)
    if code == _CLASSLESS_ROUTES:
        _classless_routes(draft, where, values)
        return
    addresses = [_ipv4(v) for v in values]
    if code is not None and values and all(a is not None for a in addresses) and code not in _NOT_ADDRESSES:
        for subnet in draft.subnets:
            subnet.add("option", {"code": code, "ip": [str(a) for a in addresses]}, where)
        return
    if code in _TEXT_CODES and values:
        text = ",".join(values)
        for subnet in draft.subnets:
            subnet.add("option", {"code": code, "text": text[1:-1] if text[:1] == text[-1:] == '"' else text}, where)
        return
    draft.warn(where, f"dhcp-option {option} is not carried over")


def _classless_routes(draft: Draft, where: str, values: list[str]) -> None:
    """
    C{121,DESTINATION/PREFIX,GATEWAY,...}: RFC 3442 routes, in pairs.
    """
    routes = []
    for destination, gateway in zip(values[::2], values[1::2]):
        try:
            routes.append({"destination": str(IPv4Network(destination, strict=True)), "gateway": str(IPv4Address(gateway))})
        except ValueError:
            break
    if not values or len(values) != 2 * len(routes):
        draft.warn(where, f"classless routes {values} are not DESTINATION/PREFIX,GATEWAY pairs; left out")
        return
    for subnet in draft.subnets:
        for route in routes:
            subnet.add("classless_route", dict(route), where)


def _option_value(draft: Draft, where: str, key: str, values: list[str]):
    if key in ("router", "dns_servers", "ntp_servers"):
        addresses = [_ipv4(v) for v in values]
        if any(a is None for a in addresses):
            draft.warn(where, f"{key}: {values} are not all IPv4 addresses; left out")
            return None
        # 0.0.0.0 stays SELF: dnsmasq's own address on the subnet.
        return addresses
    if len(values) != 1:
        draft.warn(where, f"{key} takes one value, not {values}; left out")
        return None
    value = values[0].strip('"')
    if key == "mtu":
        return int(value) if value.isdigit() else draft.warn(where, f"mtu {value!r} is not a number; left out")
    if key == "broadcast_address" and _ipv4(value) is None:
        return draft.warn(where, f"broadcast {value!r} is not an IPv4 address; left out")
    return value
