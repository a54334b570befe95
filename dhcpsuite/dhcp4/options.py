# -*- test-case-name: tests.unit.test_dhcp4_options -*-
"""
DHCPv4 option values: one codec per option type, and the table of which
option has which type.

Options are kept on the wire as raw bytes (so unknown ones round-trip
untouched); these codecs turn a known option's bytes into a Python value and
back. Every decode checks lengths and raises L{DecodeError}, nothing else.
"""

from __future__ import annotations

import enum
import struct
from ipaddress import IPv4Address, IPv4Network
from collections.abc import Callable

from dhcpsuite.dhcp4.constants import MINIMUM_MAX_MESSAGE_SIZE, Option
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.records import Record
from dhcpsuite.simpleenum import simple_enum

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path does not import typing
    from typing import Any

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_I32 = struct.Struct("!i")


class ClasslessRoute(Record):
    """
    One RFC 3442 route: C{destination} reached through C{gateway}
    (C{0.0.0.0} means on-link).
    """

    destination: IPv4Network
    gateway: IPv4Address


class OptionType(Record):
    """
    How one option's value is checked, decoded and encoded.

    @ivar check: raises L{DecodeError} when the raw bytes cannot be this type;
        run on every received packet, so it must be cheap.
    """

    name: str
    check: Callable[[int, bytes], None]
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]


def _bad(code: int, detail: str) -> DecodeError:
    return DecodeError("bad-option", f"option {code}: {detail}")


def _fixed(size: int) -> Callable[[int, bytes], None]:
    def check(code: int, raw: bytes) -> None:
        if len(raw) != size:
            raise _bad(code, f"length {len(raw)}, must be {size}")

    return check


def _multiple(size: int, minimum: int = 1) -> Callable[[int, bytes], None]:
    def check(code: int, raw: bytes) -> None:
        if len(raw) < size * minimum or len(raw) % size:
            raise _bad(code, f"length {len(raw)}, must be a non-zero multiple of {size}")

    return check


def _at_least(size: int) -> Callable[[int, bytes], None]:
    def check(code: int, raw: bytes) -> None:
        if len(raw) < size:
            raise _bad(code, f"length {len(raw)}, must be at least {size}")

    return check


def _any(code: int, raw: bytes) -> None:
    pass


def _decode_ip(raw: bytes) -> IPv4Address:
    return IPv4Address(raw)


def _encode_ip(value: Any) -> bytes:
    return IPv4Address(value).packed


def _decode_ips(raw: bytes) -> list[IPv4Address]:
    return [IPv4Address(raw[i : i + 4]) for i in range(0, len(raw), 4)]


def _encode_ips(values: Any) -> bytes:
    if isinstance(values, (str, IPv4Address)):
        values = [values]
    return b"".join(IPv4Address(v).packed for v in values)


def _decode_text(raw: bytes) -> str:
    # Servers and clients pad names with NULs; surrogateescape keeps any
    # other byte so the value encodes back to the same bytes.
    return raw.rstrip(b"\x00").decode("utf-8", "surrogateescape")


def _encode_text(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _check_relay_agent_info(code: int, raw: bytes) -> None:
    decode_relay_agent_info(raw)


def decode_relay_agent_info(raw: bytes) -> list[tuple[int, bytes]]:
    """
    Option 82's sub-options, in order, as C{(code, value)} pairs (RFC 3046).
    """
    suboptions = []
    i, end = 0, len(raw)
    if end == 0:
        raise _bad(82, "no sub-options")
    while i < end:
        if i + 2 > end:
            raise _bad(82, "sub-option header past the end")
        subcode, length = raw[i], raw[i + 1]
        if i + 2 + length > end:
            raise _bad(82, f"sub-option {subcode} length {length} runs past the end")
        suboptions.append((subcode, raw[i + 2 : i + 2 + length]))
        i += 2 + length
    return suboptions


def encode_relay_agent_info(suboptions: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for subcode, value in suboptions:
        if len(value) > 255:
            raise ValueError(f"relay agent sub-option {subcode} longer than 255 bytes")
        out += bytes((subcode, len(value))) + value
    return bytes(out)


def _check_classless_routes(code: int, raw: bytes) -> None:
    decode_classless_routes(raw)


def decode_classless_routes(raw: bytes) -> list[ClasslessRoute]:
    """
    RFC 3442: each route is a prefix width, the significant octets of the
    destination, then the router.
    """
    routes = []
    i, end = 0, len(raw)
    if end == 0:
        raise _bad(121, "empty")
    while i < end:
        width = raw[i]
        if width > 32:
            raise _bad(121, f"prefix width {width} over 32")
        significant = (width + 7) // 8
        if i + 1 + significant + 4 > end:
            raise _bad(121, "route runs past the end")
        destination = raw[i + 1 : i + 1 + significant] + b"\x00" * (4 - significant)
        gateway = raw[i + 1 + significant : i + 5 + significant]
        try:
            network = IPv4Network((destination, width))
        except ValueError:
            raise _bad(121, f"destination has host bits set for /{width}") from None
        routes.append(ClasslessRoute(network, IPv4Address(gateway)))
        i += 5 + significant
    return routes


def encode_classless_routes(routes: list[ClasslessRoute]) -> bytes:
    out = bytearray()
    for route in routes:
        width = route.destination.prefixlen
        significant = (width + 7) // 8
        out.append(width)
        out += route.destination.network_address.packed[:significant]
        out += route.gateway.packed
    return bytes(out)


def _check_message_type(code: int, raw: bytes) -> None:
    if len(raw) != 1:
        raise _bad(code, f"length {len(raw)}, must be 1")
    if not 1 <= raw[0] <= 18:
        raise _bad(code, f"unknown message type {raw[0]}")


def _check_overload(code: int, raw: bytes) -> None:
    if len(raw) != 1 or raw[0] not in (1, 2, 3):
        raise _bad(code, "overload must be one byte, 1, 2 or 3")


def _decode_max_size(raw: bytes) -> int:
    # RFC 2132 section 9.10 says 576 at least; a smaller value is read as 576
    # rather than costing the request (Kea answers such a client).
    return max(_U16.unpack(raw)[0], MINIMUM_MAX_MESSAGE_SIZE)


def _encode_max_size(value: int) -> bytes:
    if value < MINIMUM_MAX_MESSAGE_SIZE:
        raise ValueError(f"maximum message size {value} below {MINIMUM_MAX_MESSAGE_SIZE}")
    return _U16.pack(value)


def _check_client_id(code: int, raw: bytes) -> None:
    # RFC 2132: a type byte and at least one byte of identifier.
    if len(raw) < 2:
        raise _bad(code, f"length {len(raw)}, must be at least 2")


_u8 = (_fixed(1), lambda raw: raw[0], lambda v: bytes((v,)))
_u16 = (_fixed(2), lambda raw: _U16.unpack(raw)[0], _U16.pack)
_u32 = (_fixed(4), lambda raw: _U32.unpack(raw)[0], _U32.pack)
_i32 = (_fixed(4), lambda raw: _I32.unpack(raw)[0], _I32.pack)
_ip = (_fixed(4), _decode_ip, _encode_ip)
_ips = (_multiple(4), _decode_ips, _encode_ips)
_text = (_at_least(1), _decode_text, _encode_text)
_raw = (_at_least(1), bytes, bytes)
_bool = (_fixed(1), lambda raw: raw[0] != 0, lambda v: b"\x01" if v else b"\x00")
_u8_list = (_at_least(1), list, bytes)
_flag = (_fixed(0), lambda raw: True, lambda v: b"")


def _table() -> dict[int, OptionType]:
    kinds: dict[int, tuple] = {
        Option.SUBNET_MASK: _ip,
        Option.TIME_OFFSET: _i32,
        Option.ROUTER: _ips,
        Option.TIME_SERVER: _ips,
        Option.NAME_SERVER: _ips,
        Option.DOMAIN_NAME_SERVER: _ips,
        Option.LOG_SERVER: _ips,
        Option.HOST_NAME: _text,
        Option.BOOT_FILE_SIZE: _u16,
        Option.DOMAIN_NAME: _text,
        Option.ROOT_PATH: _text,
        Option.IP_FORWARDING: _bool,
        Option.DEFAULT_TTL: _u8,
        Option.INTERFACE_MTU: (_fixed(2), lambda raw: _U16.unpack(raw)[0], _U16.pack),
        Option.BROADCAST_ADDRESS: _ip,
        Option.STATIC_ROUTE: (_multiple(8), _decode_ips, _encode_ips),
        Option.NTP_SERVERS: _ips,
        Option.VENDOR_SPECIFIC: _raw,
        Option.NETBIOS_NAME_SERVER: _ips,
        Option.REQUESTED_ADDRESS: _ip,
        Option.LEASE_TIME: _u32,
        Option.OVERLOAD: (_check_overload, lambda raw: raw[0], lambda v: bytes((v,))),
        Option.MESSAGE_TYPE: (_check_message_type, lambda raw: raw[0], lambda v: bytes((v,))),
        Option.SERVER_ID: _ip,
        Option.PARAMETER_REQUEST_LIST: _u8_list,
        Option.MESSAGE: _text,
        Option.MAX_MESSAGE_SIZE: (_fixed(2), _decode_max_size, _encode_max_size),
        Option.RENEWAL_TIME: _u32,
        Option.REBINDING_TIME: _u32,
        Option.VENDOR_CLASS_ID: _raw,
        Option.CLIENT_ID: (_check_client_id, bytes, bytes),
        Option.TFTP_SERVER_NAME: _text,
        Option.BOOTFILE_NAME: _text,
        Option.RAPID_COMMIT: _flag,
        Option.RELAY_AGENT_INFO: (_check_relay_agent_info, decode_relay_agent_info, encode_relay_agent_info),
        Option.SUBNET_SELECTION: _ip,
        Option.CLASSLESS_STATIC_ROUTE: (_check_classless_routes, decode_classless_routes, encode_classless_routes),
    }
    return {
        int(code): OptionType(Option(code).name.lower().replace("_", "-"), *kind)
        for code, kind in kinds.items()
    }


OPTION_TYPES: dict[int, OptionType] = _table()
# Unknown options: any length (even zero), value is the raw bytes.
UNKNOWN = OptionType("unknown", _any, bytes, bytes)


def option_type(code: int) -> OptionType:
    return OPTION_TYPES.get(code, UNKNOWN)


def decode_value(code: int, raw: bytes) -> Any:
    kind = OPTION_TYPES.get(code, UNKNOWN)
    kind.check(code, raw)
    try:
        return kind.decode(raw)
    except (ValueError, IndexError, struct.error) as e:
        raise _bad(code, str(e)) from None


def encode_value(code: int, value: Any) -> bytes:
    """
    @raise ValueError: when C{value} cannot be this option (a programming or
        configuration error, not bad input from the wire).
    """
    kind = OPTION_TYPES.get(code, UNKNOWN)
    try:
        raw = kind.encode(value)
        kind.check(code, raw)
    except (DecodeError, struct.error, OverflowError, TypeError) as e:
        raise ValueError(f"option {code}: cannot encode {value!r}: {e}") from None
    return raw


@simple_enum(enum.Enum)
class HookFormat:
    """
    How a client hook (a busybox udhcpc script) is given an option's value.
    """

    IPS = "ips"  # addresses, space separated
    NUMBER = "number"
    TEXT = "text"  # free text: control bytes replaced
    NAME = "name"  # a domain name, checked label by label (udhcpc's OPTION_STRING_HOST)
    PATH = "path"  # a file path (root path, boot file)
    NAMES = "names"  # option 119, a list of names (udhcpc's OPTION_DNS_STRING)
    CLASSLESS = "classless"  # "destination gateway" pairs


# The variable busybox udhcpc exports each option as to its script
# (networking/udhcp/common.c), and in which format; an option not here goes
# to the script as "opt<code>=<hex>".
UDHCPC_NAMES: dict[Option, tuple[str, HookFormat]] = {
    Option.SUBNET_MASK: ("subnet", HookFormat.IPS),
    Option.TIME_OFFSET: ("timezone", HookFormat.NUMBER),
    Option.ROUTER: ("router", HookFormat.IPS),
    Option.TIME_SERVER: ("timesrv", HookFormat.IPS),
    Option.NAME_SERVER: ("namesrv", HookFormat.IPS),
    Option.DOMAIN_NAME_SERVER: ("dns", HookFormat.IPS),
    Option.LOG_SERVER: ("logsrv", HookFormat.IPS),
    Option.LPR_SERVER: ("lprsrv", HookFormat.IPS),
    Option.HOST_NAME: ("hostname", HookFormat.NAME),
    Option.BOOT_FILE_SIZE: ("bootsize", HookFormat.NUMBER),
    Option.DOMAIN_NAME: ("domain", HookFormat.NAME),
    Option.SWAP_SERVER: ("swapsrv", HookFormat.IPS),
    Option.ROOT_PATH: ("rootpath", HookFormat.PATH),
    Option.DEFAULT_TTL: ("ipttl", HookFormat.NUMBER),
    Option.INTERFACE_MTU: ("mtu", HookFormat.NUMBER),
    Option.BROADCAST_ADDRESS: ("broadcast", HookFormat.IPS),
    Option.STATIC_ROUTE: ("routes", HookFormat.IPS),
    Option.NIS_DOMAIN: ("nisdomain", HookFormat.NAME),
    Option.NIS_SERVERS: ("nissrv", HookFormat.IPS),
    Option.NTP_SERVERS: ("ntpsrv", HookFormat.IPS),
    Option.NETBIOS_NAME_SERVER: ("wins", HookFormat.IPS),
    Option.LEASE_TIME: ("lease", HookFormat.NUMBER),
    Option.SERVER_ID: ("serverid", HookFormat.IPS),
    Option.MESSAGE: ("message", HookFormat.TEXT),
    Option.TFTP_SERVER_NAME: ("tftp", HookFormat.NAME),
    Option.BOOTFILE_NAME: ("bootfile", HookFormat.PATH),
    Option.CLASSLESS_STATIC_ROUTE: ("staticroutes", HookFormat.CLASSLESS),
    Option.DOMAIN_SEARCH: ("search", HookFormat.NAMES),
    Option.MS_CLASSLESS_STATIC_ROUTE: ("msstaticroutes", HookFormat.CLASSLESS),
}
