# -*- test-case-name: tests.unit.test_ingest_layout -*-
"""
The byte layouts of RDK-B's C{PLUGIN_MSG}, and an encoder for them.

Standard library only: the plugins import this module, and they must start
in milliseconds. Each struct is declared once, as a table of (field, struct
code) rows; every offset, size and padding is computed from the tables. The
encoder packs field by field; the decoder (L{dhcpsuite.ingest.pluginmsg})
reads v4 messages by I{blocks} of neighbouring fields (L{V4_BLOCKS}), whose
struct and in-block offsets are derived from the same table, so the encoder
and decoder cannot disagree on an offset. The unit tests check both against
offsets written out by hand from RDK-B's C{dhcp_client_utils.h} structs.

A layout is chosen by the message's size, since the manager accepts only an
exact C{sizeof(PLUGIN_MSG)}:

  - C{x86_64} (1720): current dhcp-manager on an LP64 build;
  - C{x86_64-nomape} (1464): older builds (no MAP-E in v6; v4 without the
    bootfile/TFTP/hostname/domain fields);
  - C{ilp32} (1712) and C{ilp32-nomape} (1456): the same on 32-bit ABIs, where
    the trailing C{next} pointer is 4 bytes and the union starts at 36.
"""

from __future__ import annotations

import struct

VERSION_V4 = 0
VERSION_V6 = 1

IFNAME_SIZE = 32
# The outer header: ifname, then the version enum (uint32), in every layout.
VERSION_OFFSET = 32
VERSION_STRUCT = struct.Struct("<I")

# v4 struct up to staticRoutes: the same in every build variant.
_V4_COMMON = (
    ("address_assigned", "B"),
    ("is_expired", "B"),
    ("address", "32s"),
    ("netmask", "32s"),
    ("gateway", "32s"),
    ("dns_server", "64s"),
    ("dns_server1", "64s"),
    ("ifname", "32s"),
    (None, "2x"),
    ("lease_time", "I"),
    ("rebinding_time", "I"),
    ("renewal_time", "I"),
    ("time_offset", "i"),
    ("is_time_offset_assigned", "B"),
    ("time_zone", "64s"),
    (None, "3x"),
    ("upstream_rate", "I"),
    ("downstream_rate", "I"),
    ("server_id", "64s"),
    ("state", "64s"),
    ("mtu_assigned", "B"),
    (None, "3x"),
    ("mtu_size", "I"),
    ("sip_server", "64s"),
    ("static_routes", "64s"),
    ("assigned122", "B"),
    ("assigned125", "B"),
    ("option122", "256s"),
    ("option125", "256s"),
)
# Current builds: mta_Option has cOption67, then TFTP/hostname/domain.
_V4_CURRENT_TAIL = (
    ("option67", "64s"),
    ("tftp_server", "64s"),
    ("hostname", "64s"),
    ("domain_name", "64s"),
)

# The decoder reads each block as one bytes value: its fields change together
# (a renewal repeats the network block; the leases of one network share it),
# so a block is parsed once and then found in a small cache. Each block's
# fields must be neighbours in the table (checked when the layouts are built).
V4_BLOCKS = {
    "network": ("address", "netmask", "gateway", "dns_server", "dns_server1"),
    "sip": ("sip_server", "static_routes"),
    "mta": ("assigned122", "assigned125", "option122", "option125"),
    "names": ("option67", "tftp_server", "hostname", "domain_name"),
}

_V6_HEAD = (
    ("is_expired", "B"),
    ("ifname", "32s"),
    (None, "3x"),
    ("na_assigned", "B"),
    ("na_address", "48s"),
    (None, "3x"),
    ("na_iaid", "I"),
    ("na_preferred", "I"),
    ("na_valid", "I"),
    ("na_t1", "I"),
    ("na_t2", "I"),
    ("pd_assigned", "B"),
    ("pd_prefix", "48s"),
    (None, "3x"),
    ("pd_length", "I"),
    ("pd_iaid", "I"),
    ("pd_preferred", "I"),
    ("pd_valid", "I"),
    ("pd_t1", "I"),
    ("pd_t2", "I"),
    ("dns_assigned", "B"),
    ("dns_server", "128s"),
    ("dns_server1", "128s"),
    ("mapt_assigned", "B"),
    ("mapt", "256s"),
)
_V6_MAPE = (
    ("mape_assigned", "B"),
    ("mape", "256s"),
    (None, "x"),
)
_V6_TAIL = (
    ("vendor_assigned", "B"),
    ("vendor_data", "256s"),
    (None, "3x"),
    ("vendor_length", "I"),
    ("domain_name", "64s"),
    ("ntp_server", "128s"),
    ("aftr", "256s"),
    ("time_offset", "I"),
)


def _code_size(code: str) -> int:
    return struct.calcsize("<" + code)


def _blocks(fields, blocks: dict) -> tuple[str, tuple, dict]:
    """
    The v4 fields read by blocks: runs of fields of one block become one
    C{Ns} code; other fields and padding stay as they are.

    @return: (format without byte order, value names: a block's name or a
        field's, the field offsets inside their block as C{{name: (start,
        stop)}})
    @raise ValueError: when a block's fields are not neighbours.
    """
    block_of = {field: block for block, members in blocks.items() for field in members}
    runs: list[list] = []  # [block or None, code, name, size]
    spans = {}
    for name, code in fields:
        block = block_of.get(name)
        size = _code_size(code)
        if block is not None and runs and runs[-1][0] == block:
            run = runs[-1]
            spans[name] = (run[3], run[3] + size)
            run[3] += size
            continue
        if block is not None:
            if any(run[0] == block for run in runs):
                raise ValueError(f"the fields of block {block!r} are not neighbours")
            spans[name] = (0, size)
        runs.append([block, code, block or name, size])
    fmt = "".join(f"{size}s" if block else code for block, code, _, size in runs)
    names = tuple(name for block, code, name, _ in runs if name and not code.endswith("x"))
    return fmt, names, spans


def _body(fields, pointer: str):
    """
    @return: (format without byte order, field names) for a struct that ends
        with the C{next} pointer; C{pointer} is its padding plus code.
    """
    fields = tuple(fields) + (("next", pointer),)
    return "".join(code for _, code in fields), tuple(name for name, _ in fields if name)


class Layout:
    """
    One C{PLUGIN_MSG} layout: its size, and a precompiled whole-message
    L{struct.Struct} per DHCP version (outer header, union member, trailing
    union padding).

    @ivar v4_names / v6_names: the field names, in the order the structs'
        values come (after the outer C{ifname} and C{version}).
    @ivar v4_blocks: the whole v4 message read by blocks (L{V4_BLOCKS}),
        without the trailing C{next} pointer; C{v4_block_names} names its
        values (after the outer C{ifname} and C{version}), and
        C{v4_spans} gives each block field's C{(start, stop)} inside its
        block's value.
    """

    __slots__ = ("name", "header", "size", "data_offset", "has_mape", "has_v4_extras", "v4", "v6", "v4_names",
                 "v6_names", "v4_blocks", "v4_block_names", "v4_spans", "v4_fields")

    def __init__(self, name, header, v4_body, v6_body, has_mape, has_v4_extras, v4_blocks, v4_fields=()):
        self.name = name
        self.v4_fields = tuple(v4_fields)
        self.header = header
        self.has_mape = has_mape
        self.has_v4_extras = has_v4_extras
        self.data_offset = struct.calcsize("<" + header)
        v4_format, self.v4_names = v4_body
        v6_format, self.v6_names = v6_body
        v4_size = struct.calcsize("<" + v4_format)
        v6_size = struct.calcsize("<" + v6_format)
        # The union is as big as its larger member; both members end with a
        # pointer, so that size is already a multiple of the union's alignment.
        union = max(v4_size, v6_size)
        self.size = self.data_offset + union
        self.v4 = struct.Struct(f"<{header}{v4_format}{_pad(union - v4_size)}")
        self.v6 = struct.Struct(f"<{header}{v6_format}{_pad(union - v6_size)}")
        blocks_format, self.v4_block_names, self.v4_spans = v4_blocks
        read = struct.calcsize(f"<{header}{blocks_format}")
        self.v4_blocks = struct.Struct(f"<{header}{blocks_format}{_pad(self.size - read)}")

    def __repr__(self) -> str:
        return f"<Layout {self.name} ({self.size} bytes)>"

    def v4_subset(self, wanted) -> struct.Struct:
        """
        A struct reading only the v4 fields C{wanted} (after the outer
        C{ifname} and C{version}, which it always reads), in table order;
        every other field is skipped, so unpacking makes no object for it.

        @raise KeyError: for a name the layout lacks.
        """
        wanted = frozenset(wanted)
        unknown = wanted - {name for name, _ in self.v4_fields}
        if unknown:
            raise KeyError(f"fields not in layout {self.name}: {', '.join(sorted(unknown))}")
        codes = []
        for name, code in self.v4_fields:
            if name in wanted:
                codes.append(code)
            else:
                codes.append(f"{_code_size(code)}x")
        fmt = f"<{self.header}{''.join(codes)}"
        return struct.Struct(fmt + _pad(self.size - struct.calcsize(fmt)))


def _pad(count: int) -> str:
    return f"{count}x" if count else ""


def _make_layouts():
    layouts = []
    for name, header, pointer_tail, v6_pointer in (
        # LP64: 8-byte pointer aligned to 8; the union (and so data) at 40.
        ("x86_64", "32sI4x", "Q", "Q"),
        # ILP32 (i386, ARM EABI): 4-byte pointer aligned to 4; data at 36.
        ("ilp32", "32sI", "I", "I"),
    ):
        for current in (True, False):
            v4_fields = _V4_COMMON + (_V4_CURRENT_TAIL if current else ())
            # The C compiler pads after the last v4 char array to the
            # pointer's alignment.
            end = struct.calcsize("<" + "".join(code for _, code in v4_fields))
            align = _code_size(pointer_tail)
            pad = (-end) % align
            v4_body = _body(v4_fields, f"{pad}x{pointer_tail}" if pad else pointer_tail)
            if current:
                v6_fields = _V6_HEAD + _V6_MAPE + _V6_TAIL
            else:
                # Without mape the vendor struct follows mapt directly: 2 pad bytes.
                v6_fields = _V6_HEAD + ((None, "2x"),) + _V6_TAIL
            v6_body = _body(v6_fields, v6_pointer)
            layouts.append(Layout(
                name if current else f"{name}-nomape", header, v4_body, v6_body,
                has_mape=current, has_v4_extras=current, v4_blocks=_blocks(v4_fields, V4_BLOCKS),
                v4_fields=v4_fields,
            ))
    return layouts


LAYOUTS = tuple(_make_layouts())
BY_NAME = {layout.name: layout for layout in LAYOUTS}
BY_SIZE = {layout.size: layout for layout in LAYOUTS}
DEFAULT = BY_NAME["x86_64"]


def get_layout(name: str) -> Layout:
    """
    @raise KeyError: for an unknown name; the message lists the known ones.
    """
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown PLUGIN_MSG layout {name!r} (known: {', '.join(BY_NAME)})") from None


def _to_bytes(value) -> bytes:
    if isinstance(value, str):
        # Environment text may hold undecodable bytes; give them back as they were.
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)


def encode(layout: Layout, version: int, ifname, fields: dict) -> bytes:
    """
    Build one C{PLUGIN_MSG} the way the C plugins do: zeroed, strings copied
    with C{strncpy} semantics (NUL-padded, unterminated when they fill the
    field), every absent field zero.

    @param version: L{VERSION_V4} or L{VERSION_V6} (any other value is
        encoded as given, which tests use to build bad messages).
    @param fields: values by the names in L{Layout.v4_names} /
        L{Layout.v6_names}; C{str} or C{bytes} for strings, C{int} (or
        C{bool}) for numbers. Names the layout lacks are an error.
    """
    if version == VERSION_V6:
        packer, names = layout.v6, layout.v6_names
    else:
        packer, names = layout.v4, layout.v4_names
    unknown = set(fields) - set(names)
    if unknown:
        raise KeyError(f"fields not in layout {layout.name}: {', '.join(sorted(unknown))}")
    values = [_to_bytes(ifname), version & 0xFFFFFFFF]
    for code, name in zip(_codes(packer), names):
        value = fields.get(name)
        if code.endswith("s"):
            values.append(b"" if value is None else _to_bytes(value))
        else:
            values.append(int(value or 0))
    return packer.pack(*values)


def _codes(packer: struct.Struct):
    """
    The value-producing codes of a whole-message format, after the outer
    ifname and version.
    """
    cached = _CODES.get(packer.format)
    if cached is None:
        cached = _CODES[packer.format] = tuple(_split_codes(packer.format))[2:]
    return cached


_CODES: dict = {}


def _split_codes(fmt: str):
    count = ""
    for char in fmt.lstrip("<"):
        if char.isdigit():
            count += char
            continue
        if char != "x":
            yield f"{count}{char}"
        count = ""
