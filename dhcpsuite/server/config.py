# -*- test-case-name: tests.unit.test_server_config -*-
"""
The C{[server]} section: subnets, pools, options, reservations.
"""

from __future__ import annotations

import os
import re
import stat
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Callable

import attrs

from dhcpsuite.config import ConfigError, Section
from dhcpsuite.history.config import HistoryConfig, parse_history_config
from dhcpsuite.dhcp4.constants import Option
from dhcpsuite.dhcp4.options import ClasslessRoute, encode_value
from dhcpsuite.server.wanoptions import WanOption, WanSource, parse_entries
from dhcpsuite.hexbytes import parse_hex
from dhcpsuite.leases.stores import STORES


@attrs.frozen
class PostgreSQLConfig:
    """
    C{[server.postgresql]}: where the shared lease database is.

    @ivar host: a host name, or a directory holding the server's unix socket.
    @ivar password_file: a file (mode 0600 or stricter) holding the password
        on its first line; L{None} for peer or certificate authentication.
    @ivar pool_size: writer connections (and threads); changes to one
        address always go through the same one, so they stay in order.
    @ivar member_timeout: seconds without a heartbeat after which a member
        of the cluster is gone and its share of free addresses is the
        survivors' (a member whose database session ended is gone at once).
    """

    host: str = "/var/run/postgresql"
    port: int = 5432
    dbname: str = "dhcpsuite"
    user: str = "dhcpsuite"
    password_file: str | None = None
    connect_timeout: float = 5.0
    pool_size: int = 1
    member_timeout: float = 3.0


@attrs.frozen
class AddressRange:
    first: IPv4Address
    last: IPv4Address

    def __contains__(self, address: IPv4Address) -> bool:
        return self.first <= address <= self.last

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1


@attrs.frozen
class Reservation:
    address: IPv4Address | None
    mac: bytes | None = None
    client_id: bytes | None = None
    hostname: str = ""


@attrs.frozen
class SubnetConfig:
    network: IPv4Network
    pools: tuple[AddressRange, ...]
    interface: str | None = None
    server_address: IPv4Address | None = None
    lease_time: int = 3600
    min_lease_time: int = 60
    max_lease_time: int = 86400
    renewal_time: int | None = None
    rebinding_time: int | None = None
    authoritative: bool = True
    max_leases: int = 0
    offer_hold_time: float = 10.0
    decline_probation_time: float = 600.0
    # Most addresses quarantined by DECLINE at once; None: a quarter of the
    # pool addresses (see effective_max_declined).
    max_declined: int | None = None
    rapid_commit: bool = False
    reservations: tuple[Reservation, ...] = ()
    # Options every reply in this subnet carries (when the client asks or
    # they are always sent), raw bytes by code, in configuration order.
    options: tuple[tuple[int, bytes], ...] = ()
    # Options whose values follow WAN leases (dns_servers = ["wan:erouter0"]),
    # served after the static ones (dhcpsuite.server.wanoptions).
    wan_options: tuple[WanOption, ...] = ()

    @property
    def name(self) -> str:
        return str(self.network)

    @property
    def effective_max_declined(self) -> int:
        if self.max_declined is not None:
            return self.max_declined
        return max(1, sum(pool.size for pool in self.pools) // 4)


@attrs.frozen
class RateLimit:
    """
    Requests per second allowed from one key, with a burst; 0 turns it off.
    """

    rate: float = 0.0
    burst: int = 10

    @property
    def enabled(self) -> bool:
        return self.rate > 0


@attrs.frozen
class ServerConfig:
    subnets: tuple[SubnetConfig, ...]
    lease_store: str = "sqlite"
    # Extra interfaces to listen on for relayed traffic only.
    listen: tuple[str, ...] = ()
    log_exchanges: bool = True
    reclaim_interval: float = 60.0
    # Per client MAC and per relay (giaddr); clients with a reservation are exempt.
    client_rate_limit: RateLimit = RateLimit(10.0, 20)
    relay_rate_limit: RateLimit = RateLimit(0.0, 100)
    # Most keys each rate limiter remembers (bounded memory under floods).
    rate_limit_entries: int = 65536
    # How replies reach clients on the link: a LINK_REPLY_PATHS name.
    link_replies: str = "packet-socket"
    # Relay agents (giaddr) whose subnet selection (option 118, option 82
    # sub-option 5) is honoured; nobody else's is.
    trusted_relays: tuple[IPv4Network, ...] = ()
    # Most addresses one MAC may hold at once in a subnet (offered or bound,
    # whatever its client identifiers); 0 turns the limit off.
    max_bindings_per_mac: int = 4
    # Replies waiting for their commit at which new DISCOVERs are dropped;
    # 0 turns the limit off (see protocol.AckBacklog).
    max_pending_acks: int = 512
    # Seconds a DISCOVER may have waited in the socket's receive queue
    # before it is dropped unanswered; 0 turns the limit off.
    max_queue_wait: float = 0.5
    # SQLite store: seconds between the starts of two commits under load
    # (group commit); 0 commits as soon as the last one is done.
    commit_interval: float = 0.002
    postgresql: PostgreSQLConfig = PostgreSQLConfig()
    history: HistoryConfig = HistoryConfig()

    @property
    def interfaces(self) -> tuple[str, ...]:
        names = [s.interface for s in self.subnets if s.interface] + list(self.listen)
        return tuple(dict.fromkeys(names))


# [server] link_replies: frames on a packet socket (no neighbour entry needed,
# as Kea's raw mode), or the kernel's UDP path (an ARP entry, replies seen by
# netfilter). The sender for each is chosen in server.service.
LINK_REPLY_PATHS = ("packet-socket", "udp-socket")

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")


def parse_mac(text: str) -> bytes:
    if not _MAC.match(text):
        raise ValueError("expected six hex octets like 02:00:00:00:00:01")
    return parse_hex(text)



def parse_range(text: str) -> AddressRange:
    if "-" not in text:
        raise ValueError("expected FIRST-LAST")
    first_text, last_text = (part.strip() for part in text.split("-", 1))
    for part in (first_text, last_text):
        try:
            IPv4Address(part)
        except ValueError:
            raise ValueError(f"{part} is not an IPv4 address") from None
    first, last = IPv4Address(first_text), IPv4Address(last_text)
    if last < first:
        raise ValueError("the last address is before the first")
    return AddressRange(first, last)


# Named option keys of a subnet: key -> (option code, how to read it).
_IP_LIST_OPTIONS = {
    "router": Option.ROUTER,
    "dns_servers": Option.DOMAIN_NAME_SERVER,
    "ntp_servers": Option.NTP_SERVERS,
}


# The keys whose entries may be wan:INTERFACE (with a wan_fallback_<key>).
_WAN_FED = ("dns_servers", "ntp_servers", "domain_name")


def _option_entries(s: Section, key: str, parse: Callable[[str], Any], what: str) -> tuple:
    texts = s.string_list(key, [])
    single = isinstance(s.data.get(key), str)
    entries = []
    for index, text in enumerate(texts):
        path = s.key_path(key) if single else f"{s.key_path(key)}[{index}]"
        try:
            entries.extend(parse_entries([text], parse))
        except ValueError as e:
            detail = str(e)
            raise ConfigError(path, detail if text in detail else f"{text!r} is not {what}") from None
    return tuple(entries)


def _add_option(s: Section, key: str, code: int, entries: tuple, fallback: tuple,
                options: list, wan_options: list) -> None:
    """
    A static option goes into the block; one with a C{wan:} entry is kept
    apart, to be computed from the WAN lease.
    """
    if any(isinstance(e, WanSource) for e in entries):
        wan_options.append(WanOption(int(code), entries, fallback))
        return
    if fallback:
        raise s.error(f"wan_fallback_{key}", f"is used only when {key} has a wan:INTERFACE entry")
    if entries:
        value = entries[0] if code == Option.DOMAIN_NAME else list(entries)
        options.append((int(code), encode_value(code, value)))


def parse_server_config(section: Section) -> ServerConfig:
    lease_store = section.choice("lease_store", tuple(STORES), "sqlite")
    postgresql_section = section.table("postgresql", None)
    postgresql = PostgreSQLConfig() if postgresql_section is None else _parse_postgresql(postgresql_section)
    listen = tuple(section.string_list("listen", []))
    log_exchanges = section.boolean("log_exchanges", True)
    reclaim_interval = section.number("reclaim_interval", 60.0, minimum=1)
    client_limit = _parse_rate_limit(section, "client_rate_limit", RateLimit(10.0, 20))
    relay_limit = _parse_rate_limit(section, "relay_rate_limit", RateLimit(0.0, 100))
    entries = section.integer("rate_limit_entries", 65536, minimum=16)
    link_replies = section.choice("link_replies", LINK_REPLY_PATHS, "packet-socket")
    trusted_relays = tuple(
        section.parsed_list(
            "trusted_relays", lambda t: IPv4Network(t, strict=True), "an IPv4 address or network like 10.1.0.1 or 10.1.0.0/16", []
        )
    )
    max_bindings_per_mac = section.integer("max_bindings_per_mac", 4, minimum=0)
    max_pending_acks = section.integer("max_pending_acks", 512, minimum=0)
    max_queue_wait = section.number("max_queue_wait", 0.5, minimum=0)
    commit_interval = section.number("commit_interval", 0.002, minimum=0)
    if commit_interval > 1:
        raise section.error("commit_interval", f"{commit_interval} is more than 1 (seconds; every ACK may wait this long)")
    subnets = tuple(_parse_subnet(s) for s in section.tables("subnet"))
    if not subnets:
        raise section.error("subnet", "at least one [[server.subnet]] is required")
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            if a.network.overlaps(b.network):
                raise section.error("subnet", f"subnets {a.network} and {b.network} overlap")
    return ServerConfig(
        subnets,
        lease_store,
        listen,
        log_exchanges,
        reclaim_interval,
        client_limit,
        relay_limit,
        entries,
        link_replies=link_replies,
        trusted_relays=trusted_relays,
        max_bindings_per_mac=max_bindings_per_mac,
        max_pending_acks=max_pending_acks,
        max_queue_wait=max_queue_wait,
        commit_interval=commit_interval,
        postgresql=postgresql,
        history=parse_history_config(section.table("history", None)),
    )


def _parse_postgresql(section: Section) -> PostgreSQLConfig:
    default = PostgreSQLConfig()
    if section.has("password"):
        raise section.error("password", "is not allowed inline; put it in a file of mode 0600 named by password_file")
    password_file = section.string("password_file", None)
    if password_file is not None:
        try:
            mode = os.stat(password_file).st_mode
        except OSError as e:
            raise section.error("password_file", f"cannot read {password_file}: {e.strerror or e}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise section.error(
                "password_file",
                f"{password_file} is readable by group or others (mode {stat.S_IMODE(mode):04o}); chmod 600 it",
            )
    config = PostgreSQLConfig(
        host=section.string("host", default.host),
        port=section.integer("port", default.port, minimum=1, maximum=65535),
        dbname=section.string("dbname", default.dbname),
        user=section.string("user", default.user),
        password_file=password_file,
        connect_timeout=section.number("connect_timeout", default.connect_timeout, minimum=1),
        pool_size=section.integer("pool_size", default.pool_size, minimum=1, maximum=16),
        # At least two heartbeats (one a second), so one late beat is not a death.
        member_timeout=section.number("member_timeout", default.member_timeout, minimum=2),
    )
    section.finish()
    return config


def _parse_rate_limit(section: Section, key: str, default: RateLimit) -> RateLimit:
    table = section.table(key, None)
    if table is None:
        return default
    limit = RateLimit(table.number("rate", default.rate, minimum=0), table.integer("burst", default.burst, minimum=1))
    table.finish()
    return limit


def _parse_subnet(s: Section) -> SubnetConfig:
    network = s.parsed("subnet", lambda t: IPv4Network(t, strict=True), "an IPv4 network like 10.0.0.0/24")
    pools = tuple(s.parsed_list("pool", parse_range, "an address range like 10.0.0.100-10.0.0.200"))
    if not pools:
        raise s.error("pool", "at least one range is required")
    for index, pool in enumerate(pools):
        if pool.first not in network or pool.last not in network:
            raise ConfigError(f"{s.key_path('pool')}[{index}]", f"{pool.first}-{pool.last} is not inside {network}")
        if network.prefixlen < 31:
            for special, what in ((network.network_address, "network"), (network.broadcast_address, "broadcast")):
                if special in pool:
                    raise ConfigError(
                        f"{s.key_path('pool')}[{index}]", f"{pool.first}-{pool.last} includes the {what} address {special}"
                    )
    interface = s.string("interface", None)
    server_address = s.ipv4("server_address", None)
    if interface is None and server_address is None:
        raise s.error("server_address", "is required for a relayed-only subnet (one without 'interface')")
    lease_time = s.integer("lease_time", 3600, minimum=1)
    min_lease_time = s.integer("min_lease_time", min(60, lease_time), minimum=1)
    max_lease_time = s.integer("max_lease_time", max(86400, lease_time), minimum=1)
    if not min_lease_time <= lease_time <= max_lease_time:
        raise s.error("lease_time", f"{lease_time} is not between min_lease_time and max_lease_time")
    renewal_time = s.integer("renewal_time", None, minimum=1)
    rebinding_time = s.integer("rebinding_time", None, minimum=1)
    if renewal_time is not None and rebinding_time is not None and renewal_time >= rebinding_time:
        raise s.error("renewal_time", "must be less than rebinding_time")
    for key, value in (("renewal_time", renewal_time), ("rebinding_time", rebinding_time)):
        if value is not None and value >= lease_time:
            raise s.error(key, f"{value} must be less than lease_time ({lease_time})")

    options: list[tuple[int, bytes]] = [(int(Option.SUBNET_MASK), network.netmask.packed)]
    wan_options: list[WanOption] = []
    for key, code in _IP_LIST_OPTIONS.items():
        if key not in _WAN_FED:
            addresses = s.ipv4_list(key, [])
            if addresses:
                options.append((int(code), encode_value(code, addresses)))
            continue
        entries = _option_entries(s, key, IPv4Address, "an IPv4 address or wan:INTERFACE")
        fallback = tuple(s.ipv4_list(f"wan_fallback_{key}", []))
        _add_option(s, key, code, entries, fallback, options, wan_options)
    # A string, or a list whose first value is served (["wan:erouter0", "home.arpa"]).
    entries = tuple(e for e in _option_entries(s, "domain_name", str, "a domain name or wan:INTERFACE") if e)
    fallback_name = s.string("wan_fallback_domain_name", None)
    _add_option(s, "domain_name", Option.DOMAIN_NAME, entries, (fallback_name,) if fallback_name else (), options,
                wan_options)
    broadcast = s.ipv4("broadcast_address", network.broadcast_address)
    options.append((int(Option.BROADCAST_ADDRESS), broadcast.packed))
    mtu = s.integer("mtu", None, minimum=68, maximum=65535)
    if mtu is not None:
        options.append((int(Option.INTERFACE_MTU), encode_value(Option.INTERFACE_MTU, mtu)))
    routes = [_parse_route(r) for r in s.tables("classless_route")]
    if routes:
        options.append((int(Option.CLASSLESS_STATIC_ROUTE), encode_value(Option.CLASSLESS_STATIC_ROUTE, routes)))
    for extra in s.tables("option"):
        options.append(_parse_extra_option(extra))

    reservations = tuple(_parse_reservation(r, network) for r in s.tables("reservation"))
    _check_reservations(s, reservations)
    subnet = SubnetConfig(
        network=network,
        pools=pools,
        interface=interface,
        server_address=server_address,
        lease_time=lease_time,
        min_lease_time=min_lease_time,
        max_lease_time=max_lease_time,
        renewal_time=renewal_time,
        rebinding_time=rebinding_time,
        authoritative=s.boolean("authoritative", True),
        max_leases=s.integer("max_leases", 0, minimum=0),
        offer_hold_time=s.number("offer_hold_time", 10.0, minimum=1),
        decline_probation_time=s.number("decline_probation_time", 600.0, minimum=0),
        max_declined=s.integer("max_declined", None, minimum=1),
        rapid_commit=s.boolean("rapid_commit", False),
        reservations=reservations,
        options=tuple(options),
        wan_options=tuple(wan_options),
    )
    s.finish()
    return subnet


def _parse_route(r: Section) -> ClasslessRoute:
    destination = r.parsed("destination", lambda t: IPv4Network(t, strict=True), "an IPv4 network")
    gateway = r.ipv4("gateway")
    r.finish()
    return ClasslessRoute(destination, gateway)


# Value keys of an [[option]] table; exactly one must be given.
_VALUE_KINDS = ("hex", "text", "ip", "u8", "u16", "u32")


def _parse_extra_option(o: Section) -> tuple[int, bytes]:
    code = o.integer("code", minimum=1, maximum=254)
    if code in (Option.MESSAGE_TYPE, Option.SERVER_ID, Option.OVERLOAD, Option.RELAY_AGENT_INFO, Option.LEASE_TIME):
        raise o.error("code", f"option {code} is set by the server itself")
    given = [k for k in _VALUE_KINDS if o.has(k)]
    if len(given) != 1:
        raise o.error("code", f"option {code} needs exactly one of {', '.join(_VALUE_KINDS)}")
    kind = given[0]
    if kind == "hex":
        raw = o.parsed("hex", parse_hex, "hex bytes like 01:02:0a")
    elif kind == "text":
        raw = o.string("text").encode("utf-8")
    elif kind == "ip":
        raw = b"".join(a.packed for a in o.ipv4_list("ip"))
    else:
        size = {"u8": 1, "u16": 2, "u32": 4}[kind]
        raw = o.integer(kind, minimum=0, maximum=(1 << (8 * size)) - 1).to_bytes(size, "big")
    o.finish()
    return code, raw


def _parse_reservation(r: Section, network: IPv4Network) -> Reservation:
    mac = r.parsed("mac", parse_mac, "a MAC address", None)
    client_id = r.parsed("client_id", parse_hex, "hex bytes like 01:02:00:00:00:00:01", None)
    if mac is None and client_id is None:
        raise r.error("mac", "a reservation needs 'mac' or 'client_id'")
    address = r.ipv4("address", None)
    if address is not None and address not in network:
        raise r.error("address", f"{address} is not inside {network}")
    hostname = r.string("hostname", "")
    if address is None and not hostname:
        raise r.error("address", "a reservation needs 'address' and/or 'hostname'")
    r.finish()
    return Reservation(address, mac, client_id, hostname)


def _check_reservations(s: Section, reservations: tuple[Reservation, ...]) -> None:
    """
    One address per reservation, one reservation per client.
    """
    seen: dict[tuple[str, object], int] = {}
    for index, reservation in enumerate(reservations):
        for key, value, shown in (
            ("address", reservation.address, str(reservation.address)),
            ("mac", reservation.mac, reservation.mac.hex(":") if reservation.mac else ""),
            ("client_id", reservation.client_id, reservation.client_id.hex(":") if reservation.client_id else ""),
        ):
            if value is None:
                continue
            if (key, value) in seen:
                raise ConfigError(
                    f"{s.key_path('reservation')}[{index}].{key}",
                    f"{shown} is already reserved by reservation[{seen[(key, value)]}]",
                )
            seen[(key, value)] = index
