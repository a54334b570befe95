"""
Tests for L{dhcpsuite.migration.leasefiles}: the lease files of dnsmasq, ISC
dhcpd and Kea read as each server reads its own.

The samples are written the way each server writes them (dnsmasq's
C{lease_update_file}, dhcpd's C{write_lease}, Kea's C{CSVLeaseFile4}); the
integration test C{tests/integration/test_migration.py} reads files the
real servers wrote.
"""

from __future__ import annotations

import os
import tempfile
from ipaddress import IPv4Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.migration.leasefiles import READERS, read_dnsmasq, read_isc_dhcpd, read_kea, read_lease_file
from dhcpsuite.migration.records import InputError, Source

A = IPv4Address
MAC1 = bytes.fromhex("020000000001")

DNSMASQ = """\
1796540000 02:00:00:00:00:01 10.77.0.100 laptop 01:02:00:00:00:00:01
0 02:00:00:00:00:02 10.77.0.101 * *
duid 00:01:00:01:2c:00:00:01:02:00:00:00:00:01
1796540000 305419896 fd00::100 laptop 00:01:00:01:2c:00:00:01
"""

DHCPD = """\
# The format of this file is documented in the dhcpd.leases(5) manual page.
# This lease file was written by isc-dhcp-4.4.3-P1

# authoring-byte-order entry is generated, DO NOT DELETE
authoring-byte-order little-endian;

server-duid "\\000\\001\\000\\001,\\341\\212\\003\\002\\000\\000\\000\\000\\001";

lease 10.77.0.100 {
  starts 0 2026/12/06 05:00:00;
  ends 0 2026/12/06 06:00:00;
  cltt 0 2026/12/06 05:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 02:00:00:00:00:01;
  uid "\\001\\002\\000\\000\\000\\000\\001";
  client-hostname "first";
}
lease 10.77.0.101 {
  starts 0 2026/12/06 05:00:00;
  ends epoch 1796540000; # Sun Dec 06 06:33:20 2026
  binding state active;
  hardware ethernet 02:00:00:00:00:02;
  set vendor-class-identifier = "udhcp 1.35.0";
}
lease 10.77.0.100 {
  starts 0 2026/12/06 05:10:00;
  ends never;
  binding state active;
  hardware ethernet 02:00:00:00:00:01;
  client-hostname "second; with { braces } # and a hash";
}
lease 10.77.0.102 {
  starts 0 2026/12/06 05:00:00;
  ends 0 2026/12/06 05:30:00;
  binding state free;
  hardware ethernet 02:00:00:00:00:03;
}
"""

KEA_HEADER = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id\n"
KEA = KEA_HEADER + """\
10.77.0.100,02:00:00:00:00:01,01:02:00:00:00:00:01,3600,1796540000,1,0,0,a&#x2cb,0,,0
10.77.0.101,02:00:00:00:00:02,,3600,1796540000,1,0,0,,0,,0
10.77.0.101,02:00:00:00:00:02,,0,1796536400,1,0,0,,0,,0
10.77.0.102,02:00:00:00:00:03,,3600,1796540000,1,0,0,,1,,0
10.77.0.103,02:00:00:00:00:04,,4294967295,1796540000,1,0,0,,0,,0
"""


class DnsmasqTests(SynchronousTestCase):
    def test_fields(self):
        """
        Each IPv4 line gives address, MAC, option 61 and the expiry; C{*}
        means none, and expiry 0 an infinite lease.
        """
        leases = {l.address: l for l in read_dnsmasq(DNSMASQ, "dnsmasq.leases").leases}
        first = leases[A("10.77.0.100")]
        self.assertEqual(
            (first.mac, first.client_id, first.expires, first.hostname, first.active, first.where),
            (MAC1, bytes.fromhex("01020000000001"), 1796540000.0, "laptop", True, "dnsmasq.leases:1"),
        )
        second = leases[A("10.77.0.101")]
        self.assertEqual((second.client_id, second.expires, second.hostname), (b"", None, ""))

    def test_ipv6_lines_reported(self):
        """
        DHCPv6 leases (after the C{duid} line) are returned as unreadable, not dropped.
        """
        result = read_dnsmasq(DNSMASQ, "f")
        self.assertEqual([(u.where, u.address, u.reason) for u in result.unreadable], [("f:4", "fd00::100", "dhcpv6-lease")])

    def test_bad_line_names_file_and_line(self):
        for text, problem in (
            ("1 02:00:00:00:00:01 10.0.0.1 h *\nsoon 02:00:00:00:00:01 10.0.0.2 h *\n", "expiry 'soon'"),
            ("1 02:00:00:00:00:01 10.0.0.1\n", "got 3 fields"),
            ("\n1 zz:00 10.0.0.1 h *\n", "hardware address"),
        ):
            with self.assertRaises(InputError) as e:
                read_dnsmasq(text, "x.leases")
            self.assertIn(problem, str(e.exception))
            self.assertTrue(str(e.exception).startswith("x.leases:2:") or str(e.exception).startswith("x.leases:1:"))
        with self.assertRaises(InputError) as e:
            read_dnsmasq("1 02:00:00:00:00:01 10.0.0.1 h *\n1 02:00:00:00:00:01 10.0.0.x h *\n", "x.leases")
        self.assertEqual(str(e.exception), "x.leases:2: '10.0.0.x' is not an IP address")


class IscDhcpdTests(SynchronousTestCase):
    def test_last_record_wins(self):
        """
        dhcpd.leases is a journal: the last block for an address is the one
        dhcpd keeps at start, whatever came before.
        """
        leases = {l.address: l for l in read_isc_dhcpd(DHCPD, "dhcpd.leases").leases}
        self.assertEqual(sorted(leases), [A("10.77.0.100"), A("10.77.0.101"), A("10.77.0.102")])
        last = leases[A("10.77.0.100")]
        self.assertEqual(last.where, "dhcpd.leases:27")
        self.assertEqual((last.expires, last.client_id, last.hostname), (None, b"", "second; with { braces } # and a hash"))

    def test_fields_and_times(self):
        """
        C{ends W YYYY/MM/DD HH:MM:SS} is UTC; C{ends epoch N} is seconds;
        C{uid} octal escapes are the option 61 bytes.
        """
        text = DHCPD.split("lease 10.77.0.100 {\n  starts 0 2026/12/06 05:10:00;")[0]
        leases = {l.address: l for l in read_isc_dhcpd(text, "f").leases}
        self.assertEqual(leases[A("10.77.0.100")].expires, 1796536800.0)
        self.assertEqual(leases[A("10.77.0.100")].client_id, bytes.fromhex("01020000000001"))
        self.assertEqual(leases[A("10.77.0.101")].expires, 1796540000.0)

    def test_only_active_binding_is_active(self):
        leases = {l.address: l for l in read_isc_dhcpd(DHCPD, "f").leases}
        self.assertEqual((leases[A("10.77.0.102")].active, leases[A("10.77.0.102")].state), (False, "free"))
        self.assertTrue(leases[A("10.77.0.101")].active)

    def test_errors_name_the_line(self):
        for text, expected in (
            ("lease 10.0.0.1 {\n  ends 0 2026/13/45 00:00:00;\n}\n", "f:2: cannot read the time"),
            ("lease 10.0.0.1 {\n  binding state active\n}\n", "f:2: missing ';'"),
            ("\n\nlease 10.0.0.1 {\n  binding state active;\n", "f:3: this '{' is never closed"),
            ("lease 10.0.0.1 {\n}\n}\n", "f:3: '}' without a block"),
            ("lease 10.0.0.999 {\n}\n", "f:1: '10.0.0.999' is not an IPv4 address"),
            ('lease 10.0.0.1 {\n  uid "\\001\n', "f:2: unterminated"),
        ):
            with self.assertRaises(InputError) as e:
                read_isc_dhcpd(text, "f")
            self.assertTrue(str(e.exception).startswith(expected), str(e.exception))


class KeaTests(SynchronousTestCase):
    def test_rows(self):
        """
        State 0 is a bound lease; a later row with valid_lifetime 0 deletes
        the address (Kea's LFC reads it so); state 1 is declined;
        0xffffffff is an infinite lifetime; C{&#x2c} is an escaped comma.
        """
        leases = {l.address: l for l in read_kea(KEA, "kea-leases4.csv").leases}
        first = leases[A("10.77.0.100")]
        self.assertEqual(
            (first.mac, first.client_id, first.expires, first.hostname, first.active, first.where),
            (MAC1, bytes.fromhex("01020000000001"), 1796540000.0, "a,b", True, "kea-leases4.csv:2"),
        )
        self.assertEqual((leases[A("10.77.0.101")].active, leases[A("10.77.0.101")].state), (False, "deleted"))
        self.assertEqual((leases[A("10.77.0.102")].active, leases[A("10.77.0.102")].state), (False, "declined"))
        self.assertEqual(leases[A("10.77.0.103")].expires, None)

    def test_columns_found_by_header(self):
        """
        Kea 2.2 writes no C{pool_id} column; the reader goes by the header.
        """
        text = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n" \
               "10.0.0.5,02:00:00:00:00:01,,3600,1796540000,1,0,0,h,0,\n"
        (lease,) = read_kea(text, "f").leases
        self.assertEqual((lease.address, lease.hostname, lease.active), (A("10.0.0.5"), "h", True))

    def test_errors(self):
        for text, expected in (
            ("address,hwaddr\n", "f:1: not a Kea DHCPv4 memfile header"),
            (KEA_HEADER + "10.0.0.5,02:00:00:00:00:01\n", "f:2: 2 columns"),
            (KEA_HEADER + "\n10.0.0.5,02:00:00:00:00:01,,x,1,1,0,0,,0,,0\n", "f:3: valid_lifetime 'x'"),
        ):
            with self.assertRaises(InputError) as e:
                read_kea(text, "f")
            self.assertTrue(str(e.exception).startswith(expected), str(e.exception))


class ReadFileTests(SynchronousTestCase):
    def test_missing_file(self):
        with self.assertRaises(InputError) as e:
            read_lease_file(Source.KEA, "/nonexistent/kea-leases4.csv")
        self.assertIn("/nonexistent/kea-leases4.csv:0: No such file", str(e.exception))

    def test_reads_by_source(self):
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        os.write(fd, KEA.encode())
        os.close(fd)
        self.assertEqual(len(read_lease_file(Source.KEA, path).leases), 4)


class HostileFileTests(SynchronousTestCase):
    """
    Whatever a lease file holds, a reader returns records or raises
    L{InputError} naming the file and line; nothing else escapes.
    """

    def check(self, text: str) -> None:
        for source, reader in READERS.items():
            try:
                reader(text, "f")
            except InputError as e:
                self.assertRegex(str(e), r"^f:\d+: ", source)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.text(max_size=300))
    def test_any_text(self, text):
        self.check(text)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(DHCPD.split() + KEA.replace(",", " , ").split() + ["{", "}", ";", '"', "\n", "never", "epoch", "#"]), max_size=80))
    def test_shuffled_records(self, words):
        self.check(" ".join(words))
        self.check(",".join(words))


class KeaGenerationsTests(SynchronousTestCase):
    def test_older_files_read_first(self):
        """
        After Kea's lease file cleanup the current file holds only what
        changed since; Kea reads .2 (or .completed) and .1 before it, and so
        does the import: a lease only in .2 is kept, a later row wins.
        """
        directory = tempfile.mkdtemp()
        self.addCleanup(__import__("shutil").rmtree, directory)
        path = os.path.join(directory, "kea-leases4.csv")
        row = "{address},02:00:00:00:00:0{n},,3600,{expire},1,0,0,,0,,0\n"
        with open(path + ".2", "w") as f:
            f.write(KEA_HEADER + row.format(address="10.0.0.1", n=1, expire=1796540000) + row.format(address="10.0.0.2", n=2, expire=1))
        with open(path + ".1", "w") as f:
            f.write(KEA_HEADER + row.format(address="10.0.0.2", n=2, expire=1796540002))
        with open(path, "w") as f:
            f.write(KEA_HEADER + row.format(address="10.0.0.3", n=3, expire=1796540003))
        leases = {str(l.address): l for l in read_lease_file(Source.KEA, path).leases}
        self.assertEqual(sorted(leases), ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        self.assertEqual((leases["10.0.0.2"].expires, leases["10.0.0.2"].where), (1796540002.0, path + ".1:2"))
        # A finished cleanup's .completed stands for both .2 and .1.
        with open(path + ".completed", "w") as f:
            f.write(KEA_HEADER + row.format(address="10.0.0.4", n=4, expire=1796540004))
        self.assertEqual(sorted(str(l.address) for l in read_lease_file(Source.KEA, path).leases), ["10.0.0.3", "10.0.0.4"])
