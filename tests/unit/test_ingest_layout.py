# -*- test-case-name: tests.unit.test_ingest_layout -*-
"""
The PLUGIN_MSG layouts against offsets written out by hand from the
reference (C{rdkb-plugin-msg.md} sections 3.1-3.4), independent of
L{dhcpsuite.ingest.layout}; L{build} places values at them (other ingest
tests use it to make messages field by field).
"""

import struct

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.ingest import layout

# (size, data offset, has mape/v4 extras) per layout name.
LAYOUT_GEOMETRY = {
    "x86_64": (1720, 40, True),
    "x86_64-nomape": (1464, 40, False),
    "ilp32": (1712, 36, True),
    "ilp32-nomape": (1456, 36, False),
}

# DHCPv4_PLUGIN_MSG, offsets relative to the union (section 3.2).
V4 = {
    "addressAssigned": (0, "B"),
    "isExpired": (1, "B"),
    "address": (2, 32),
    "netmask": (34, 32),
    "gateway": (66, 32),
    "dnsServer": (98, 64),
    "dnsServer1": (162, 64),
    "ifname": (226, 32),
    "leaseTime": (260, "I"),
    "rebindingTime": (264, "I"),
    "renewalTime": (268, "I"),
    "timeOffset": (272, "i"),
    "isTimeOffsetAssigned": (276, "B"),
    "timeZone": (277, 64),
    "upstreamCurrRate": (344, "I"),
    "downstreamCurrRate": (348, "I"),
    "dhcpServerId": (352, 64),
    "dhcpState": (416, 64),
    "mtuAssigned": (480, "B"),
    "mtuSize": (484, "I"),
    "sipSrv": (488, 64),
    "staticRoutes": (552, 64),
    "Assigned122": (616, "B"),
    "Assigned125": (617, "B"),
    "option_122": (618, 256),
    "option_125": (874, 256),
}
V4_EXTRAS = {
    "cOption67": (1130, 64),
    "cTftpServer": (1194, 64),
    "cHostName": (1258, 64),
    "cDomainName": (1322, 64),
}

# DHCPv6_PLUGIN_MSG (section 3.3).
V6 = {
    "isExpired": (0, "B"),
    "ifname": (1, 32),
    "ia_na.assigned": (36, "B"),
    "ia_na.address": (37, 48),
    "ia_na.IA_ID": (88, "I"),
    "ia_na.PreferedLifeTime": (92, "I"),
    "ia_na.ValidLifeTime": (96, "I"),
    "ia_na.T1": (100, "I"),
    "ia_na.T2": (104, "I"),
    "ia_pd.assigned": (108, "B"),
    "ia_pd.Prefix": (109, 48),
    "ia_pd.PrefixLength": (160, "I"),
    "ia_pd.IA_ID": (164, "I"),
    "ia_pd.PreferedLifeTime": (168, "I"),
    "ia_pd.ValidLifeTime": (172, "I"),
    "ia_pd.T1": (176, "I"),
    "ia_pd.T2": (180, "I"),
    "dns.assigned": (184, "B"),
    "dns.nameserver": (185, 128),
    "dns.nameserver1": (313, 128),
    "mapt.Assigned": (441, "B"),
    "mapt.Container": (442, 256),
}
V6_CURRENT_TAIL = {
    "mape.Assigned": (698, "B"),
    "mape.Container": (699, 256),
    "vendor.Assigned": (956, "B"),
    "vendor.Data": (957, 256),
    "vendor.Length": (1216, "I"),
    "domainName": (1220, 64),
    "ntpserver": (1284, 128),
    "aftr": (1412, 256),
    "ipv6_TimeOffset": (1668, "I"),
}
# Without mape (section 3.4, "v6 1424"): vendor follows mapt after 2 pad bytes.
V6_NOMAPE_TAIL = {
    "vendor.Assigned": (700, "B"),
    "vendor.Data": (701, 256),
    "vendor.Length": (960, "I"),
    "domainName": (964, 64),
    "ntpserver": (1028, 128),
    "aftr": (1156, 256),
    "ipv6_TimeOffset": (1412, "I"),
}


def v4_table(layout_name):
    table = dict(V4)
    if LAYOUT_GEOMETRY[layout_name][2]:
        table.update(V4_EXTRAS)
    return table


def v6_table(layout_name):
    table = dict(V6)
    table.update(V6_CURRENT_TAIL if LAYOUT_GEOMETRY[layout_name][2] else V6_NOMAPE_TAIL)
    return table


def build(layout_name, version, ifname, values):
    """
    A zeroed message of the layout's size with the outer ifname and version
    and each C{values[field]} placed at its reference offset (strings
    strncpy'd: truncated to the field, NUL-padded).
    """
    size, data_offset, _ = LAYOUT_GEOMETRY[layout_name]
    table = v4_table(layout_name) if version == 0 else v6_table(layout_name)
    message = bytearray(size)
    message[0:32] = ifname.encode().ljust(32, b"\0")[:32]
    struct.pack_into("<I", message, 32, version)
    for field, value in values.items():
        offset, kind = table[field]
        at = data_offset + offset
        if isinstance(kind, int):
            raw = value if isinstance(value, bytes) else value.encode()
            message[at:at + kind] = raw[:kind].ljust(kind, b"\0")
        else:
            struct.pack_into("<" + kind, message, at, value)
    return bytes(message)


# ---- tests -------------------------------------------------------------------

# A value for every reference field, so a misplaced offset shows up.
V4_SAMPLE = {
    "addressAssigned": 1, "isExpired": 0, "address": "192.0.2.10", "netmask": "255.255.255.0",
    "gateway": "192.0.2.1 192.0.2.2", "dnsServer": "198.51.100.53", "dnsServer1": "198.51.100.54",
    "ifname": "erouter0", "leaseTime": 3600, "rebindingTime": 3150, "renewalTime": 1800,
    "timeOffset": -18000, "isTimeOffsetAssigned": 1, "timeZone": "EST5EDT", "upstreamCurrRate": 1000,
    "downstreamCurrRate": 2000, "dhcpServerId": "192.0.2.254", "dhcpState": "bound", "mtuAssigned": 1,
    "mtuSize": 1492, "sipSrv": "sip.example", "staticRoutes": "10.0.0.0/8 192.0.2.1", "Assigned122": 1,
    "Assigned125": 1, "option_122": "0104c0000201", "option_125": "00000de9",
}
V4_EXTRAS_SAMPLE = {
    "cOption67": "boot.cfg", "cTftpServer": "192.0.2.5", "cHostName": "cm0", "cDomainName": "isp.example",
}
V6_SAMPLE = {
    "isExpired": 0, "ifname": "erouter0", "ia_na.assigned": 1, "ia_na.address": "2001:db8::10",
    "ia_na.IA_ID": 11, "ia_na.PreferedLifeTime": 3000, "ia_na.ValidLifeTime": 4000, "ia_na.T1": 1500,
    "ia_na.T2": 2400, "ia_pd.assigned": 1, "ia_pd.Prefix": "2001:db8:100::", "ia_pd.PrefixLength": 56,
    "ia_pd.IA_ID": 12, "ia_pd.PreferedLifeTime": 5000, "ia_pd.ValidLifeTime": 6000, "ia_pd.T1": 2500,
    "ia_pd.T2": 4000, "dns.assigned": 1, "dns.nameserver": "2001:db8::53", "dns.nameserver1": "2001:db8::54",
    "mapt.Assigned": 1, "mapt.Container": "5f00aabb", "vendor.Assigned": 1, "vendor.Data": "0000118b0001",
    "vendor.Length": 12, "domainName": "isp.example", "ntpserver": "ntp1.example ntp2.example",
    "aftr": "aftr.isp.example", "ipv6_TimeOffset": 0,
}

# Our encoder's field names for the reference's.
V4_NAMES = {
    "addressAssigned": "address_assigned", "isExpired": "is_expired", "address": "address", "netmask": "netmask",
    "gateway": "gateway", "dnsServer": "dns_server", "dnsServer1": "dns_server1", "ifname": "ifname",
    "leaseTime": "lease_time", "rebindingTime": "rebinding_time", "renewalTime": "renewal_time",
    "timeOffset": "time_offset", "isTimeOffsetAssigned": "is_time_offset_assigned", "timeZone": "time_zone",
    "upstreamCurrRate": "upstream_rate", "downstreamCurrRate": "downstream_rate", "dhcpServerId": "server_id",
    "dhcpState": "state", "mtuAssigned": "mtu_assigned", "mtuSize": "mtu_size", "sipSrv": "sip_server",
    "staticRoutes": "static_routes", "Assigned122": "assigned122", "Assigned125": "assigned125",
    "option_122": "option122", "option_125": "option125", "cOption67": "option67", "cTftpServer": "tftp_server",
    "cHostName": "hostname", "cDomainName": "domain_name",
}
V6_NAMES = {
    "isExpired": "is_expired", "ifname": "ifname", "ia_na.assigned": "na_assigned", "ia_na.address": "na_address",
    "ia_na.IA_ID": "na_iaid", "ia_na.PreferedLifeTime": "na_preferred", "ia_na.ValidLifeTime": "na_valid",
    "ia_na.T1": "na_t1", "ia_na.T2": "na_t2", "ia_pd.assigned": "pd_assigned", "ia_pd.Prefix": "pd_prefix",
    "ia_pd.PrefixLength": "pd_length", "ia_pd.IA_ID": "pd_iaid", "ia_pd.PreferedLifeTime": "pd_preferred",
    "ia_pd.ValidLifeTime": "pd_valid", "ia_pd.T1": "pd_t1", "ia_pd.T2": "pd_t2", "dns.assigned": "dns_assigned",
    "dns.nameserver": "dns_server", "dns.nameserver1": "dns_server1", "mapt.Assigned": "mapt_assigned",
    "mapt.Container": "mapt", "mape.Assigned": "mape_assigned", "mape.Container": "mape",
    "vendor.Assigned": "vendor_assigned", "vendor.Data": "vendor_data", "vendor.Length": "vendor_length",
    "domainName": "domain_name", "ntpserver": "ntp_server", "aftr": "aftr", "ipv6_TimeOffset": "time_offset",
}


def v4_sample(layout_name):
    values = dict(V4_SAMPLE)
    if LAYOUT_GEOMETRY[layout_name][2]:
        values.update(V4_EXTRAS_SAMPLE)
    return values


def v6_sample(layout_name):
    values = dict(V6_SAMPLE)
    if LAYOUT_GEOMETRY[layout_name][2]:
        values.update({"mape.Assigned": 1, "mape.Container": "5e00ccdd"})
    return values


class LayoutTests(SynchronousTestCase):
    def test_sizes(self):
        """
        Each layout has the reference's sizeof(PLUGIN_MSG) and union offset,
        for both versions, and is found by its size.
        """
        self.assertEqual({l.name for l in layout.LAYOUTS}, set(LAYOUT_GEOMETRY))
        for name, (size, data_offset, current) in LAYOUT_GEOMETRY.items():
            lay = layout.get_layout(name)
            self.assertEqual((lay.size, lay.v4.size, lay.v6.size, lay.data_offset), (size, size, size, data_offset))
            self.assertEqual((lay.has_mape, lay.has_v4_extras), (current, current))
            self.assertIs(layout.BY_SIZE[size], lay)
        self.assertEqual(layout.DEFAULT.size, 1720)

    def test_reference_struct_formats(self):
        """
        The x86_64 formats are the reference's section 3.4 strings.
        """
        hdr = "32sI4x"
        v4 = "BB32s32s32s64s64s32s2xIIIiB64s3xII64s64sB3xI64s64sBB256s256s64s64s64s64s6xQ"
        v6 = "B32s3xB48s3xIIIIIB48s3xIIIIIIB128s128sB256sB256sxB256s3xI64s128s256sIQ"
        self.assertEqual(layout.DEFAULT.v4.format, f"<{hdr}{v4}280x")
        self.assertEqual(layout.DEFAULT.v6.format, f"<{hdr}{v6}")

    def test_unknown_layout(self):
        e = self.assertRaises(KeyError, layout.get_layout, "sparc")
        self.assertIn("x86_64", e.args[0])

    def test_encode_v4_matches_reference_offsets(self):
        """
        The encoder puts every v4 field at the reference's offset.
        """
        for name in LAYOUT_GEOMETRY:
            values = v4_sample(name)
            expected = build(name, 0, "erouter0", values)
            ours = layout.encode(layout.get_layout(name), layout.VERSION_V4, "erouter0",
                                 {V4_NAMES[k]: v for k, v in values.items()})
            self.assertEqual(ours, expected, name)

    def test_encode_v6_matches_reference_offsets(self):
        for name in LAYOUT_GEOMETRY:
            values = v6_sample(name)
            expected = build(name, 1, "erouter0", values)
            ours = layout.encode(layout.get_layout(name), layout.VERSION_V6, "erouter0",
                                 {V6_NAMES[k]: v for k, v in values.items()})
            self.assertEqual(ours, expected, name)

    def test_encode_strncpy(self):
        """
        A string as long as its field fills it with no terminator; a longer
        one is cut; the rest of a field is NUL-padded.
        """
        lay = layout.DEFAULT
        message = layout.encode(lay, 0, "e" * 40, {"hostname": "h" * 64, "domain_name": "d" * 70, "state": "bound"})
        self.assertEqual(message[:32], b"e" * 32)
        self.assertEqual(message[40 + 1258:40 + 1322], b"h" * 64)
        self.assertEqual(message[40 + 1322:40 + 1386], b"d" * 64)
        self.assertEqual(message[40 + 416:40 + 480], b"bound".ljust(64, b"\0"))

    def test_encode_rejects_unknown_fields(self):
        self.assertRaises(KeyError, layout.encode, layout.get_layout("x86_64-nomape"), 0, "e", {"hostname": "x"})
        self.assertRaises(KeyError, layout.encode, layout.get_layout("ilp32-nomape"), 1, "e", {"mape": "x"})

    def test_padding_and_pointer_zero(self):
        """
        Everything but the fields is zero: pads, the next pointer, the unused
        tail of the union after a v4 message.
        """
        for name in LAYOUT_GEOMETRY:
            lay = layout.get_layout(name)
            message = layout.encode(lay, 0, "x", {})
            self.assertEqual(message, b"x" + bytes(lay.size - 1))

    def test_v4_blocks_match_fields(self):
        """
        The decoder's block struct is derived from the same table as the
        encoder's: every block field, encoded alone, is found at its span
        inside its block's value, and the fields outside blocks are the
        encoder's values, in every layout.
        """
        for name in LAYOUT_GEOMETRY:
            lay = layout.get_layout(name)
            self.assertEqual(lay.v4_blocks.size, lay.size)
            for block, members in layout.V4_BLOCKS.items():
                if block not in lay.v4_block_names:
                    self.assertEqual((block, lay.has_v4_extras), ("names", False))
                    continue
                index = 2 + lay.v4_block_names.index(block)
                for field in members:
                    marker = 7 if field.startswith("assigned") else "z" * 3
                    message = layout.encode(lay, 0, "x", {field: marker})
                    value = lay.v4_blocks.unpack(message)[index]
                    start, stop = lay.v4_spans[field]
                    expected = b"\x07" if marker == 7 else b"zzz"
                    self.assertEqual(value[start:start + len(expected)], expected, (name, field))
                    self.assertEqual(value[:start] + value[start + len(expected):], bytes(len(value) - len(expected)))
            message = layout.encode(lay, 0, "x", {"lease_time": 3600, "mtu_size": 1492, "state": "bound"})
            values = dict(zip(("outer", "version") + lay.v4_block_names, lay.v4_blocks.unpack(message)))
            self.assertEqual((values["lease_time"], values["mtu_size"], values["state"][:6]), (3600, 1492, b"bound\0"))

    def test_v4_blocks_must_be_neighbours(self):
        """
        A block whose fields are not neighbours in the table cannot be read
        as one value: building it fails at import, not at decode time.
        """
        fields = (("a", "B"), ("b", "4s"), ("c", "B"))
        self.assertRaises(ValueError, layout._blocks, fields, {"ac": ("a", "c")})
        self.assertEqual(layout._blocks(fields, {"ab": ("a", "b")}), ("5sB", ("ab", "c"), {"a": (0, 1), "b": (1, 5)}))


class SubsetTests(SynchronousTestCase):
    def test_subset_reads_the_same_values(self):
        """
        A struct reading only some v4 fields reads them where the whole
        struct does, in every layout; the rest are skipped.
        """
        wanted = ("address_assigned", "address", "dns_server1", "server_id", "state")
        for lay in layout.LAYOUTS:
            message = build(lay.name, 0, "wan0", v4_sample(lay.name))
            subset = lay.v4_subset(wanted)
            self.assertEqual(subset.size, lay.size)
            whole = dict(zip(("outer", "version") + lay.v4_names, lay.v4.unpack(message)))
            self.assertEqual(subset.unpack(message), (whole["outer"], whole["version"]) + tuple(
                whole[name] for name in wanted))

    def test_subset_unknown_field(self):
        self.assertRaises(KeyError, layout.get_layout("x86_64-nomape").v4_subset, ["hostname"])
