# -*- test-case-name: tests.unit.test_ingest_pluginmsg -*-
"""
Decoding RDK-B C{PLUGIN_MSG}s into typed, immutable lease records (pure).

L{decode} takes the message bytes (or a buffer, an offset and a size: the
framer hands over what it read as it is, and only the message itself is
copied, once, into the record) and returns a L{Lease4} or
L{Lease6}, or raises L{PluginMessageError} whose C{reason} is one of L{REASONS}.

Speed matters (the endpoint must keep up with C senders), so: a repeat of
an interface's previous message is not decoded again (L{RepeatDecoder}); a
v4 message is decoded in two steps: at once, only what routing, handling
and validation need (the interface, the flags and every address field,
read by a struct that skips the rest), and the other fields (times, texts,
options) the first time one of them is read from the record, from the
message it keeps (L{_DeferredV4}); an address field that is one dotted quad
is read by one C{inet_pton}; small bounded caches keyed by the raw bytes of
a field or block (netmask, routers, DNS, server id, names repeat from one
renewal to the next and across the leases of a network; a lease's own
address has its own cache). A value that fails to parse is never cached.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from operator import itemgetter as _itemgetter

import attrs

from dhcpsuite.ingest import layout as _layout
from dhcpsuite.ingest.layout import BY_SIZE, VERSION_V4, VERSION_V6, Layout

REASON_SIZE = "unknown-size"
REASON_VERSION = "unknown-version"
REASON_ADDRESS = "bad-address"
REASON_NETMASK = "bad-netmask"
REASON_PREFIX_LENGTH = "bad-prefix-length"
REASON_IFNAME = "empty-ifname"
REASONS = (REASON_SIZE, REASON_VERSION, REASON_ADDRESS, REASON_NETMASK, REASON_PREFIX_LENGTH, REASON_IFNAME)

# 0 and UINT32_MAX both mean "forever" to the RDK-B v6 handler (ip -6 addr add).
INFINITE_LIFETIME = 0xFFFFFFFF


class PluginMessageError(ValueError):
    """
    A message that is not a valid C{PLUGIN_MSG}.

    @ivar reason: a short stable name from L{REASONS}, used for counting.
    @ivar detail: a readable explanation (field and value).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


# Frozen attrs classes without slots: their __init__ fills __dict__ directly,
# twice as fast as slots' per-field object.__setattr__ (a lease record is made
# for every message).
@attrs.frozen(slots=False)
class Lease4:
    """
    A decoded C{DHCPv4_PLUGIN_MSG}, as udhcpc's plugin reported it.

    Empty text fields are C{""}; absent addresses are L{None} or C{()}.
    C{renewal_time} is T1 and C{rebinding_time} T2 (RFC 2131 options 58/59).
    C{mtu} is L{None} unless the message says it was assigned.
    C{option122}/C{option125} are udhcpc's hex text, L{None} when not assigned.
    C{layout} names the C{PLUGIN_MSG} layout the message came in; it is not
    part of equality.
    """

    ifname: str
    address_assigned: bool
    expired: bool
    address: ipaddress.IPv4Address | None
    netmask: ipaddress.IPv4Address | None
    routers: tuple[ipaddress.IPv4Address, ...]
    dns_servers: tuple[ipaddress.IPv4Address, ...]
    lease_time: int
    renewal_time: int
    rebinding_time: int
    server_id: ipaddress.IPv4Address | None
    state: str
    mtu: int | None = None
    time_offset: int | None = None
    time_zone: str = ""
    upstream_rate: int = 0
    downstream_rate: int = 0
    sip_server: str = ""
    static_routes: str = ""
    option122: str | None = None
    option125: str | None = None
    bootfile: str = ""
    tftp_server: str = ""
    hostname: str = ""
    domain_name: str = ""
    inner_ifname: str = ""
    layout: str = attrs.field(default=_layout.DEFAULT.name, eq=False)

    version = VERSION_V4

    @property
    def interface(self) -> ipaddress.IPv4Interface | None:
        """
        The address with its prefix length, when both are known.
        """
        if self.address is None or self.netmask is None:
            return None
        return ipaddress.IPv4Interface((int(self.address), _prefix_length(self.netmask)))

    @property
    def broadcast(self) -> ipaddress.IPv4Address | None:
        if self.address is None or self.netmask is None:
            return None
        return ipaddress.IPv4Address(int(self.address) | (~int(self.netmask) & 0xFFFFFFFF))

    def lease_key(self) -> tuple:
        """
        What RDK-B's v4 handler compares to decide whether a lease changed.
        """
        return (
            self.address_assigned, self.expired, self.address, self.netmask,
            self.routers, self.dns_servers,
        )


@attrs.frozen
class IANA:
    """
    An IA_NA address with its lifetimes (seconds; 0 or
    L{INFINITE_LIFETIME} mean forever to the RDK-B handler).
    """

    address: ipaddress.IPv6Address
    iaid: int = 0
    preferred_lifetime: int = 0
    valid_lifetime: int = 0
    t1: int = 0
    t2: int = 0


@attrs.frozen
class IAPD:
    """
    A delegated prefix (IA_PD) with its lifetimes.
    """

    prefix: ipaddress.IPv6Network
    iaid: int = 0
    preferred_lifetime: int = 0
    valid_lifetime: int = 0
    t1: int = 0
    t2: int = 0


@attrs.frozen(slots=False)
class Lease6:
    """
    A decoded C{DHCPv6_PLUGIN_MSG}, as dibbler's plugin reported it.

    C{ia_na}/C{ia_pd} are L{None} when not assigned; C{mapt}/C{mape}/
    C{vendor_option17} (the option texts, 95/94/17) are L{None} when not
    assigned. C{ntp_servers} are the space-separated tokens of option 31 as
    text (they may be names).
    """

    ifname: str
    expired: bool
    ia_na: IANA | None
    ia_pd: IAPD | None
    dns_servers: tuple[ipaddress.IPv6Address, ...] = ()
    domain_name: str = ""
    ntp_servers: tuple[str, ...] = ()
    aftr: str = ""
    mapt: str | None = None
    mape: str | None = None
    vendor_option17: str | None = None
    vendor_length: int = 0
    time_offset: int = 0
    inner_ifname: str = ""
    layout: str = attrs.field(default=_layout.DEFAULT.name, eq=False)

    version = VERSION_V6

    def lease_key(self) -> tuple:
        """
        What RDK-B's v6 handler compares (after merging) to decide whether a
        lease changed: lifetimes and T1/T2 are not part of it.
        """
        na = self.ia_na
        pd = self.ia_pd
        return (
            self.expired,
            None if na is None else (na.address, na.iaid),
            None if pd is None else (pd.prefix, pd.iaid),
            self.dns_servers, self.mapt, self.mape,
            self.domain_name, self.ntp_servers, self.aftr,
        )


def _prefix_length(netmask: ipaddress.IPv4Address) -> int:
    return 32 - (~int(netmask) & 0xFFFFFFFF).bit_length()


# ---- field helpers -------------------------------------------------------

def _c_string(raw: bytes) -> str:
    """
    A C string: up to the first NUL, or the whole field when it has none.
    """
    end = raw.find(b"\0")
    if end >= 0:
        raw = raw[:end]
    return raw.decode("utf-8", "replace")


_CACHE_LIMIT = 4096
_text_cache: dict[bytes, str] = {}


def _text(raw: bytes) -> str:
    # Interface names, states, host and domain names repeat from message to
    # message; a dict lookup is cheaper than finding the NUL and decoding.
    value = _text_cache.get(raw)
    if value is None:
        value = _remember(_text_cache, raw, _c_string(raw))
    return value


_v4_cache: dict[bytes, tuple] = {}
_v6_cache: dict[bytes, tuple] = {}
_mask_cache: dict[bytes, ipaddress.IPv4Address] = {}

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_IPv4Address = ipaddress.IPv4Address
_IPv6Address = ipaddress.IPv6Address


def _remember(cache: dict, raw: bytes, value):
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[raw] = value
    return value


def _v4_list(raw: bytes, field: str) -> tuple[ipaddress.IPv4Address, ...]:
    """
    The space-separated IPv4 addresses in a text field (C{()} when empty).
    """
    value = _v4_cache.get(raw)
    if value is None:
        value = _remember(_v4_cache, raw, _parse_v4_list(raw, field))
    return value


def _parse_v4_list(raw: bytes, field: str) -> tuple[ipaddress.IPv4Address, ...]:
    if not raw[0]:
        return ()
    try:
        # Usually the text before the NUL padding is one dotted quad and
        # nothing else: one inet_pton of all of it. When it is accepted,
        # the text has no NUL, space or other byte inside, so the rules
        # below would find the same one address.
        return (_IPv4Address(_inet_pton(_AF_INET, raw.rstrip(b"\0").decode("ascii"))),)
    except (OSError, ValueError):
        pass
    addresses = []
    for token in _text(raw).split():
        try:
            addresses.append(_IPv4Address(_inet_pton(_AF_INET, token)))
        except (OSError, ValueError):
            raise PluginMessageError(REASON_ADDRESS, f"{field}: {token!r} is not an IPv4 address") from None
    return tuple(addresses)


# A lease's own address differs from message to message, where routers, DNS
# servers and server ids repeat: its own cache, so that a stream of new
# addresses does not push those out of theirs.
_address_cache: dict[bytes, tuple] = {}


def _v4_one(raw: bytes, field: str, cache: dict = _v4_cache) -> ipaddress.IPv4Address | None:
    if not raw[0]:
        return None
    addresses = cache.get(raw)
    if addresses is None:
        addresses = _remember(cache, raw, _parse_v4_list(raw, field))
    if len(addresses) != 1:
        raise PluginMessageError(REASON_ADDRESS, f"{field}: {_text(raw)!r} is not one IPv4 address")
    return addresses[0]


def _netmask(raw: bytes) -> ipaddress.IPv4Address | None:
    if not raw[0]:
        return None
    value = _mask_cache.get(raw)
    if value is not None:
        return value
    mask = _v4_one(raw, "netmask")
    inverted = ~int(mask) & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise PluginMessageError(REASON_NETMASK, f"netmask: {str(mask)!r} is not a contiguous mask")
    return _remember(_mask_cache, raw, mask)


def _v6_list(raw: bytes, field: str) -> tuple[ipaddress.IPv6Address, ...]:
    value = _v6_cache.get(raw)
    if value is not None:
        return value
    addresses = []
    for token in _text(raw).split():
        try:
            addresses.append(_IPv6Address(_inet_pton(_AF_INET6, token)))
        except (OSError, ValueError):
            raise PluginMessageError(REASON_ADDRESS, f"{field}: {token!r} is not an IPv6 address") from None
    return _remember(_v6_cache, raw, tuple(addresses))


def _v6_one(raw: bytes, field: str) -> ipaddress.IPv6Address:
    addresses = _v6_list(raw, field)
    if len(addresses) != 1:
        raise PluginMessageError(REASON_ADDRESS, f"{field}: {_text(raw)!r} is not one IPv6 address")
    return addresses[0]


# ---- decoding ------------------------------------------------------------

def choose_layout(size: int, pinned: Layout | None = None) -> Layout:
    """
    @raise PluginMessageError: C{unknown-size} when no known layout (or not the
        pinned one) has this size.
    """
    if pinned is not None:
        if size != pinned.size:
            raise PluginMessageError(REASON_SIZE, f"{size} bytes, but the layout is pinned to {pinned.name} ({pinned.size} bytes)")
        return pinned
    layout = BY_SIZE.get(size)
    if layout is None:
        known = ", ".join(f"{l.size} ({l.name})" for l in _layout.LAYOUTS)
        raise PluginMessageError(REASON_SIZE, f"{size} bytes is not a known PLUGIN_MSG size ({known})")
    return layout


def decode(data, offset: int = 0, size: int | None = None, layout: Layout | None = None) -> Lease4 | Lease6:
    """
    Decode one message.

    @param data: L{bytes} (or any buffer) holding the message at C{offset}.
    @param size: the message's size; by default the rest of C{data}.
    @param layout: pin the layout (then any other size is rejected);
        by default it is chosen by size.
    @raise PluginMessageError: with a C{reason} from L{REASONS}.
    """
    if size is None:
        size = len(data) - offset
    if type(data) is not bytes or offset or size != len(data):
        # A v4 record keeps its message, to decode the fields it defers.
        data = bytes(data[offset:offset + size])
    reader = _READERS_BY_SIZE.get(len(data)) if layout is None else None
    if reader is None:
        reader = _READERS[choose_layout(len(data), layout).name]
    # The eager v4 struct also reads the outer header, version included.
    f = reader.v4_eager.unpack(data)
    version = f[1]
    if version == VERSION_V4:
        return _decode_v4(reader, data, f)
    if version == VERSION_V6:
        return _decode_v6(reader, reader.layout.v6.unpack(data))
    raise PluginMessageError(REASON_VERSION, f"version {version} is neither 0 (DHCPv4) nor 1 (DHCPv6)")


# How many (interface, version) last messages a L{RepeatDecoder} keeps (at
# most ~1.7 KiB each): a router has a handful of WAN interfaces, and a flood
# of made-up interface names must not grow memory without bound.
REPEAT_LIMIT = 256
# The outer ifname and the version: the same bytes in every layout.
_REPEAT_KEY_SIZE = _layout.VERSION_OFFSET + _layout.VERSION_STRUCT.size


class RepeatDecoder:
    """
    L{decode}, remembering the last message decoded for each interface and
    DHCP version (the outer C{ifname} and C{version} bytes): a message
    byte-identical to it gets the same record back without being decoded
    again.

    This is exact, not a heuristic: L{decode} is a pure function of the bytes
    and the pinned layout, and its records are immutable, so identical bytes
    give an equal record; returning the very same object only lets callers
    compare by identity first. Nothing in a record depends on when it was
    received (the registry stamps that). A renewal that changes nothing
    repeats the interface's previous message byte for byte (the plugin fills
    the same fields from the same lease), so it costs a dictionary lookup and
    a memcmp instead of a decode. A message that fails to decode is never
    remembered, so it is rejected (and counted) every time.

    @param layout: pin the layout, as for L{decode}.
    """

    __slots__ = ("_last", "_layout")

    def __init__(self, layout: Layout | None = None) -> None:
        self._layout = layout
        self._last: dict[bytes, tuple[bytes, Lease4 | Lease6]] = {}

    def decode(self, data, offset: int = 0, size: int | None = None) -> Lease4 | Lease6:
        """
        As L{decode}.

        @raise PluginMessageError: with a C{reason} from L{REASONS}.
        """
        if size is None:
            size = len(data) - offset
        if type(data) is not bytes:
            # The framer always hands over bytes; other buffers (tests,
            # tools) are copied once so that slices hash and startswith works.
            data = bytes(data[offset:offset + size])
            offset = 0
        remembered = self._last
        key = data[offset:offset + _REPEAT_KEY_SIZE]
        last = remembered.get(key)
        # startswith compares in place (a memcmp), without slicing the
        # message out of the buffer it arrived in.
        if last is not None and len(last[0]) == size and data.startswith(last[0], offset):
            return last[1]
        # One copy, shared by the memory and the record (which decodes
        # its deferred fields from it).
        message = data[offset:offset + size]
        value = decode(message, 0, size, self._layout)
        if len(remembered) >= REPEAT_LIMIT and key not in remembered:
            remembered.clear()
        remembered[key] = (message, value)
        return value


def _outer_ifname(raw: bytes) -> str:
    if not raw[0]:
        raise PluginMessageError(REASON_IFNAME, "the message names no interface")
    return _text(raw)


# The v4 decoder reads the struct by blocks of neighbouring fields that
# change together (layout.V4_BLOCKS), each parsed once and then found in a
# small cache: a renewal repeats them, and so do the leases of one network.
# Every position below is looked up by field name in the layout's tables.
_HEADER_NAMES = ("outer_ifname", "version")
# The v4 block struct's values, in the order _decode_v4 unpacks them (one
# C-level unpack: cheaper than fetching by index per field). Checked against
# every layout's table when this module is imported, so a change to the
# table that moves a field fails here instead of decoding the wrong bytes.
_V4_ORDER = _HEADER_NAMES + (
    "address_assigned", "is_expired", "network", "ifname", "lease_time", "rebinding_time", "renewal_time",
    "time_offset", "is_time_offset_assigned", "time_zone", "upstream_rate", "downstream_rate", "server_id",
    "state", "mtu_assigned", "mtu_size", "sip", "mta",
)
_V4_OPTIONAL = ("names",)
# What decoding a v4 message reads at once: everything the router and the
# handlers look at, and every field that can make the message invalid (the
# addresses). The rest (times, texts, options) is decoded the first time a
# record's field is read (L{_DEFERRED_V4}), from the message it keeps.
# In table order (the order the struct gives them), after the header.
_V4_EAGER = ("address_assigned", "is_expired", "address", "netmask", "gateway", "dns_server", "dns_server1",
             "server_id")
_V6_FIELDS = (
    "outer_ifname", "is_expired", "ifname", "na_assigned", "na_address", "na_iaid", "na_preferred", "na_valid",
    "na_t1", "na_t2", "pd_assigned", "pd_prefix", "pd_length", "pd_iaid", "pd_preferred", "pd_valid", "pd_t1",
    "pd_t2", "dns_assigned", "dns_server", "dns_server1", "mapt_assigned", "mapt", "vendor_assigned",
    "vendor_data", "vendor_length", "domain_name", "ntp_server", "aftr", "time_offset",
)


def _getter(names: tuple, wanted: tuple) -> _itemgetter:
    """
    A C{struct} values getter for the fields C{wanted}, in that order.
    """
    index = {name: i for i, name in enumerate(_HEADER_NAMES + names)}
    return _itemgetter(*(index[name] for name in wanted))


@attrs.frozen
class _Reader:
    """
    How to read one layout: its block struct and getters for the fields the
    decoder uses (the optional ones only where the layout has them).
    """

    layout: Layout
    v4_eager: struct.Struct
    v4: struct.Struct
    v6_fields: _itemgetter
    v6_mape: _itemgetter | None


def _reader(lay: Layout) -> _Reader:
    order = _HEADER_NAMES + lay.v4_block_names
    if order != _V4_ORDER + (_V4_OPTIONAL if lay.has_v4_extras else ()):
        raise ImportError(f"layout {lay.name}: v4 blocks {order} are not in the order the decoder unpacks")
    eager = lay.v4_subset(_V4_EAGER)
    if eager.size != lay.size:
        raise ImportError(f"layout {lay.name}: the eager v4 struct is {eager.size} bytes, not {lay.size}")
    return _Reader(
        lay, eager, lay.v4_blocks,
        _getter(lay.v6_names, _V6_FIELDS),
        _getter(lay.v6_names, ("mape_assigned", "mape")) if lay.has_mape else None,
    )


_READERS = {lay.name: _reader(lay) for lay in _layout.LAYOUTS}
_READERS_BY_SIZE = {lay.size: _READERS[lay.name] for lay in _layout.LAYOUTS}

# A block's fields at their offsets inside the block: the same in every
# layout, since a block is a run of the same fields.
_SPANS = _layout.DEFAULT.v4_spans
_SIP, _ROUTES = (slice(*_SPANS[name]) for name in _layout.V4_BLOCKS["sip"])
_ASSIGNED122, _ASSIGNED125 = (_SPANS[name][0] for name in ("assigned122", "assigned125"))
_OPTION122, _OPTION125 = (slice(*_SPANS[name]) for name in ("option122", "option125"))
_NAMES = tuple(slice(*_SPANS[name]) for name in _layout.V4_BLOCKS["names"])


def _optional_text(raw: bytes) -> str:
    return _c_string(raw) if raw[0] else ""


def _sip_block(raw: bytes) -> tuple[str, str]:
    return _optional_text(raw[_SIP]), _optional_text(raw[_ROUTES])


def _mta_block(raw: bytes) -> tuple:
    return (_c_string(raw[_OPTION122]) if raw[_ASSIGNED122] else None,
            _c_string(raw[_OPTION125]) if raw[_ASSIGNED125] else None)


def _names_block(raw: bytes) -> tuple[str, ...]:
    return tuple(_optional_text(raw[span]) for span in _NAMES)


_sip_cache: dict[bytes, tuple] = {}
_mta_cache: dict[bytes, tuple] = {}
_names_cache: dict[bytes, tuple] = {}
_NO_NAMES = ("", "", "", "")
_new_record = object.__new__


def _decode_v4(reader: _Reader, message: bytes, f: tuple) -> Lease4:
    (outer, _version, assigned, expired, address, netmask, gateway, dns, dns1, server_id) = f
    # (An empty name is refused by _outer_ifname, never looked up.)
    ifname = _text_cache.get(outer) if outer[0] else None
    if ifname is None:
        ifname = _outer_ifname(outer)
    # The cache lookups inline: routers and DNS servers repeat.
    cache = _v4_cache
    routers = cache.get(gateway)
    if routers is None:
        routers = _v4_list(gateway, "gateway")
    dns_servers = cache.get(dns)
    if dns_servers is None:
        dns_servers = _v4_list(dns, "dnsServer")
    if dns1[0]:
        dns_servers = dns_servers + _v4_list(dns1, "dnsServer1")
    record = _new_record(Lease4)
    # Frozen: the record's dictionary is filled directly, as attrs' own
    # __init__ does; the fields missing from it are _DeferredV4's.
    record.__dict__.update(
        ifname=ifname,
        address_assigned=assigned != 0,
        expired=expired != 0,
        address=_v4_one(address, "address", _address_cache),
        netmask=_netmask(netmask),
        routers=routers,
        dns_servers=dns_servers,
        server_id=_v4_one(server_id, "dhcpServerId") if server_id[0] else None,
        layout=reader.layout.name,
        _message=message,
    )
    return record


def _fill_v4(record: Lease4) -> None:
    """
    Decode a decoded record's deferred fields (all at once) from its message.
    """
    fields = record.__dict__
    reader = _READERS[fields["layout"]]
    # The names as in _V4_ORDER, then the optional names block ([] or [raw]).
    (_outer, _version, _assigned, _expired, _net_raw, inner, lease_time, rebinding_time, renewal_time, time_offset,
     time_offset_assigned, time_zone, upstream_rate, downstream_rate, _server_id, state, mtu_assigned, mtu,
     sip_raw, mta_raw, *optional) = reader.v4.unpack(fields["_message"])
    sip = _sip_cache.get(sip_raw)
    if sip is None:
        sip = _remember(_sip_cache, sip_raw, _sip_block(sip_raw))
    mta = _mta_cache.get(mta_raw)
    if mta is None:
        mta = _remember(_mta_cache, mta_raw, _mta_block(mta_raw))
    if optional:
        names_raw = optional[0]
        names = _names_cache.get(names_raw)
        if names is None:
            names = _remember(_names_cache, names_raw, _names_block(names_raw))
    else:
        names = _NO_NAMES
    text = _text
    values = dict(
        lease_time=lease_time,
        renewal_time=renewal_time,
        rebinding_time=rebinding_time,
        state=text(state) if state[0] else "",
        mtu=mtu if mtu_assigned else None,
        time_offset=time_offset if time_offset_assigned else None,
        time_zone=text(time_zone) if time_zone[0] else "",
        upstream_rate=upstream_rate,
        downstream_rate=downstream_rate,
        sip_server=sip[0],
        static_routes=sip[1],
        option122=mta[0],
        option125=mta[1],
        bootfile=names[0], tftp_server=names[1], hostname=names[2], domain_name=names[3],
        inner_ifname=text(inner) if inner[0] else "",
    )
    # A field read already (none is ever written twice) keeps its object.
    for name, value in values.items():
        fields.setdefault(name, value)


class _DeferredV4:
    """
    A L{Lease4} field that L{decode} does not decode at once: reading it
    from a decoded record decodes every deferred field (L{_fill_v4}) and
    keeps them in the record, so it is decoded once. A record made by
    C{Lease4(...)} holds every field already, and its instance dictionary
    comes first (this descriptor has no C{__set__}), so it never gets here.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, record, owner=None):
        if record is None:
            return self
        _fill_v4(record)
        return record.__dict__[self.name]


_EAGER_V4 = frozenset(("ifname", "address_assigned", "expired", "address", "netmask", "routers", "dns_servers",
                       "server_id", "layout"))
_DEFERRED_V4 = frozenset(field.name for field in attrs.fields(Lease4)) - _EAGER_V4
for _name in _DEFERRED_V4:
    setattr(Lease4, _name, _DeferredV4(_name))
del _name


def _decode_v6(reader: _Reader, f: tuple) -> Lease6:
    (outer, expired, inner, na_assigned, na_address, na_iaid, na_preferred, na_valid, na_t1, na_t2,
     pd_assigned, pd_prefix, pd_length, pd_iaid, pd_preferred, pd_valid, pd_t1, pd_t2, dns_assigned,
     dns_server, dns_server1, mapt_assigned, mapt, vendor_assigned, vendor_data, vendor_length, domain_name,
     ntp_server, aftr, time_offset) = reader.v6_fields(f)
    text = _text
    ia_na = None
    if na_assigned:
        ia_na = IANA(_v6_one(na_address, "ia_na.address"), na_iaid, na_preferred, na_valid, na_t1, na_t2)
    ia_pd = None
    if pd_assigned:
        if pd_length > 128:
            raise PluginMessageError(REASON_PREFIX_LENGTH, f"ia_pd.PrefixLength {pd_length} is more than 128")
        prefix = _v6_one(pd_prefix, "ia_pd.Prefix")
        ia_pd = IAPD(ipaddress.IPv6Network((int(prefix), pd_length), strict=False), pd_iaid, pd_preferred,
                     pd_valid, pd_t1, pd_t2)
    dns = ()
    if dns_assigned:
        dns = _v6_list(dns_server, "dns.nameserver")
        if dns_server1[0]:
            dns = dns + _v6_list(dns_server1, "dns.nameserver1")
    mape = None
    if reader.v6_mape is not None:
        mape_assigned, mape_raw = reader.v6_mape(f)
        if mape_assigned:
            mape = text(mape_raw)
    return Lease6(
        _outer_ifname(outer),
        expired != 0,
        ia_na,
        ia_pd,
        dns,
        text(domain_name) if domain_name[0] else "",
        tuple(text(ntp_server).split()) if ntp_server[0] else (),
        text(aftr) if aftr[0] else "",
        text(mapt) if mapt_assigned else None,
        mape,
        text(vendor_data) if vendor_assigned else None,
        vendor_length,
        time_offset,
        text(inner) if inner[0] else "",
        reader.layout.name,
    )


def encode_lease(lease: Lease4 | Lease6, layout: Layout = _layout.DEFAULT) -> bytes:
    """
    The inverse of L{decode}, for tests and tools: the message a plugin would
    have sent for C{lease}.
    """
    if isinstance(lease, Lease4):
        fields = {
            "address_assigned": lease.address_assigned,
            "is_expired": lease.expired,
            "address": _join(lease.address),
            "netmask": _join(lease.netmask),
            "gateway": _join(*lease.routers),
            "dns_server": _join(*lease.dns_servers[:1]),
            "dns_server1": _join(*lease.dns_servers[1:]),
            "ifname": lease.inner_ifname,
            "lease_time": lease.lease_time,
            "rebinding_time": lease.rebinding_time,
            "renewal_time": lease.renewal_time,
            "time_offset": lease.time_offset or 0,
            "is_time_offset_assigned": lease.time_offset is not None,
            "time_zone": lease.time_zone,
            "upstream_rate": lease.upstream_rate,
            "downstream_rate": lease.downstream_rate,
            "server_id": _join(lease.server_id),
            "state": lease.state,
            "mtu_assigned": lease.mtu is not None,
            "mtu_size": lease.mtu or 0,
            "sip_server": lease.sip_server,
            "static_routes": lease.static_routes,
            "assigned122": lease.option122 is not None,
            "assigned125": lease.option125 is not None,
            "option122": lease.option122,
            "option125": lease.option125,
        }
        if layout.has_v4_extras:
            fields.update(option67=lease.bootfile, tftp_server=lease.tftp_server,
                          hostname=lease.hostname, domain_name=lease.domain_name)
        return _layout.encode(layout, VERSION_V4, lease.ifname, fields)
    na, pd = lease.ia_na, lease.ia_pd
    fields = {
        "is_expired": lease.expired,
        "ifname": lease.inner_ifname,
        "dns_assigned": bool(lease.dns_servers),
        "dns_server": _join(*lease.dns_servers[:1]),
        "dns_server1": _join(*lease.dns_servers[1:]),
        "mapt_assigned": lease.mapt is not None,
        "mapt": lease.mapt,
        "vendor_assigned": lease.vendor_option17 is not None,
        "vendor_data": lease.vendor_option17,
        "vendor_length": lease.vendor_length,
        "domain_name": lease.domain_name,
        "ntp_server": " ".join(lease.ntp_servers),
        "aftr": lease.aftr,
        "time_offset": lease.time_offset,
    }
    if na is not None:
        fields.update(na_assigned=1, na_address=str(na.address), na_iaid=na.iaid, na_preferred=na.preferred_lifetime,
                      na_valid=na.valid_lifetime, na_t1=na.t1, na_t2=na.t2)
    if pd is not None:
        fields.update(pd_assigned=1, pd_prefix=str(pd.prefix.network_address), pd_length=pd.prefix.prefixlen,
                      pd_iaid=pd.iaid, pd_preferred=pd.preferred_lifetime, pd_valid=pd.valid_lifetime,
                      pd_t1=pd.t1, pd_t2=pd.t2)
    if layout.has_mape:
        fields.update(mape_assigned=lease.mape is not None, mape=lease.mape)
    return _layout.encode(layout, VERSION_V6, lease.ifname, fields)


def _join(*addresses) -> str:
    return " ".join(str(a) for a in addresses if a is not None)
