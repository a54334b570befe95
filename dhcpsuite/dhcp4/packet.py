# -*- test-case-name: tests.unit.test_dhcp4_packet -*-
"""
The DHCPv4 message: the BOOTP header plus options, to and from bytes.

Decoding is bounds-checked throughout and raises only L{DecodeError}.
Options are walked in the order RFC 2131 section 4.1 gives (options field,
then C{file}, then C{sname} when option 52 says so), each field at most once;
an option that appears several times is concatenated (RFC 3396).

A malformed option does not cost the whole message (RFC 1122 section 1.2.2):
only the framing (option lengths, option 52) and option 53, without
which a message means nothing, are fatal. Any other known option whose bytes
fail its type's check is set aside in L{Message.malformed}: it reads as
absent through L{Message.option} and C{Message.options}, and a caller learns
which were bad from L{Message.malformed_options} to count them, or to refuse
the message when it cannot do without one (the server does for 50, 54, 61
and 82). Encoding
splits long options, honours the receiver's maximum message size (spilling
into C{file}/C{sname} with option 52 when needed) and puts option 82 last
(RFC 3046 section 2.1).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from ipaddress import IPv4Address

from dhcpsuite.dhcp4.constants import (
    BOOTP_MINIMUM_SIZE,
    FLAG_BROADCAST,
    HEADER_SIZE,
    IP_UDP_HEADERS,
    MAGIC_COOKIE,
    MINIMUM_MAX_MESSAGE_SIZE,
    MINIMUM_PACKET_SIZE,
    OVERLOAD_FILE,
    OVERLOAD_SNAME,
    Option,
)
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.options import OPTION_TYPES, decode_value, encode_value

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path does not import typing
    from typing import Any

_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
_ZERO = IPv4Address(0)
_ZERO_BYTES = bytes(4)
_PAD = 0
_END = 255
_OVERLOAD = int(Option.OVERLOAD)
_RELAY_AGENT_INFO = int(Option.RELAY_AGENT_INFO)
_MESSAGE_TYPE = int(Option.MESSAGE_TYPE)
# Options whose corruption makes the whole message meaningless: decode refuses
# the message rather than setting them aside. Option 52 is framing and is
# checked where it is followed.
STRICT_OPTIONS = frozenset((_MESSAGE_TYPE,))
# Options a reply cannot do without; everything else may be dropped when the
# receiver's maximum message size leaves no room.
_ESSENTIAL = frozenset(
    int(o)
    for o in (
        Option.MESSAGE_TYPE,
        Option.SERVER_ID,
        Option.LEASE_TIME,
        Option.SUBNET_MASK,
        Option.RENEWAL_TIME,
        Option.REBINDING_TIME,
        Option.CLIENT_ID,
        Option.RELAY_AGENT_INFO,
        Option.OVERLOAD,
    )
)


class Message:
    """
    One DHCPv4 message. Options are raw bytes by code, in the order they were
    received or set; L{option} decodes a known one into its value.

    A plain class with slots, not attrs (L{dhcpsuite.records} says why): the
    client's early path decodes and builds messages.

    @ivar options: the well-formed options (every value received passed its
        type's check, so raw readers may rely on lengths).
    @ivar malformed: the received options whose bytes failed their type's
        check, raw, by code. They are kept so nothing is lost (they are
        encoded again after the others and show in logs), but are never
        read as values.
    """

    __slots__ = ("op", "xid", "chaddr", "htype", "hlen", "hops", "secs", "flags", "ciaddr", "yiaddr", "siaddr",
                 "giaddr", "sname", "file", "options", "malformed")
    # The field names in order (the named-tuple convention, for
    # L{dhcpsuite.control.api.jsonable}).
    _fields = __slots__

    def __init__(
        self,
        op: int,
        xid: int,
        chaddr: bytes = b"",
        htype: int = 1,
        hlen: int = 6,
        hops: int = 0,
        secs: int = 0,
        flags: int = 0,
        ciaddr: IPv4Address = _ZERO,
        yiaddr: IPv4Address = _ZERO,
        siaddr: IPv4Address = _ZERO,
        giaddr: IPv4Address = _ZERO,
        sname: bytes = b"",
        file: bytes = b"",
        options: dict[int, bytes] | None = None,
        malformed: dict[int, bytes] | None = None,
    ) -> None:
        self.op = op
        self.xid = xid
        self.chaddr = chaddr
        self.htype = htype
        self.hlen = hlen
        self.hops = hops
        self.secs = secs
        self.flags = flags
        self.ciaddr = ciaddr
        self.yiaddr = yiaddr
        self.siaddr = siaddr
        self.giaddr = giaddr
        self.sname = sname
        self.file = file
        self.options: dict[int, bytes] = {} if options is None else options
        self.malformed: dict[int, bytes] = {} if malformed is None else malformed

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    # Mutable, so unhashable (as the attrs class was).
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Message({fields})"

    @property
    def malformed_options(self) -> frozenset[int]:
        """
        The codes of the received options that were malformed (and so read
        as absent), for a caller to count or to refuse the message.
        """
        return frozenset(self.malformed)

    @property
    def message_type(self) -> int | None:
        raw = self.options.get(_MESSAGE_TYPE)
        return raw[0] if raw else None

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & FLAG_BROADCAST)

    @property
    def hardware_address(self) -> bytes:
        """
        C{chaddr} cut to C{hlen} (the MAC for Ethernet).
        """
        return self.chaddr[: self.hlen]

    def option(self, code: int, default: Any = None) -> Any:
        """
        The decoded value of option C{code}, or C{default} when absent or
        malformed (see L{malformed_options}); never raises for a received
        message.

        @raise DecodeError: only for a malformed value put into L{options}
            as raw bytes by hand (a programming error).
        """
        raw = self.options.get(code)
        if raw is None:
            return default
        return decode_value(code, raw)

    def set_option(self, code: int, value: Any) -> None:
        self.options[int(code)] = encode_value(code, value)

    def to_bytes(self, max_size: int | None = None, priority: Iterable[int] = ()) -> bytes:
        return encode_message(self, max_size, priority)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Message":
        return decode_message(data)


def _walk(data: bytes, start: int, end: int, field: str, found: dict[int, bytes]) -> None:
    """
    Collect the options of one field into C{found}, concatenating repeats
    in order (RFC 3396), up to END or the end of the field.

    RFC 2131 section 4.1 asks for END, but every field's end is known (the
    datagram's, 128 and 64 bytes), so a missing one loses nothing, and
    real senders omit it: Kea answers a zero-padded request without one,
    and ISC dhcpd 4.4 fills an overloaded reply's options field to the
    last byte with no END (issue 12.6; RFC 1122 section 1.2.2).
    """
    i = start
    while i < end:
        code = data[i]
        if code == _PAD:
            i += 1
            continue
        if code == _END:
            return
        if i + 1 >= end:
            raise DecodeError("option-overrun", f"option {code} in {field} has no length byte")
        length = data[i + 1]
        if i + 2 + length > end:
            raise DecodeError(
                "option-overrun", f"option {code} in {field}: length {length} runs past the end"
            )
        value = data[i + 2 : i + 2 + length]
        before = found.get(code)
        found[code] = value if before is None else before + value
        i += 2 + length


def decode_message(data: bytes) -> Message:
    """
    Parse a DHCPv4 message (the UDP payload).

    @raise DecodeError: for broken framing or a bad option 53; nothing else
        escapes. Other malformed options land in L{Message.malformed}.
    """
    if len(data) < MINIMUM_PACKET_SIZE:
        raise DecodeError("truncated", f"{len(data)} bytes, a DHCP message has at least {MINIMUM_PACKET_SIZE}")
    if data[HEADER_SIZE:MINIMUM_PACKET_SIZE] != MAGIC_COOKIE:
        raise DecodeError("no-magic-cookie", "not DHCP (BOOTP without the magic cookie)")
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file) = (
        _HEADER.unpack_from(data)
    )
    if op not in (1, 2):
        raise DecodeError("bad-header", f"op {op}")
    if hlen > 16:
        raise DecodeError("bad-header", f"hlen {hlen} over 16")

    found: dict[int, bytes] = {}
    _walk(data, MINIMUM_PACKET_SIZE, len(data), "options", found)
    overload_value = found.get(_OVERLOAD)
    if overload_value is not None:
        # Repeats were concatenated: anything but one byte 1-3 is malformed.
        if len(overload_value) != 1 or overload_value[0] not in (1, 2, 3):
            raise DecodeError("bad-option", "option 52 (overload) malformed")
        overload = overload_value[0]
        # RFC 2131 4.1: file first, then sname. Each field once, and option 52
        # inside them is refused rather than followed (no loops).
        for flag, offset, size, field in (
            (OVERLOAD_FILE, 108, 128, "file"),
            (OVERLOAD_SNAME, 44, 64, "sname"),
        ):
            if overload & flag:
                _walk(data, offset, offset + size, field, found)
                if found[_OVERLOAD] is not overload_value:
                    raise DecodeError("overload-loop", f"option 52 inside {field}")
        if overload & OVERLOAD_FILE:
            file = b""
        if overload & OVERLOAD_SNAME:
            sname = b""

    # Option 52 is framing, not content: the decoded message has the options
    # merged and file/sname cleared, and the encoder overloads on its own.
    found.pop(_OVERLOAD, None)
    checks = _CHECKS
    malformed: dict[int, bytes] = {}
    for code, raw in found.items():
        check = checks.get(code)
        if check is None:
            continue
        try:
            check(code, raw)
        except DecodeError:
            if code in STRICT_OPTIONS:
                raise
            malformed[code] = raw
    for code in malformed:
        del found[code]
    options = found

    known = _ADDRESSES
    # Positional, in the field order of Message (the per-packet cost of
    # sixteen keywords is measurable), addresses from the cache first.
    return Message(
        op,
        xid,
        chaddr,
        htype,
        hlen,
        hops,
        secs,
        flags,
        known.get(ciaddr) or address_from_bytes(ciaddr),
        known.get(yiaddr) or address_from_bytes(yiaddr),
        known.get(siaddr) or address_from_bytes(siaddr),
        known.get(giaddr) or address_from_bytes(giaddr),
        sname.rstrip(b"\x00"),
        file.rstrip(b"\x00"),
        options,
        malformed,
    )


def _packed(address: IPv4Address) -> bytes:
    return _ZERO_BYTES if address is _ZERO else address.packed


# Header addresses decoded before, by their four bytes: a relay's giaddr is
# in every request it forwards, and IPv4Address's constructor costs more
# than the lookup. Bounded: emptied when full (addresses are immutable, so
# sharing one object is safe).
_ADDRESSES: dict[bytes, IPv4Address] = {_ZERO_BYTES: _ZERO}
ADDRESS_CACHE_SIZE = 1024


def address_from_bytes(raw: bytes) -> IPv4Address:
    """
    The address of four bytes (a header field, option 50 or 54), the same
    object as the last time while it is in the cache.
    """
    address = _ADDRESSES.get(raw)
    if address is None:
        if len(_ADDRESSES) >= ADDRESS_CACHE_SIZE:
            _ADDRESSES.clear()
            _ADDRESSES[_ZERO_BYTES] = _ZERO
        address = _ADDRESSES[raw] = IPv4Address(raw)
    return address


# The two bytes in front of an option value: code, length.
_TAG = struct.Struct("BB").pack


def _encode_options(items: Iterable[tuple[int, bytes]]) -> bytearray:
    out = bytearray()
    tag = _TAG
    for code, raw in items:
        length = len(raw)
        if length <= 255:
            out += tag(code, length)
            out += raw
            continue
        # RFC 3396: a value over 255 bytes goes as consecutive instances.
        for i in range(0, length, 255):
            chunk = raw[i : i + 255]
            out += tag(code, len(chunk))
            out += chunk
    return out


_NOT_IN_ORDER = frozenset((_MESSAGE_TYPE, _RELAY_AGENT_INFO, _OVERLOAD))
# The length checks of known options, bound once (run for every option received).
_CHECKS = {code: kind.check for code, kind in OPTION_TYPES.items()}


def _ordered(options: dict[int, bytes], malformed: dict[int, bytes]) -> list[tuple[int, bytes]]:
    """
    53 first (some clients look only there), 82 last (RFC 3046), 52 never:
    the encoder adds it when it overloads. Malformed options received go back
    out unchanged, after the well-formed ones.
    """
    first = options.get(_MESSAGE_TYPE)
    items = [] if first is None else [(_MESSAGE_TYPE, first)]
    skip = _NOT_IN_ORDER
    items += [item for item in options.items() if item[0] not in skip]
    if malformed:
        items.extend(item for item in malformed.items() if item[0] not in _NOT_IN_ORDER and item[0] not in options)
    last = options.get(_RELAY_AGENT_INFO, malformed.get(_RELAY_AGENT_INFO))
    if last is not None:
        items.append((_RELAY_AGENT_INFO, last))
    return items


def encode_message(message: Message, max_size: int | None = None, priority: Iterable[int] = ()) -> bytes:
    """
    Serialise C{message}.

    @param max_size: the receiver's maximum DHCP message size (option 57),
        counting the IP and UDP headers as RFC 2132 does; at least 576. A
        server passes 576 when the client sent no option 57 (RFC 2131
        section 2, RFC 2132 section 9.10). L{None}: no limit.
    @param priority: option codes in the order the receiver wants them (its
        option 55); decides what goes first when not everything fits.
    @raise ValueError: the essential options alone exceed C{max_size}.
    """
    items = _ordered(message.options, message.malformed)
    chaddr = message.chaddr[:16]
    sname, file = message.sname, message.file
    body = _encode_options(items)
    limit = None
    if max_size is not None:
        limit = max(max_size, MINIMUM_MAX_MESSAGE_SIZE) - IP_UDP_HEADERS
    overload = 0
    if limit is not None and MINIMUM_PACKET_SIZE + len(body) + 1 > limit:
        body, sname, file, overload = _fit(items, limit, message, priority)
    header = _HEADER.pack(
        message.op,
        message.htype,
        message.hlen,
        message.hops,
        message.xid,
        message.secs,
        message.flags,
        _packed(message.ciaddr),
        _packed(message.yiaddr),
        _packed(message.siaddr),
        _packed(message.giaddr),
        chaddr,
        sname[:64],
        file[:128],
    )
    packet = bytearray(header)
    packet += MAGIC_COOKIE
    if overload:
        packet += bytes((_OVERLOAD, 1, overload))
    packet += body
    packet.append(_END)
    if len(packet) < BOOTP_MINIMUM_SIZE:
        packet += b"\x00" * (BOOTP_MINIMUM_SIZE - len(packet))
    return bytes(packet)


def _pack(sizes: list[int], capacities: list[int]) -> list[int] | None:
    """
    A field for each option (by index into C{capacities}), largest option
    first, each into the first field that still holds it whole (first-fit
    decreasing: the options field is filled before C{file}, C{file} before
    C{sname}, so a field is overloaded only when needed); L{None} when they
    do not all fit.
    """
    room = list(capacities)
    placed = [0] * len(sizes)
    for j in sorted(range(len(sizes)), key=lambda j: -sizes[j]):
        for field, left in enumerate(room):
            if sizes[j] <= left:
                room[field] -= sizes[j]
                placed[j] = field
                break
        else:
            return None
    return placed


def _fit(
    items: list[tuple[int, bytes]], limit: int, message: Message, priority: Iterable[int] = ()
) -> tuple[bytearray, bytes, bytes, int]:
    """
    Make the options fit in C{limit} bytes, as ISC dhcpd does: the options
    field first, then C{file}, then C{sname} (option 52 says which), the two
    only when the message does not use them itself.

    Options are chosen in priority order: the essential ones (always in
    the options field, where every client looks), then those the receiver
    listed in C{priority} (its parameter request list), then the rest in
    message order. Each is kept when all the options kept so far, it
    included, can still be packed whole into the fields (L{_pack}); one
    that cannot is dropped and the next is still tried, so a smaller option
    behind a large one is not lost, and a large one is not lost to small
    ones that could have gone into C{file}. Each field keeps the message's
    order, so 53 stays first and 82 last.

    @raise ValueError: the essential options alone do not fit.
    """
    sizes = [limit - MINIMUM_PACKET_SIZE - 4]  # room for option 52 and END
    names = ["options"]
    if not message.file:
        sizes.append(128 - 1)
        names.append("file")
    if not message.sname:
        sizes.append(64 - 1)
        names.append("sname")
    rank = {code: i for i, code in enumerate(priority)}
    encoded = [bytes(_encode_options([item])) for item in items]
    essential = [i for i in range(len(items)) if items[i][0] in _ESSENTIAL]
    others = sorted(
        (i for i in range(len(items)) if items[i][0] not in _ESSENTIAL),
        key=lambda i: (rank.get(items[i][0], len(rank)), i),
    )
    room = sizes[0] - sum(len(encoded[i]) for i in essential)
    if room < 0:
        raise ValueError("essential options alone exceed the maximum message size")
    capacities = [room] + sizes[1:]
    field_of: dict[int, int] = dict.fromkeys(essential, 0)
    kept: list[int] = []
    placement: list[int] = []
    for i in others:
        trial = _pack([len(encoded[j]) for j in kept + [i]], capacities)
        if trial is not None:
            kept.append(i)
            placement = trial
    field_of.update(zip(kept, placement))
    fields = [bytearray() for _ in sizes]
    for i in range(len(items)):
        field = field_of.get(i)
        if field is not None:
            fields[field] += encoded[i]
    body = fields[0]
    sname, file, overload = message.sname, message.file, 0
    for name, content in zip(names[1:], fields[1:]):
        if not content:
            continue
        content.append(_END)
        if name == "file":
            file, overload = bytes(content) + b"\x00" * (128 - len(content)), overload | OVERLOAD_FILE
        else:
            sname, overload = bytes(content) + b"\x00" * (64 - len(content)), overload | OVERLOAD_SNAME
    return body, sname, file, overload
