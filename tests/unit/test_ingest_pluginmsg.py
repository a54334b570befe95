# -*- test-case-name: tests.unit.test_ingest_pluginmsg -*-
"""
Decoding PLUGIN_MSGs built field by field at the reference's offsets, round
trips through our encoder for every layout, and every rejection reason.
"""

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Network

import attrs
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.ingest import layout, pluginmsg
from dhcpsuite.ingest.pluginmsg import IANA, IAPD, PluginMessageError, Lease4, Lease6, decode, encode_lease
from tests.unit.test_ingest_layout import LAYOUT_GEOMETRY, build, v4_sample, v6_sample


def v4_lease(**changes):
    lease = Lease4(
        "erouter0", True, False, IPv4Address("10.0.0.5"), IPv4Address("255.255.255.0"),
        (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")), (IPv4Address("8.8.8.8"), IPv4Address("1.1.1.1")),
        3600, 1800, 3150, IPv4Address("10.0.0.1"), "bound",
        mtu=1492, time_offset=-3600, time_zone="CET", upstream_rate=5, downstream_rate=6, sip_server="sip",
        static_routes="10.0.0.0/8 10.0.0.1", option122="0a0b", option125="0c", bootfile="b.cfg",
        tftp_server="10.0.0.9", hostname="host", domain_name="d.lan", inner_ifname="erouter0",
    )
    return attrs.evolve(lease, **changes)


def v6_lease(**changes):
    lease = Lease6(
        "erouter0", False,
        IANA(IPv6Address("2001:db8::5"), 1, 100, 200, 50, 80),
        IAPD(IPv6Network("2001:db8:100::/56"), 2, 300, 400, 150, 240),
        (IPv6Address("2001:db8::53"), IPv6Address("2001:db8::54")), "x.lan", ("ntp1", "ntp2"), "aftr.x",
        "mt", "me", "vend", 4, 0, "erouter0",
    )
    return attrs.evolve(lease, **changes)


class ReferenceDecodeTests(SynchronousTestCase):
    """
    Messages placed byte by byte at the reference's offsets (not made by our
    encoder) decode to the right values, in every layout.
    """

    def test_v4_every_field(self):
        for name in LAYOUT_GEOMETRY:
            lease = decode(build(name, 0, "wan0", v4_sample(name)))
            extras = LAYOUT_GEOMETRY[name][2]
            self.assertIsInstance(lease, Lease4)
            self.assertEqual(lease.layout, name)
            self.assertEqual(lease.ifname, "wan0")
            self.assertEqual(lease.inner_ifname, "erouter0")
            self.assertEqual((lease.address_assigned, lease.expired), (True, False))
            self.assertEqual(lease.address, IPv4Address("192.0.2.10"))
            self.assertEqual(lease.netmask, IPv4Address("255.255.255.0"))
            self.assertEqual(lease.interface, IPv4Interface("192.0.2.10/24"))
            self.assertEqual(lease.broadcast, IPv4Address("192.0.2.255"))
            self.assertEqual(lease.routers, (IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")))
            self.assertEqual(lease.dns_servers, (IPv4Address("198.51.100.53"), IPv4Address("198.51.100.54")))
            self.assertEqual((lease.lease_time, lease.renewal_time, lease.rebinding_time), (3600, 1800, 3150))
            self.assertEqual((lease.time_offset, lease.time_zone), (-18000, "EST5EDT"))
            self.assertEqual((lease.upstream_rate, lease.downstream_rate), (1000, 2000))
            self.assertEqual(lease.server_id, IPv4Address("192.0.2.254"))
            self.assertEqual(lease.state, "bound")
            self.assertEqual(lease.mtu, 1492)
            self.assertEqual((lease.sip_server, lease.static_routes), ("sip.example", "10.0.0.0/8 192.0.2.1"))
            self.assertEqual((lease.option122, lease.option125), ("0104c0000201", "00000de9"))
            self.assertEqual(
                (lease.bootfile, lease.tftp_server, lease.hostname, lease.domain_name),
                ("boot.cfg", "192.0.2.5", "cm0", "isp.example") if extras else ("", "", "", ""),
            )

    def test_v6_every_field(self):
        for name in LAYOUT_GEOMETRY:
            lease = decode(build(name, 1, "wan0", v6_sample(name)))
            self.assertIsInstance(lease, Lease6)
            self.assertEqual((lease.layout, lease.ifname, lease.inner_ifname), (name, "wan0", "erouter0"))
            self.assertFalse(lease.expired)
            self.assertEqual(lease.ia_na, IANA(IPv6Address("2001:db8::10"), 11, 3000, 4000, 1500, 2400))
            self.assertEqual(lease.ia_pd, IAPD(IPv6Network("2001:db8:100::/56"), 12, 5000, 6000, 2500, 4000))
            self.assertEqual(lease.dns_servers, (IPv6Address("2001:db8::53"), IPv6Address("2001:db8::54")))
            self.assertEqual(lease.mapt, "5f00aabb")
            self.assertEqual(lease.mape, "5e00ccdd" if LAYOUT_GEOMETRY[name][2] else None)
            self.assertEqual((lease.vendor_option17, lease.vendor_length), ("0000118b0001", 12))
            self.assertEqual(lease.domain_name, "isp.example")
            self.assertEqual(lease.ntp_servers, ("ntp1.example", "ntp2.example"))
            self.assertEqual(lease.aftr, "aftr.isp.example")
            self.assertEqual(lease.time_offset, 0)

    def test_v4_expired(self):
        """
        A udhcpc deconfig: not assigned, expired, only ifname/serverid/state.
        """
        lease = decode(build("x86_64", 0, "erouter0", {
            "isExpired": 1, "ifname": "erouter0", "dhcpServerId": "10.0.0.1", "dhcpState": "deconfig",
        }))
        self.assertEqual((lease.address_assigned, lease.expired, lease.state), (False, True, "deconfig"))
        self.assertIsNone(lease.address)
        self.assertIsNone(lease.netmask)
        self.assertIsNone(lease.interface)
        self.assertEqual((lease.routers, lease.dns_servers), ((), ()))
        self.assertIsNone(lease.mtu)
        self.assertIsNone(lease.time_offset)
        self.assertIsNone(lease.option122)

    def test_flags_gate_values(self):
        """
        Values whose "assigned" flag is 0 are absent (MTU, time offset, IA_NA,
        IA_PD, DNS, MAP-T, MAP-E, vendor).
        """
        lease = decode(build("x86_64", 0, "e", {"mtuSize": 1400, "timeOffset": 5, "option_122": "aa"}))
        self.assertEqual((lease.mtu, lease.time_offset, lease.option122), (None, None, None))
        lease6 = decode(build("x86_64", 1, "e", {
            "ia_na.address": "2001:db8::1", "ia_pd.Prefix": "2001:db8::", "dns.nameserver": "2001:db8::53",
            "mapt.Container": "x", "mape.Container": "y", "vendor.Data": "z",
        }))
        self.assertEqual((lease6.ia_na, lease6.ia_pd, lease6.dns_servers), (None, None, ()))
        self.assertEqual((lease6.mapt, lease6.mape, lease6.vendor_option17), (None, None, None))

    def test_unterminated_and_garbage_after_nul(self):
        """
        A string ends at the first NUL, or at the field's end when it fills it.
        """
        lease = decode(build("x86_64", 0, "e" * 32, {
            "cHostName": "h" * 64, "cDomainName": b"lan\0garbage", "dhcpState": b"\xffbad",
        }))
        self.assertEqual(lease.ifname, "e" * 32)
        self.assertEqual(lease.hostname, "h" * 64)
        self.assertEqual(lease.domain_name, "lan")
        self.assertEqual(lease.state, "\ufffdbad")

    def test_second_dns_only(self):
        lease = decode(build("x86_64", 0, "e", {"dnsServer1": "9.9.9.9"}))
        self.assertEqual(lease.dns_servers, (IPv4Address("9.9.9.9"),))

    def test_offset_into_buffer(self):
        message = build("ilp32", 0, "wan0", {"address": "10.1.1.1"})
        data = b"junk" + message + b"more"
        lease = decode(data, 4, len(message))
        self.assertEqual((lease.ifname, lease.address, lease.layout), ("wan0", IPv4Address("10.1.1.1"), "ilp32"))

    def test_pinned_layout(self):
        message = build("ilp32-nomape", 1, "wan0", {})
        self.assertEqual(decode(message, layout=layout.get_layout("ilp32-nomape")).layout, "ilp32-nomape")
        e = self.assertRaises(PluginMessageError, decode, message, layout=layout.DEFAULT)
        self.assertEqual(e.reason, pluginmsg.REASON_SIZE)
        self.assertIn("pinned", e.detail)


class RoundTripTests(SynchronousTestCase):
    def test_v4_every_layout(self):
        lease = v4_lease()
        for lay in layout.LAYOUTS:
            expected = lease if lay.has_v4_extras else attrs.evolve(
                lease, bootfile="", tftp_server="", hostname="", domain_name="")
            decoded = decode(encode_lease(lease, lay))
            self.assertEqual(decoded, expected)
            self.assertEqual(decoded.layout, lay.name)

    def test_v6_every_layout(self):
        for lease in (v6_lease(), v6_lease(ia_na=None, mapt=None, vendor_option17=None, expired=True),
                      v6_lease(ia_pd=None, dns_servers=())):
            for lay in layout.LAYOUTS:
                expected = lease if lay.has_mape else attrs.evolve(lease, mape=None)
                decoded = decode(encode_lease(lease, lay))
                self.assertEqual(decoded, expected)
                self.assertEqual(decoded.layout, lay.name)

    def test_layout_not_in_equality(self):
        self.assertEqual(v4_lease(layout="ilp32"), v4_lease())


class RejectionTests(SynchronousTestCase):
    def assertRejected(self, reason, data, **kw):
        e = self.assertRaises(PluginMessageError, decode, data, **kw)
        self.assertEqual(e.reason, reason)
        self.assertIn(reason, pluginmsg.REASONS)
        self.assertIn(reason, str(e))
        return e

    def test_unknown_sizes(self):
        good = build("x86_64", 0, "e", {})
        for data in (b"", good[:-1], good + b"\0", bytes(1000), bytes(1024 * 1024)):
            e = self.assertRejected(pluginmsg.REASON_SIZE, data)
            self.assertIn(str(len(data)), e.detail)

    def test_unknown_versions(self):
        for version in (2, 7, 0xFFFFFFFF):
            message = bytearray(build("x86_64", 0, "e", {}))
            message[32:36] = version.to_bytes(4, "little")
            e = self.assertRejected(pluginmsg.REASON_VERSION, bytes(message))
            self.assertIn(str(version), e.detail)

    def test_bad_v4_addresses(self):
        for field, value in (
            ("address", "10.0.0.300"), ("address", "10.0.0.1 10.0.0.2"), ("address", "fe80::1"),
            ("gateway", "10.0.0.1 router"), ("dnsServer", "dns.example"), ("dnsServer1", "1.2.3"),
            ("dhcpServerId", "x"), ("netmask", "255.255.255.256"), ("address", b"\xff\xfe"),
        ):
            self.assertRejected(pluginmsg.REASON_ADDRESS, build("x86_64", 0, "e", {field: value}))

    def test_bad_netmask(self):
        self.assertRejected(pluginmsg.REASON_NETMASK, build("x86_64", 0, "e", {"netmask": "255.0.255.0"}))

    def test_bad_v6_addresses(self):
        for values in (
            {"ia_na.assigned": 1, "ia_na.address": "2001:db8::g"},
            {"ia_na.assigned": 1, "ia_na.address": ""},
            {"ia_pd.assigned": 1, "ia_pd.Prefix": "10.0.0.0", "ia_pd.PrefixLength": 56},
            {"dns.assigned": 1, "dns.nameserver": "2001:db8::53", "dns.nameserver1": "nope"},
        ):
            self.assertRejected(pluginmsg.REASON_ADDRESS, build("x86_64", 1, "e", values))

    def test_bad_prefix_length(self):
        self.assertRejected(pluginmsg.REASON_PREFIX_LENGTH, build("x86_64", 1, "e", {
            "ia_pd.assigned": 1, "ia_pd.Prefix": "2001:db8::", "ia_pd.PrefixLength": 129}))

    def test_empty_ifname(self):
        self.assertRejected(pluginmsg.REASON_IFNAME, build("x86_64", 0, "", {"ifname": "erouter0"}))

    def test_rejection_not_cached(self):
        """
        A bad value is rejected every time, and does not spoil the caches.
        """
        bad = build("x86_64", 0, "e", {"address": "300.1.1.1"})
        bad_dns1 = build("x86_64", 0, "e", {"dnsServer": "9.9.9.9", "dnsServer1": "9.9.9"})
        bad_server = build("x86_64", 0, "e", {"dhcpServerId": "9.9.9.9 9.9.9.10"})
        for _ in range(3):
            self.assertRejected(pluginmsg.REASON_ADDRESS, bad)
            self.assertRejected(pluginmsg.REASON_ADDRESS, bad_dns1)
            self.assertRejected(pluginmsg.REASON_ADDRESS, bad_server)
            good = decode(build("x86_64", 0, "e", {"dnsServer": "9.9.9.9", "dnsServer1": "9.9.9.10",
                                                    "dhcpServerId": "9.9.9.9"}))
            self.assertEqual(good.dns_servers, (IPv4Address("9.9.9.9"), IPv4Address("9.9.9.10")))
            self.assertEqual(good.server_id, IPv4Address("9.9.9.9"))
        self.assertEqual(decode(build("x86_64", 0, "e", {"address": "30.1.1.1"})).address, IPv4Address("30.1.1.1"))

    def test_cache_is_bounded(self):
        for i in range(pluginmsg._CACHE_LIMIT + 10):
            decode(build("x86_64", 0, "e", {"address": str(IPv4Address(i + 1)), "gateway": str(IPv4Address(i + 2))}))
        self.assertLessEqual(len(pluginmsg._v4_cache), pluginmsg._CACHE_LIMIT)
        self.assertLessEqual(len(pluginmsg._address_cache), pluginmsg._CACHE_LIMIT)

    def test_one_address_read_whole_or_by_the_full_rules(self):
        """
        An address field is read with one inet_pton of its whole text when
        that text is one dotted quad; anything else goes by the full rules
        (text up to the first NUL, split on white space), which the fast
        reading must never contradict: inet_pton's own strictness (no
        leading zeros, four parts) decides, as glibc's does for udhcpc.
        """
        for text, expected in (
            ("10.0.0.5", IPv4Address("10.0.0.5")),
            (b"10.0.0.6\0garbage", IPv4Address("10.0.0.6")),
            (" 10.0.0.7 ", IPv4Address("10.0.0.7")),
            ("255.255.255.255", IPv4Address("255.255.255.255")),
            ("", None),
            (b"\0" + b"10.0.0.8", None),
        ):
            for field, read in (("address", lambda lease: lease.address), ("dhcpServerId", lambda l: l.server_id),
                                ("gateway", lambda lease: lease.routers[0] if lease.routers else None)):
                self.assertEqual(read(decode(build("x86_64", 0, "e", {field: text}))), expected, (field, text))
        for text in ("010.0.0.5", "10.0.5", "10.0.0.5.1", "1.2.3.4\t5.6.7.8", "10.0.0.256", "0x0a.0.0.1"):
            for field in ("address", "dhcpServerId"):
                self.assertRejected(pluginmsg.REASON_ADDRESS, build("x86_64", 0, "e", {field: text}))
        lease = decode(build("x86_64", 0, "e", {"gateway": "10.0.0.1\t10.0.0.2"}))
        self.assertEqual(lease.routers, (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")))


class DeferredFieldTests(SynchronousTestCase):
    """
    decode() reads at once what routing, handling and validation need (the
    interface, flags, addresses); a record's other fields are decoded from
    the message it keeps when one of them is first read.
    """

    def test_deferred_until_read(self):
        for lay in layout.LAYOUTS:
            lease = decode(encode_lease(v4_lease(), lay))
            held = vars(lease)
            self.assertEqual(set(held) & pluginmsg._DEFERRED_V4, set())
            self.assertEqual(lease.lease_time, 3600)
            self.assertEqual(set(held) & pluginmsg._DEFERRED_V4, pluginmsg._DEFERRED_V4)

    def test_every_field_eager_or_deferred(self):
        names = {field.name for field in attrs.fields(Lease4)}
        self.assertEqual(pluginmsg._EAGER_V4 | pluginmsg._DEFERRED_V4, names)
        self.assertEqual(pluginmsg._EAGER_V4 & pluginmsg._DEFERRED_V4, set())
        lease = decode(encode_lease(v4_lease()))
        self.assertEqual(lease.hostname, "host")
        self.assertEqual(set(vars(lease)) - {"_message"}, names)

    def test_decoded_record_is_a_plain_lease4(self):
        """
        Equality, hashing, repr, attrs.evolve and attrs.asdict see every
        field of a decoded record, whichever were read; the record is a
        Lease4 (the WAN options table is keyed by type).
        """
        expected = v4_lease()
        message = encode_lease(expected)
        self.assertIs(type(decode(message)), Lease4)
        self.assertEqual(decode(message), expected)
        self.assertEqual(expected, decode(message))
        self.assertEqual(hash(decode(message)), hash(expected))
        self.assertEqual(repr(decode(message)), repr(expected))
        self.assertEqual(attrs.asdict(decode(message)), attrs.asdict(expected))
        self.assertEqual(attrs.evolve(decode(message), hostname="other"), attrs.evolve(expected, hostname="other"))
        self.assertNotEqual(decode(message), attrs.evolve(expected, state="renew"))
        self.assertRaises(attrs.exceptions.FrozenInstanceError, setattr, decode(message), "hostname", "x")

    def test_made_record_never_decodes(self):
        """
        A record made by Lease4(...) holds its values: no message, no
        decoding when a field is read.
        """
        lease = v4_lease()
        self.assertNotIn("_message", vars(lease))
        self.assertEqual((lease.hostname, lease.mtu), ("host", 1492))

    def test_message_kept_is_the_message_alone(self):
        message = encode_lease(v4_lease(), layout.get_layout("ilp32"))
        lease = decode(b"junk" + message + b"more", 4, len(message))
        self.assertEqual(vars(lease)["_message"], message)
        self.assertEqual((lease.layout, lease.hostname), ("ilp32", "host"))


class RepeatDecoderTests(SynchronousTestCase):
    """
    L{pluginmsg.RepeatDecoder}: an interface's repeated message gives the
    same record without a decode; any other message is decoded as by
    L{decode}.
    """

    def setUp(self):
        self.decoder = pluginmsg.RepeatDecoder()
        self.decodes = []
        real = pluginmsg.decode

        def counting(*args):
            self.decodes.append(args)
            return real(*args)

        self.patch(pluginmsg, "decode", counting)

    def test_identical_message_gives_equal_lease_without_decoding(self):
        message = encode_lease(v4_lease())
        first = self.decoder.decode(message)
        # Another copy of the same bytes, in another buffer at another offset.
        again = self.decoder.decode(b"\xff" * 8 + message + b"\xee", 8, len(message))
        self.assertEqual(first, v4_lease())
        self.assertIs(again, first)
        self.assertEqual(len(self.decodes), 1)

    def test_every_changed_byte_decoded_afresh(self):
        """
        Whichever byte of a remembered message changes, the result is what
        L{decode} makes of the changed message (or its rejection): padding
        included, nothing is assumed not to matter.
        """
        for name in ("x86_64", "ilp32-nomape"):
            for lease in (v4_lease(), v6_lease()):
                message = encode_lease(lease, layout.get_layout(name))
                for offset in range(len(message)):
                    decoder = pluginmsg.RepeatDecoder()
                    first = decoder.decode(message)
                    changed = bytearray(message)
                    changed[offset] ^= 0x41
                    changed = bytes(changed)
                    where = (name, lease.version, offset)
                    try:
                        expected = decode(changed)
                    except PluginMessageError as e:
                        error = self.assertRaises(PluginMessageError, decoder.decode, changed)
                        self.assertEqual(error.reason, e.reason, where)
                        self.assertIs(decoder.decode(message), first, where)
                        continue
                    got = decoder.decode(changed)
                    self.assertEqual((got, got.layout), (expected, expected.layout), where)
                    if offset < 36:
                        # Another interface or version: remembered on its own.
                        self.assertIs(decoder.decode(message), first, where)
                    else:
                        # The same interface's last message is now the changed one.
                        again = decoder.decode(message)
                        self.assertEqual((again, again.layout), (first, first.layout), where)

    def test_changed_field_gives_new_lease(self):
        first = self.decoder.decode(encode_lease(v4_lease()))
        renewed = self.decoder.decode(encode_lease(v4_lease(lease_time=7200)))
        self.assertIsNot(renewed, first)
        self.assertEqual(renewed.lease_time, 7200)
        self.assertEqual(len(self.decodes), 2)

    def test_per_interface_and_version(self):
        """
        The v4 and v6 messages of several interfaces, interleaved, each hit
        their own last message.
        """
        messages = [encode_lease(record(ifname=ifname))
                    for ifname in ("erouter0", "erouter1") for record in (v4_lease, v6_lease)]
        first = [self.decoder.decode(m) for m in messages]
        for _ in range(3):
            for message, record in zip(messages, first):
                self.assertIs(self.decoder.decode(message), record)
        self.assertEqual(len(self.decodes), 4)

    def test_layout_kept(self):
        for name in ("x86_64-nomape", "ilp32"):
            message = encode_lease(v4_lease(), layout.get_layout(name))
            self.assertEqual(self.decoder.decode(message).layout, name)
            self.assertEqual(self.decoder.decode(message).layout, name)

    def test_rejection_never_remembered(self):
        good = encode_lease(v4_lease())
        bad = build("x86_64", 0, "erouter0", {"address": "300.1.1.1"})
        self.decoder.decode(good)
        for _ in range(3):
            self.assertEqual(self.assertRaises(PluginMessageError, self.decoder.decode, bad).reason, pluginmsg.REASON_ADDRESS)
        self.assertEqual(len(self.decodes), 4)
        # The good message is still remembered.
        self.assertEqual(self.decoder.decode(good), v4_lease())
        self.assertEqual(len(self.decodes), 4)

    def test_other_sizes_and_pinned_layout(self):
        message = encode_lease(v4_lease())
        pinned = pluginmsg.RepeatDecoder(layout.get_layout("x86_64"))
        pinned.decode(message)
        # A prefix or an extension of a remembered message is not that message.
        for data in (message[:-8], message + bytes(8), message[:40]):
            self.assertEqual(self.assertRaises(PluginMessageError, pinned.decode, data).reason, pluginmsg.REASON_SIZE)
        other = encode_lease(v4_lease(), layout.get_layout("x86_64-nomape"))
        self.assertEqual(self.assertRaises(PluginMessageError, pinned.decode, other).reason, pluginmsg.REASON_SIZE)
        self.assertEqual(self.assertRaises(PluginMessageError, self.decoder.decode, b"").reason, pluginmsg.REASON_SIZE)

    def test_any_buffer(self):
        message = encode_lease(v6_lease())
        for data in (message, bytearray(message), memoryview(message)):
            self.assertEqual(self.decoder.decode(data), v6_lease())
        self.assertEqual(self.decoder.decode(memoryview(b"xx" + message), 2, len(message)), v6_lease())
        self.assertEqual(len(self.decodes), 1)

    def test_bounded(self):
        for i in range(pluginmsg.REPEAT_LIMIT + 10):
            self.decoder.decode(encode_lease(v4_lease(ifname=f"wan{i}")))
        self.assertLessEqual(len(self.decoder._last), pluginmsg.REPEAT_LIMIT)
        self.assertEqual(self.decoder.decode(encode_lease(v4_lease(ifname="wan3"))).ifname, "wan3")


class DecoderTableTests(SynchronousTestCase):
    def test_every_layout_is_in_the_decoders_order(self):
        """
        Every layout's v4 block values come in the order the decoder unpacks
        them, so a field the table moves cannot be read from the wrong bytes.
        """
        for lay in layout.LAYOUTS:
            self.assertEqual(pluginmsg._reader(lay).layout, lay)

    def test_a_moved_field_is_refused(self):
        fields = list(layout._V4_COMMON)
        i, j = fields.index(("lease_time", "I")), fields.index(("rebinding_time", "I"))
        fields[i], fields[j] = fields[j], fields[i]
        v6 = layout._V6_HEAD + ((None, "2x"),) + layout._V6_TAIL
        moved = layout.Layout("moved", "32sI4x", layout._body(fields, "6xQ"), layout._body(v6, "Q"),
                              has_mape=False, has_v4_extras=False, v4_blocks=layout._blocks(fields, layout.V4_BLOCKS))
        self.assertRaises(ImportError, pluginmsg._reader, moved)
