"""
Tests for L{dhcpsuite.dhcp4.packet}: decoding (every error with its reason
tag), option overload, RFC 3396 long options, encoding order and sizes.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.dhcp4.constants import (
    FLAG_BROADCAST,
    IP_UDP_HEADERS,
    MAGIC_COOKIE,
    MINIMUM_PACKET_SIZE,
    MessageType,
    Option,
)
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.options import OPTION_TYPES
from dhcpsuite.dhcp4.packet import _ESSENTIAL, Message, _encode_options, decode_message, encode_message

A = IPv4Address
MAC = b"\x02\x00\x00\x00\x00\x01"
CHADDR = MAC + b"\x00" * 10
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")


def header(op=1, htype=1, hlen=6, xid=0x1234, flags=0, sname=b"", file=b"", chaddr=CHADDR, giaddr=b"\x00" * 4) -> bytes:
    return _HEADER.pack(op, htype, hlen, 0, xid, 0, flags, b"\0" * 4, b"\0" * 4, b"\0" * 4, giaddr, chaddr, sname, file)


def packet(options: bytes, **kw) -> bytes:
    return header(**kw) + MAGIC_COOKIE + options


def opt(code: int, value: bytes) -> bytes:
    return bytes((code, len(value))) + value


def message() -> Message:
    m = Message(op=2, xid=7, chaddr=CHADDR)
    m.options[53] = bytes((MessageType.ACK,))
    return m


def walk(data: bytes, start: int, end: int) -> list[tuple[int, bytes]]:
    """
    An independent option walker for checking encoder output.
    """
    out, i = [], start
    while i < end:
        code = data[i]
        if code == 0:
            i += 1
            continue
        if code == 255:
            return out
        length = data[i + 1]
        out.append((code, data[i + 2 : i + 2 + length]))
        i += 2 + length
    raise AssertionError("no END")



def overload_on_wire(data: bytes) -> int | None:
    """
    The value of option 52 in the options field of encoded bytes (decoding
    consumes it: it is framing, not content).
    """
    i = 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        if data[i] == 52:
            return data[i + 2]
        i += 2 + data[i + 1]
    return None

class DecodeTests(SynchronousTestCase):
    def test_header_fields(self) -> None:
        raw = _HEADER.pack(
            1, 1, 6, 2, 0xDEADBEEF, 9, FLAG_BROADCAST, A("10.0.0.5").packed, A("10.0.0.6").packed,
            A("10.0.0.7").packed, A("10.0.0.8").packed, CHADDR, b"server", b"boot.img",
        ) + MAGIC_COOKIE + opt(53, b"\x01") + b"\xff"
        m = decode_message(raw)
        self.assertEqual(
            (m.op, m.htype, m.hlen, m.hops, m.xid, m.secs, m.flags),
            (1, 1, 6, 2, 0xDEADBEEF, 9, FLAG_BROADCAST),
        )
        self.assertEqual((m.ciaddr, m.yiaddr, m.siaddr, m.giaddr), (A("10.0.0.5"), A("10.0.0.6"), A("10.0.0.7"), A("10.0.0.8")))
        self.assertEqual(m.chaddr, CHADDR)
        self.assertEqual((m.sname, m.file), (b"server", b"boot.img"))
        self.assertEqual(m.options, {53: b"\x01"})
        self.assertEqual(m.message_type, MessageType.DISCOVER)
        self.assertTrue(m.broadcast)
        self.assertEqual(m.hardware_address, MAC)
        self.assertEqual(Message.from_bytes(raw), m)

    def test_pad_options_skipped_and_after_end_ignored(self) -> None:
        m = decode_message(packet(b"\x00\x00" + opt(53, b"\x03") + b"\x00" + opt(12, b"h") + b"\xff" + b"\x07garbage"))
        self.assertEqual(m.options, {53: b"\x03", 12: b"h"})
        self.assertEqual(list(m.options), [53, 12])

    def assertReason(self, data: bytes, reason: str) -> DecodeError:
        e = self.assertRaises(DecodeError, decode_message, data)
        self.assertEqual(e.reason, reason)
        return e

    def test_truncated(self) -> None:
        self.assertReason(b"", "truncated")
        self.assertReason(packet(b"")[:239], "truncated")

    def test_exactly_header_and_cookie_has_no_options(self) -> None:
        m = decode_message(packet(b""))
        self.assertEqual(m.options, {})
        self.assertIsNone(m.message_type)

    def test_no_magic_cookie(self) -> None:
        self.assertReason(header() + b"\x00\x00\x00\x00" + b"\xff" * 60, "no-magic-cookie")

    def test_bad_op(self) -> None:
        self.assertReason(packet(b"\xff", op=3), "bad-header")
        self.assertReason(packet(b"\xff", op=0), "bad-header")

    def test_bad_hlen(self) -> None:
        self.assertReason(packet(b"\xff", hlen=17), "bad-header")
        self.assertEqual(decode_message(packet(b"\xff", hlen=16)).hlen, 16)

    def test_option_length_past_end(self) -> None:
        self.assertReason(packet(opt(53, b"\x01") + b"\x0c\x09abc"), "option-overrun")

    def test_option_length_byte_missing(self) -> None:
        self.assertReason(packet(opt(53, b"\x01") + b"\x0c"), "option-overrun")

    def test_missing_end_accepted_without_overload(self) -> None:
        """
        RFC 2131 section 4.1 needs END only when sname/file carry options;
        Kea answers a zero-padded DISCOVER without END (issue 12.6).
        """
        for tail in (b"", b"\x00" * 60):
            with self.subTest(padding=len(tail)):
                m = decode_message(packet(opt(53, b"\x01") + opt(12, b"host") + tail))
                self.assertEqual(m.options, {53: b"\x01", 12: b"host"})

    def test_missing_end_with_overload(self) -> None:
        """
        ISC dhcpd 4.4 fills an overloaded reply's options field to the last
        byte, option 52 last and no END (seen in
        tests/integration/test_server_reply_size.py); a field's end is
        known, so no END is needed in file or sname either.
        """
        m = decode_message(packet(opt(53, b"\x02") + opt(15, b"lan") + opt(52, b"\x03"),
                                  file=opt(12, b"host"), sname=opt(15, b".x")))
        self.assertEqual(m.options, {53: b"\x02", 15: b"lan.x", 12: b"host"})
        self.assertEqual((m.file, m.sname), (b"", b""))

    def test_only_pads(self) -> None:
        self.assertEqual(decode_message(packet(b"\x00" * 60)).options, {})

    def test_bad_message_type_length(self) -> None:
        self.assertReason(packet(opt(53, b"\x01\x01") + b"\xff"), "bad-option")

    def test_bad_message_type(self) -> None:
        self.assertReason(packet(opt(53, b"\x00") + b"\xff"), "bad-option")


class MalformedOptionTests(SynchronousTestCase):
    """
    A malformed non-essential option costs only itself (RFC 1122 section
    1.2.2). busybox udhcpc and dhclient bind to OFFERs carrying option 26 as
    4 bytes or option 121 with a /33 or host bits set (issue 16.16); Kea
    answers requests with an empty option 12 or 60 (issue 12.6).
    """

    CASES = {
        "mtu-4-bytes": (26, b"\x05\xdc\x00\x00"),
        "routes-width-33": (121, b"\x21\x0a\x00\x00\x00\x00\x0a\x00\x00\x01"),
        "routes-host-bits": (121, b"\x08\x0a\x01\x0a\x00\x00\x01"),
        "empty-hostname": (12, b""),
        "empty-vendor-class": (60, b""),
        "mask-2-bytes": (1, b"\xff\xff"),
    }

    def test_each_kept_aside_and_the_rest_stands(self) -> None:
        for name, (code, raw) in self.CASES.items():
            with self.subTest(name):
                data = packet(opt(53, b"\x02") + opt(54, b"\x0a\x00\x00\x01") + opt(code, raw) + opt(3, b"\x0a\x00\x00\x01") + b"\xff")
                m = decode_message(data)
                self.assertEqual(m.malformed_options, frozenset({code}))
                self.assertEqual(m.malformed, {code: raw})
                self.assertNotIn(code, m.options)
                self.assertIsNone(m.option(code))
                self.assertEqual(m.option(code, "default"), "default")
                self.assertEqual(m.option(Option.SERVER_ID), A("10.0.0.1"))
                self.assertEqual(m.option(Option.ROUTER), [A("10.0.0.1")])
                self.assertEqual(m.message_type, MessageType.OFFER)

    def test_well_formed_message_has_none(self) -> None:
        m = decode_message(packet(opt(53, b"\x01") + opt(12, b"h") + b"\xff"))
        self.assertEqual(m.malformed_options, frozenset())
        self.assertEqual(m.malformed, {})

    def test_malformed_round_trip_unchanged(self) -> None:
        data = packet(opt(53, b"\x05") + opt(26, b"\x05\xdc\x00\x00") + opt(82, b"\x01") + opt(12, b"") + b"\xff")
        m = decode_message(data)
        self.assertEqual(m.malformed_options, frozenset({26, 82, 12}))
        again = decode_message(m.to_bytes())
        self.assertEqual(again, m)
        # Option 82 still goes last (RFC 3046 section 2.1).
        self.assertEqual([code for code, _ in walk(m.to_bytes(), 240, 600)][-1], 82)

    def test_malformed_in_overload_field(self) -> None:
        m = decode_message(packet(opt(53, b"\x01") + opt(52, b"\x01") + b"\xff", file=opt(26, b"\x01") + b"\xff"))
        self.assertEqual(m.malformed, {26: b"\x01"})

    def test_message_type_stays_fatal(self) -> None:
        for raw in (b"", b"\x00", b"\x01\x01", bytes((200,))):
            with self.subTest(raw=raw):
                e = self.assertRaises(DecodeError, decode_message, packet(opt(53, raw) + b"\xff"))
                self.assertEqual(e.reason, "bad-option")


class OverloadDecodeTests(SynchronousTestCase):
    def assertReason(self, data: bytes, reason: str) -> None:
        e = self.assertRaises(DecodeError, decode_message, data)
        self.assertEqual(e.reason, reason)

    def test_file_then_sname_concatenated_in_order(self) -> None:
        # Option 12 is split across options, file and sname; RFC 2131 4.1
        # order is options, file, sname.
        file = opt(12, b"BB") + opt(15, b"example") + b"\xff"
        sname = opt(12, b"CC") + b"\xff"
        data = packet(opt(53, b"\x02") + opt(52, b"\x03") + opt(12, b"AA") + b"\xff", file=file, sname=sname)
        m = decode_message(data)
        self.assertEqual(m.options[12], b"AABBCC")
        self.assertEqual(m.option(Option.HOST_NAME), "AABBCC")
        self.assertEqual(m.option(Option.DOMAIN_NAME), "example")
        self.assertEqual((m.file, m.sname), (b"", b""))

    def test_file_only_keeps_sname(self) -> None:
        data = packet(opt(53, b"\x02") + opt(52, b"\x01") + b"\xff", file=opt(15, b"lan") + b"\xff", sname=b"myserver")
        m = decode_message(data)
        self.assertEqual(m.options[15], b"lan")
        self.assertEqual((m.file, m.sname), (b"", b"myserver"))

    def test_sname_only_keeps_file(self) -> None:
        data = packet(opt(53, b"\x02") + opt(52, b"\x02") + b"\xff", sname=opt(15, b"lan") + b"\xff", file=b"boot")
        m = decode_message(data)
        self.assertEqual(m.options[15], b"lan")
        self.assertEqual((m.file, m.sname), (b"boot", b""))

    def test_not_overloaded_file_is_not_parsed(self) -> None:
        m = decode_message(packet(opt(53, b"\x02") + b"\xff", file=opt(15, b"lan") + b"\xff"))
        self.assertNotIn(15, m.options)
        self.assertEqual(m.file, opt(15, b"lan") + b"\xff")

    def test_missing_end_in_file_or_sname_ends_at_the_field(self) -> None:
        m = decode_message(packet(opt(52, b"\x01") + b"\xff", file=opt(15, b"lan")))
        self.assertEqual(m.options, {15: b"lan"})
        m = decode_message(packet(opt(52, b"\x03") + b"\xff", file=b"\xff", sname=opt(15, b"lan")))
        self.assertEqual(m.options, {15: b"lan"})

    def test_overrun_in_file(self) -> None:
        self.assertReason(packet(opt(52, b"\x01") + b"\xff", file=b"\x0f\x7f" + b"\x00" * 126), "option-overrun")
        self.assertReason(packet(opt(52, b"\x01") + b"\xff", file=b"\x00" * 127 + b"\x0f"), "option-overrun")

    def test_overload_inside_file(self) -> None:
        self.assertReason(packet(opt(52, b"\x03") + b"\xff", file=opt(52, b"\x02") + b"\xff", sname=b"\xff"), "overload-loop")

    def test_overload_inside_sname(self) -> None:
        self.assertReason(packet(opt(52, b"\x02") + b"\xff", sname=opt(52, b"\x01") + b"\xff"), "overload-loop")

    def test_bad_overload_value(self) -> None:
        for value in (b"\x00", b"\x04", b"\x01\x02"):
            with self.subTest(value=value):
                self.assertReason(packet(opt(52, value) + b"\xff", file=b"\xff", sname=b"\xff"), "bad-option")

    def test_overload_twice_in_options(self) -> None:
        self.assertReason(packet(opt(52, b"\x01") + opt(52, b"\x01") + b"\xff", file=b"\xff"), "bad-option")


class LongOptionTests(SynchronousTestCase):
    def test_repeated_option_concatenated(self) -> None:
        m = decode_message(packet(opt(53, b"\x01") + opt(6, b"\x0a\x00\x00\x01") + opt(6, b"\x0a\x00\x00\x02") + b"\xff"))
        self.assertEqual(m.option(6), [A("10.0.0.1"), A("10.0.0.2")])

    def test_split_fixed_option_checked_after_joining(self) -> None:
        # RFC 3396: a 4-byte option split in two halves is one valid option.
        m = decode_message(packet(opt(1, b"\xff\xff") + opt(1, b"\xff\x00") + b"\xff"))
        self.assertEqual(m.option(1), A("255.255.255.0"))

    def test_long_option_encodes_as_several_instances(self) -> None:
        value = bytes(range(256)) * 2 + b"tail"
        m = message()
        m.options[224] = value
        data = m.to_bytes()
        found = walk(data, 240, len(data))
        chunks = [v for c, v in found if c == 224]
        self.assertEqual([len(c) for c in chunks], [255, 255, 6])
        self.assertEqual(b"".join(chunks), value)
        self.assertEqual(decode_message(data), m)


class EncodeTests(SynchronousTestCase):
    def test_round_trip_with_header_fields(self) -> None:
        m = Message(
            op=2, xid=0xCAFEBABE, chaddr=CHADDR, htype=1, hlen=6, hops=3, secs=4, flags=FLAG_BROADCAST,
            ciaddr=A("10.0.0.1"), yiaddr=A("10.0.0.2"), siaddr=A("10.0.0.3"), giaddr=A("10.0.0.4"),
            sname=b"srv", file=b"pxelinux.0",
        )
        m.set_option(Option.MESSAGE_TYPE, MessageType.OFFER)
        m.set_option(Option.SERVER_ID, "10.0.0.3")
        m.set_option(Option.LEASE_TIME, 3600)
        self.assertEqual(decode_message(encode_message(m)), m)

    def test_unknown_options_byte_exact(self) -> None:
        m = message()
        m.options[224] = b""
        m.options[250] = b"\x00\x01\xff"
        data = m.to_bytes()
        self.assertIn(b"\xe0\x00", data)
        self.assertIn(b"\xfa\x03\x00\x01\xff", data)
        d = decode_message(data)
        self.assertEqual(d.options[224], b"")
        self.assertEqual(d.options[250], b"\x00\x01\xff")
        self.assertEqual(d, m)

    def test_message_type_first_relay_info_last(self) -> None:
        m = Message(op=2, xid=1, chaddr=CHADDR)
        m.options[82] = b"\x01\x02ab"
        m.options[1] = b"\xff\xff\xff\x00"
        m.options[53] = b"\x05"
        m.options[54] = b"\x0a\x00\x00\x01"
        data = m.to_bytes()
        codes = [c for c, _ in walk(data, 240, len(data))]
        self.assertEqual(codes, [53, 1, 54, 82])

    def test_minimum_size(self) -> None:
        data = message().to_bytes()
        self.assertGreaterEqual(len(data), 300)
        self.assertEqual(data[240:244], b"\x35\x01\x05\xff")
        self.assertEqual(data[244:], b"\x00" * (len(data) - 244))

    def test_header_layout(self) -> None:
        m = message()
        m.yiaddr = A("10.1.2.3")
        data = m.to_bytes()
        self.assertEqual(data[0], 2)
        self.assertEqual(data[16:20], A("10.1.2.3").packed)
        self.assertEqual(data[28:44], CHADDR)
        self.assertEqual(data[236:240], MAGIC_COOKIE)

    def test_set_option_and_option(self) -> None:
        m = message()
        m.set_option(Option.ROUTER, ["10.0.0.1"])
        self.assertEqual(m.options[3], b"\x0a\x00\x00\x01")
        self.assertEqual(m.option(Option.ROUTER), [A("10.0.0.1")])
        self.assertIsNone(m.option(Option.DOMAIN_NAME))
        self.assertEqual(m.option(Option.DOMAIN_NAME, "x"), "x")
        self.assertRaises(ValueError, m.set_option, Option.SUBNET_MASK, "nope")

    def test_option_on_malformed_raw(self) -> None:
        m = message()
        m.options[1] = b"\x01"
        self.assertRaises(DecodeError, m.option, 1)

    def test_message_type_absent(self) -> None:
        self.assertIsNone(Message(op=1, xid=1).message_type)

    def test_broadcast_flag(self) -> None:
        self.assertFalse(Message(op=1, xid=1, flags=0x7FFF).broadcast)
        self.assertTrue(Message(op=1, xid=1, flags=0x8000).broadcast)

    def test_hardware_address_cut_to_hlen(self) -> None:
        m = Message(op=1, xid=1, chaddr=b"\x01\x02\x03\x04\x05\x06\x07\x08", hlen=4)
        self.assertEqual(m.hardware_address, b"\x01\x02\x03\x04")


class MaxSizeTests(SynchronousTestCase):
    def big_message(self, count: int, size: int = 20) -> Message:
        m = message()
        m.options[54] = b"\x0a\x00\x00\x01"
        m.options[51] = b"\x00\x00\x0e\x10"
        m.options[1] = b"\xff\xff\xff\x00"
        for code in range(160, 160 + count):
            m.options[code] = bytes((code,)) * size
        return m

    def all_options(self, data: bytes) -> dict[int, bytes]:
        return decode_message(data).options

    def test_fits_without_overload(self) -> None:
        m = self.big_message(3)
        data = m.to_bytes(576)
        self.assertNotIn(52, self.all_options(data))
        self.assertEqual(decode_message(data), m)

    def test_spills_into_file_then_sname(self) -> None:
        # 18 options of 22 bytes = 396 bytes: more than the 308 the options
        # field has under 576, less than options + file + sname.
        m = self.big_message(18)
        data = m.to_bytes(576)
        self.assertLessEqual(len(data), 548)
        d = decode_message(data)
        self.assertEqual(overload_on_wire(data), 3)
        self.assertNotIn(52, d.options)
        for code, raw in m.options.items():
            self.assertEqual(d.options[code], raw)
        self.assertEqual(d.file, b"")
        self.assertEqual(d.sname, b"")
        # The spilled options really are in the file and sname fields.
        self.assertTrue(walk(data, 108, 236))
        self.assertTrue(walk(data, 44, 108))
        self.assertEqual(data[240:243], b"\x34\x01\x03")

    def test_spill_file_only(self) -> None:
        m = self.big_message(15)
        data = m.to_bytes(576)
        self.assertLessEqual(len(data), 548)
        d = decode_message(data)
        self.assertEqual(overload_on_wire(data), 1)
        self.assertTrue(set(m.options) <= set(d.options))

    def test_does_not_spill_into_used_fields(self) -> None:
        m = self.big_message(18)
        m.file = b"pxelinux.0"
        data = m.to_bytes(576)
        self.assertLessEqual(len(data), 548)
        d = decode_message(data)
        self.assertEqual(d.file, b"pxelinux.0")
        self.assertEqual(overload_on_wire(data), 2)

    def test_smaller_option_behind_a_large_one_kept(self) -> None:
        """
        Issue 12.5: with option 57 = 576 the old encoder dropped every large
        option, one that would have fit included. Placed whole in the first
        field with room, 250 bytes go in the options field and 100 bytes in
        file; only the 150 bytes that fit nowhere are dropped.
        """
        m = self.big_message(0)
        m.options[224] = b"a" * 250
        m.options[225] = b"b" * 150
        m.options[226] = b"c" * 100
        data = m.to_bytes(576)
        self.assertLessEqual(len(data), 548)
        d = decode_message(data)
        self.assertEqual(d.options.get(224), m.options[224])
        self.assertEqual(d.options.get(226), m.options[226])
        self.assertNotIn(225, d.options)
        self.assertEqual(overload_on_wire(data), 1)

    def test_priority_decides_what_is_dropped(self) -> None:
        """
        The client's option 55 order decides: the options it asked first
        are kept, whatever the reply's own order.
        """
        m = self.big_message(0)
        for code in (224, 225, 226):
            m.options[code] = bytes((code,)) * 200
        d = decode_message(m.to_bytes(576, priority=[226, 225]))
        self.assertEqual(sorted(c for c in (224, 225, 226) if c in d.options), [226])
        d = decode_message(m.to_bytes(576))
        self.assertEqual(sorted(c for c in (224, 225, 226) if c in d.options), [224])

    def test_small_options_make_room_for_a_large_one(self) -> None:
        """
        Issue 12.5, as the differential test against ISC dhcpd sends it: a
        reply with router, DNS, domain, T1, T2 and three 250-byte options
        (14, 17, 18) to a client without option 57. dhcpd keeps option 14,
        split across the options field and file; placing options whole in
        priority order, the small ones first, left no field with room for
        any large one, and all three were dropped. The small options now go
        to file, so option 14 stays whole in the options field.
        """
        m = self.big_message(0)
        m.options[3] = b"\x0a\x00\x00\x01"
        m.options[6] = b"\x0a\x00\x00\x01"
        m.options[15] = b"example.test"
        m.options[58] = b"\x00\x00\x04\xb0"
        m.options[59] = b"\x00\x00\x08\x34"
        for code in (14, 17, 18):
            m.options[code] = bytes((code,)) * 250
        data = m.to_bytes(576, priority=[1, 3, 6, 15, 14, 17, 18])
        self.assertLessEqual(len(data) + 28, 576)
        d = decode_message(data)
        self.assertEqual(d.options[14], bytes((14,)) * 250)
        self.assertNotIn(17, d.options)
        for code in (1, 3, 6, 15, 58, 59, 51, 54):
            self.assertEqual(d.options[code], m.options[code], code)

    def test_fills_to_the_limit(self) -> None:
        """
        Each of 40 options of 22 bytes that still fits somewhere is kept:
        what is left over in every field is less than one option.
        """
        m = self.big_message(40)
        data = m.to_bytes(576)
        d = decode_message(data)
        kept = [c for c in range(160, 200) if c in d.options]
        # options field: 548 - 240 - 4 (52, END) - 21 (53, 54, 51, 1) = 283
        # -> 12 options; file 127 -> 5; sname 63 -> 2.
        self.assertEqual(len(kept), 19)
        self.assertEqual(overload_on_wire(data), 3)

    def test_essential_options_stay_in_the_options_field(self) -> None:
        m = self.big_message(40)
        data = m.to_bytes(576)
        main = dict(walk(data, 240, len(data)))
        for code in (53, 54, 51, 1):
            self.assertIn(code, main)
        self.assertEqual(data[243:246], b"\x35\x01\x05")

    def test_drops_non_essential_when_spilling_is_not_enough(self) -> None:
        m = self.big_message(40)
        data = m.to_bytes(576)
        self.assertLessEqual(len(data), 548)
        d = decode_message(data)
        for essential in (53, 54, 51, 1):
            self.assertEqual(d.options[essential], m.options[essential])
        kept = [c for c in range(160, 200) if c in d.options]
        self.assertLess(len(kept), 40)
        # Dropped from the end: what is kept is a prefix.
        self.assertEqual(kept, list(range(160, 160 + len(kept))))

    def test_larger_max_size_needs_no_spill(self) -> None:
        m = self.big_message(18)
        data = m.to_bytes(1500)
        self.assertNotIn(52, decode_message(data).options)
        self.assertEqual(decode_message(data), m)

    def test_max_size_below_576_treated_as_576(self) -> None:
        m = self.big_message(18)
        self.assertEqual(m.to_bytes(300), m.to_bytes(576))

    def test_essential_alone_too_large(self) -> None:
        m = message()
        m.options[61] = b"\x01" * 700
        self.assertRaises(ValueError, m.to_bytes, 576)

    def test_no_max_size_means_no_limit(self) -> None:
        m = self.big_message(40)
        self.assertEqual(decode_message(m.to_bytes()), m)


class OverloadRoundTripTests(SynchronousTestCase):
    """
    A decoded overloaded packet does not carry the wire-only option 52 in
    C{options} (its C{file}/C{sname} options are merged and the fields
    cleared), so decode(encode(decode(x))) == decode(x) for a packet that
    uses overload.
    """

    def test_overloaded_round_trip(self) -> None:
        file = opt(15, b"example") + b"\xff"
        data = packet(opt(53, b"\x02") + opt(52, b"\x01") + b"\xff", file=file)
        once = decode_message(data)
        self.assertEqual(decode_message(encode_message(once)), once)


# Property-based tests ----------------------------------------------------

_VALID_PREFIX = header() + MAGIC_COOKIE

_known_samples = {
    1: st.builds(lambda a: A(a).packed, st.integers(0, 2**32 - 1)),
    3: st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=5).map(lambda xs: b"".join(A(x).packed for x in xs)),
    12: st.binary(min_size=1, max_size=300),
    51: st.integers(0, 2**32 - 1).map(lambda n: n.to_bytes(4, "big")),
    55: st.binary(min_size=1, max_size=40),
    61: st.binary(min_size=2, max_size=30),
    80: st.just(b""),
    82: st.lists(st.tuples(st.integers(1, 254), st.binary(max_size=20)), min_size=1, max_size=4).map(
        lambda subs: b"".join(bytes((c, len(v))) + v for c, v in subs)
    ),
}
_unknown_codes = st.integers(1, 254).filter(lambda c: c not in OPTION_TYPES)


@st.composite
def messages(draw) -> Message:
    m = Message(
        op=draw(st.sampled_from([1, 2])),
        xid=draw(st.integers(0, 2**32 - 1)),
        chaddr=draw(st.binary(min_size=16, max_size=16)),
        htype=draw(st.integers(0, 255)),
        hlen=draw(st.integers(0, 16)),
        hops=draw(st.integers(0, 255)),
        secs=draw(st.integers(0, 65535)),
        flags=draw(st.integers(0, 65535)),
        ciaddr=A(draw(st.integers(0, 2**32 - 1))),
        yiaddr=A(draw(st.integers(0, 2**32 - 1))),
        siaddr=A(draw(st.integers(0, 2**32 - 1))),
        giaddr=A(draw(st.integers(0, 2**32 - 1))),
        sname=draw(st.binary(max_size=64).map(lambda b: b.rstrip(b"\x00"))),
        file=draw(st.binary(max_size=128).map(lambda b: b.rstrip(b"\x00"))),
    )
    m.options[53] = bytes((draw(st.integers(1, 8)),))
    for code in draw(st.lists(st.sampled_from(sorted(_known_samples)), max_size=6, unique=True)):
        m.options[code] = draw(_known_samples[code])
    for code in draw(st.lists(_unknown_codes, max_size=6, unique=True)):
        m.options[code] = draw(st.binary(max_size=400))
    return m


class PropertyTests(SynchronousTestCase):
    def decodes_or_rejects(self, data: bytes) -> None:
        try:
            result = decode_message(data)
        except DecodeError:
            return
        self.assertIsInstance(result, Message)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=700))
    def test_arbitrary_bytes(self, data: bytes) -> None:
        self.decodes_or_rejects(data)

    @settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=400), st.binary(max_size=128), st.binary(max_size=64))
    def test_valid_prefix_random_options(self, options: bytes, file: bytes, sname: bytes) -> None:
        data = bytearray(_VALID_PREFIX + options)
        data[108 : 108 + len(file)] = file
        data[44 : 44 + len(sname)] = sname
        self.decodes_or_rejects(bytes(data))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=12)), max_size=20), st.sampled_from([1, 2, 3]))
    def test_structured_options_with_overload(self, items, overload) -> None:
        body = opt(52, bytes((overload,))) + b"".join(bytes((c, len(v))) + v for c, v in items) + b"\xff"
        filler = b"".join(bytes((c, len(v))) + v for c, v in items)
        data = bytearray(_VALID_PREFIX + body)
        data[108 : 108 + min(128, len(filler))] = filler[:128]
        data[44 : 44 + min(64, len(filler))] = filler[:64]
        self.decodes_or_rejects(bytes(data))

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(messages())
    def test_encode_decode_round_trip(self, m: Message) -> None:
        data = encode_message(m)
        self.assertGreaterEqual(len(data), 300)
        self.assertEqual(decode_message(data), m)

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(messages(), st.lists(st.tuples(_unknown_codes, st.binary(min_size=40, max_size=255)), max_size=8),
           st.sampled_from([b"", b"\x01" * 20, b"\x02" * 255 + b"\x03" * 100]))
    def test_encode_with_max_size_fits(self, m: Message, large: list, relay: bytes) -> None:
        """
        A message encoded for a 576-byte receiver fits in 548 bytes of DHCP
        and keeps every option it had room for; the encoder refuses only
        when the essential options alone cannot fit in the options field
        (room: 548 - 240 header and cookie - 3 for option 52 - 1 for END).
        The large options and relay data make most examples overflow the
        options field, so the fitting (and refusing) paths are exercised.
        """
        for code, raw in large:
            m.options.setdefault(code, raw)
        if relay:
            m.options[int(Option.RELAY_AGENT_INFO)] = relay
        try:
            data = encode_message(m, 576)
        except ValueError:
            essential = [(code, raw) for code, raw in m.options.items() if code in _ESSENTIAL]
            room = 576 - IP_UDP_HEADERS - MINIMUM_PACKET_SIZE - 4
            self.assertGreater(len(_encode_options(essential)), room)
            return
        self.assertLessEqual(len(data), 548)
        d = decode_message(data)
        self.assertEqual(d.options[53], m.options[53])
        for code, raw in d.options.items():
            if code != 52:
                self.assertEqual(raw, m.options[code])
