"""
Tests for C{dhcpsuite-convert}: dnsmasq.conf and dhcpd.conf to dhcpsuite TOML.

Every output is run through our own configuration parser (what
C{dhcpsuite-check-config} does). Where the old server's default differs
from ours the conversion writes its default out: dnsmasq is not
authoritative without C{dhcp-authoritative} and offers its own address as
router and DNS server; dhcpd gives 12 h leases, 24 h at most, and is not
authoritative without C{authoritative;}. Like KEAMA, each directive that is
not carried over gives one warning naming C{file:line}.
"""

from __future__ import annotations

import io
import os
import tempfile
from ipaddress import IPv4Address, IPv4Interface

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import parse_config_text
from dhcpsuite.migration import convert as convert_module
from dhcpsuite.migration.convert import ConfigSource, LocalAddress, convert
from dhcpsuite.migration.records import InputError

LOCAL = [LocalAddress("srv0", IPv4Interface("10.77.0.1/16"))]

DNSMASQ = """\
# a home router
port=0
interface=srv0
dhcp-range=10.77.0.100,10.77.0.199,20m
dhcp-range=10.88.0.10,10.88.0.50,255.255.255.0,1h
dhcp-host=02:00:00:00:00:09,10.77.0.9,printer
dhcp-host=id:01:02:00:00:00:00:0a,10.77.0.10
dhcp-host=02:00:00:00:00:0b,ignore
dhcp-option=option:ntp-server,10.77.0.123
dhcp-option=6,10.77.0.53,0.0.0.0
dhcp-option=26,1400
dhcp-option=tag:voip,66,10.1.1.1
dhcp-option=44,10.77.0.5
domain=example.lan
log-dhcp
"""

DHCPD = """\
option domain-name "example.org";
option domain-name-servers 10.77.0.53, 10.77.0.54;
default-lease-time 600;
max-lease-time 7200;
authoritative;
log-facility local7;
subnet 10.77.0.0 netmask 255.255.0.0 {
  option routers 10.77.0.1;
  range 10.77.0.100 10.77.0.199;
  option interface-mtu 1400;
  host printer { hardware ethernet 02:00:00:00:00:09; fixed-address 10.77.0.9; option host-name "printer"; }
}
shared-network campus {
  option domain-name "campus.example.org";
  subnet 10.88.0.0 netmask 255.255.255.0 {
    option routers 10.88.0.1;
    pool { range 10.88.0.10 10.88.0.50; allow unknown-clients; option ntp-servers 10.88.0.2; }
  }
}
subnet 10.99.0.0 netmask 255.255.255.0 { }
host laptop { hardware ethernet 02:00:00:00:00:0a; fixed-address 10.88.0.5; }
host dyn { hardware ethernet 02:00:00:00:00:0b; }
"""


DHCPD_WORDS = (
    "subnet", "netmask", "10.77.0.0", "255.255.0.0", "255.0.255.0", "{", "}", ";", "range", "10.77.0.5", "10.77.0.9", "10.88.0.1",
    "host", "h", "hardware", "ethernet", "02:00:00:00:00:01", "fixed-address", "option", "interface-mtu", "abc", "1400", "0",
    "routers", "dhcp-client-identifier", "zz", '"q"', "pool", "group", "shared-network", "default-lease-time",
    "max-lease-time", "min-lease-time", "5", "authoritative", "not", "server-identifier", ",", "broadcast-address",
    "domain-name", "domain-name-servers", "dynamic-bootp", "\n", "#",
)
DNSMASQ_WORDS = (
    "dhcp-range=", "dhcp-host=", "dhcp-option=", "domain=", "interface=", "port=0", "10.77.0.5", "10.77.0.300", "10.77.0.0",
    "255.255.0.0", "255.0.255.0", "12h", "0", "infinite", "tag:x", "set:y", "id:01:02", "id:zz", "02:00:00:00:00:01",
    "option:mtu", "26", "3", "0.0.0.0", "abc", ",", ",,", "static", "fd00::1", '"q"', "6", "44", "121", "255", "53", "x=y", "#",
)


def validated(conversion):
    """
    The converted text as our parser reads it, and the subnets by name.
    """
    config = parse_config_text(conversion.text, "<converted>")
    return {str(s.network): s for s in config.section("server").subnets}


def lines(conversion) -> dict[int, str]:
    return {int(w.where.rpartition(":")[2]): w.message for w in conversion.warnings if w.where.startswith("f:")}


class DnsmasqTests(SynchronousTestCase):
    def test_ranges_hosts_options(self):
        conversion = convert(ConfigSource.DNSMASQ, DNSMASQ, "f", LOCAL)
        subnets = validated(conversion)
        self.assertEqual(sorted(subnets), ["10.77.0.0/16", "10.88.0.0/24"])
        local = subnets["10.77.0.0/16"]
        table = conversion.document["server"]["subnet"][0]
        # The netmask of a range without one is the local interface's, as dnsmasq takes it.
        self.assertEqual((local.interface, [str(p.first) for p in local.pools], local.lease_time), ("srv0", ["10.77.0.100"], 1200))
        self.assertEqual(table["dns_servers"], ["10.77.0.53", "10.77.0.1"])
        # dnsmasq's own address is the default router; not authoritative without dhcp-authoritative.
        self.assertEqual((table["router"], table["authoritative"]), (["10.77.0.1"], False))
        self.assertEqual((table["mtu"], table["domain_name"], table["ntp_servers"]), (1400, "example.lan", ["10.77.0.123"]))
        self.assertEqual(table["option"], [{"code": 44, "ip": ["10.77.0.5"]}])
        self.assertEqual(
            table["reservation"],
            [{"mac": "02:00:00:00:00:09", "hostname": "printer", "address": "10.77.0.9"},
             {"client_id": "01:02:00:00:00:00:0a", "address": "10.77.0.10"}],
        )
        relayed = conversion.document["server"]["subnet"][1]
        self.assertEqual((relayed.get("interface"), relayed["server_address"]), (None, "10.77.0.1"))

    def test_warnings_name_each_line_left_out(self):
        conversion = convert(ConfigSource.DNSMASQ, DNSMASQ, "f", LOCAL)
        warned = lines(conversion)
        self.assertEqual(sorted(warned), [5, 8, 12, 15])
        self.assertIn("no deny list", warned[8])
        self.assertIn("tag:voip", warned[12])
        self.assertIn("log-dhcp", warned[15])
        self.assertIn("relayed", warned[5])

    def test_dns_on_means_self_as_dns(self):
        """
        Without C{port=0} dnsmasq is the clients' DNS server too.
        """
        conversion = convert(ConfigSource.DNSMASQ, "dhcp-range=10.77.0.100,10.77.0.110\ndhcp-authoritative\n", "f", LOCAL)
        table = conversion.document["server"]["subnet"][0]
        self.assertEqual((table["dns_servers"], table["router"], table["authoritative"]), (["10.77.0.1"], ["10.77.0.1"], True))

    def test_classless_routes_and_text_options(self):
        """
        Option 121 pairs become classless_route tables; string options
        (boot file, TFTP server) text options; an option whose encoding is
        not a plain string (domain-search) is not guessed at.
        """
        text = (
            "dhcp-range=10.77.0.5,10.77.0.9\n"
            "dhcp-option=121,192.168.1.0/24,10.77.0.2,10.0.0.0/8,10.77.0.3\n"
            "dhcp-option=option:classless-static-route,1.2.3.0/24\n"
            "dhcp-option=67,pxelinux.0\n"
            'dhcp-option=66,"tftp.example"\n'
            "dhcp-option=option:domain-search,example.com\n"
        )
        conversion = convert(ConfigSource.DNSMASQ, text, "f", LOCAL)
        subnet = validated(conversion)["10.77.0.0/16"]
        table = conversion.document["server"]["subnet"][0]
        self.assertEqual(
            table["classless_route"],
            [{"destination": "192.168.1.0/24", "gateway": "10.77.0.2"}, {"destination": "10.0.0.0/8", "gateway": "10.77.0.3"}],
        )
        self.assertEqual(table["option"], [{"code": 67, "text": "pxelinux.0"}, {"code": 66, "text": "tftp.example"}])
        self.assertIn(121, dict(subnet.options))
        self.assertEqual(sorted(lines(conversion)), [3, 6])

    def test_range_without_netmask_or_interface(self):
        conversion = convert(ConfigSource.DNSMASQ, "dhcp-range=10.5.0.10,10.5.0.20\n", "f", LOCAL)
        self.assertEqual(conversion.document, {})
        self.assertIn("no netmask", lines(conversion)[1])


class IscDhcpdTests(SynchronousTestCase):
    def test_subnets_inherit_as_dhcpd(self):
        conversion = convert(ConfigSource.ISC_DHCPD, DHCPD, "f", LOCAL)
        subnets = validated(conversion)
        self.assertEqual(sorted(subnets), ["10.77.0.0/16", "10.88.0.0/24"])
        first, second = conversion.document["server"]["subnet"]
        self.assertEqual(
            {k: first[k] for k in ("interface", "pool", "lease_time", "max_lease_time", "router", "dns_servers", "domain_name", "mtu", "authoritative")},
            {"interface": "srv0", "pool": ["10.77.0.100-10.77.0.199"], "lease_time": 600, "max_lease_time": 7200,
             "router": ["10.77.0.1"], "dns_servers": ["10.77.0.53", "10.77.0.54"], "domain_name": "example.org", "mtu": 1400,
             "authoritative": True},
        )
        self.assertEqual(first["reservation"], [{"mac": "02:00:00:00:00:09", "hostname": "printer", "address": "10.77.0.9"}])
        # The shared network's domain wins over the global one; no local interface: relayed.
        self.assertEqual((second["domain_name"], second["router"], second["server_address"]), ("campus.example.org", ["10.88.0.1"], "10.77.0.1"))
        self.assertEqual(second["reservation"], [{"mac": "02:00:00:00:00:0a", "address": "10.88.0.5"}])
        self.assertNotIn("ntp_servers", second)

    def test_warnings(self):
        warned = lines(convert(ConfigSource.ISC_DHCPD, DHCPD, "f", LOCAL))
        self.assertEqual(sorted(warned), [6, 15, 17, 20, 22])
        self.assertIn("log-facility", warned[6])
        self.assertIn("relayed", warned[15])
        self.assertIn("option ntp-servers for one pool only", warned[17])
        self.assertIn("no dynamic range", warned[20])
        self.assertIn("without a fixed-address", warned[22])

    def test_shared_network_pool(self):
        """
        A pool at shared-network level (dhcpd.conf(5)'s own example) serves
        the subnet of the network that holds its range.
        """
        text = (
            "shared-network 224-29 {\n"
            "  subnet 10.17.224.0 netmask 255.255.255.0 { option routers 10.17.224.1; }\n"
            "  subnet 10.0.29.0 netmask 255.255.255.0 { option routers 10.0.29.1; }\n"
            "  pool { allow members of \"foo\"; range 10.17.224.10 10.17.224.250; }\n"
            "  pool { range 10.0.29.10 10.0.29.230; }\n"
            "}\n"
        )
        conversion = convert(ConfigSource.ISC_DHCPD, text, "f", [], IPv4Address("10.5.5.1"))
        subnets = validated(conversion)
        self.assertEqual({name: [f"{p.first}-{p.last}" for p in s.pools] for name, s in subnets.items()},
                         {"10.17.224.0/24": ["10.17.224.10-10.17.224.250"], "10.0.29.0/24": ["10.0.29.10-10.0.29.230"]})
        self.assertIn("allow members of foo", lines(conversion)[4])

    def test_dhcpd_defaults_written_out(self):
        conversion = convert(ConfigSource.ISC_DHCPD, "subnet 10.77.0.0 netmask 255.255.0.0 { range 10.77.0.100 10.77.0.110; }\n", "f", LOCAL)
        table = conversion.document["server"]["subnet"][0]
        self.assertEqual((table["lease_time"], table["max_lease_time"], table["authoritative"]), (43200, 86400, False))
        validated(conversion)

    def test_relayed_subnet_needs_an_identifier(self):
        text = "subnet 10.88.0.0 netmask 255.255.255.0 { range 10.88.0.10 10.88.0.20; }\n"
        self.assertEqual(convert(ConfigSource.ISC_DHCPD, text, "f", []).document, {})
        with_id = convert(ConfigSource.ISC_DHCPD, text, "f", [], IPv4Address("192.0.2.1"))
        self.assertEqual(with_id.document["server"]["subnet"][0]["server_address"], "192.0.2.1")
        named = convert(ConfigSource.ISC_DHCPD, text.replace("{", "{ server-identifier 192.0.2.7;"), "f", [])
        self.assertEqual(named.document["server"]["subnet"][0]["server_address"], "192.0.2.7")

    def test_syntax_error_names_line(self):
        with self.assertRaises(InputError) as e:
            convert(ConfigSource.ISC_DHCPD, "subnet 10.0.0.0 netmask 255.0.0.0 {\n  range 10.0.0.1 10.0.0.2\n}\n", "f", LOCAL)
        self.assertTrue(str(e.exception).startswith("f:2: missing ';'"))


class MainTests(SynchronousTestCase):
    def run_main(self, text: str, *args: str) -> tuple[int, str, str]:
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        os.write(fd, text.encode())
        os.close(fd)
        out, err = io.StringIO(), io.StringIO()
        self.patch(convert_module.sys, "stdout", out)
        self.patch(convert_module.sys, "stderr", err)
        code = convert_module.main([*args, path])
        return code, out.getvalue(), err.getvalue().replace(path, "F")

    def test_stdout_is_valid_toml_stderr_warnings(self):
        code, out, err = self.run_main(DNSMASQ, "--from", "dnsmasq", "--local", "srv0=10.77.0.1/16")
        self.assertEqual(code, 0)
        parse_config_text(out)
        self.assertIn("dhcpsuite-convert: warning: F:15: 'log-dhcp' is not carried over", err)

    def test_syntax_error_exit_2(self):
        code, out, err = self.run_main("subnet 10.0.0.0 netmask 255.0.0.0 {\n", "--from", "isc-dhcpd", "--local", "srv0=10.0.0.1/8")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("F:1: this '{' is never closed", err)

    def test_nothing_converted_exit_1(self):
        code, out, err = self.run_main("log-dhcp\n", "--from", "dnsmasq", "--local", "srv0=10.0.0.1/8")
        self.assertEqual((code, out), (1, ""))


class RefusedValuesTests(SynchronousTestCase):
    """
    A value our parser would refuse never reaches the output: it is left
    out with a warning naming the line it came from, and the rest of the
    subnet is kept.
    """

    CASES = (
        (ConfigSource.ISC_DHCPD, "option interface-mtu abc;\nsubnet 10.77.0.0 netmask 255.255.0.0 { range 10.77.0.5 10.77.0.9; }", 1, "interface-mtu 'abc'"),
        (ConfigSource.ISC_DHCPD, "option interface-mtu 20;\nsubnet 10.77.0.0 netmask 255.255.0.0 { range 10.77.0.5 10.77.0.9; }", 1, "mtu: 20 is less than 68"),
        (ConfigSource.ISC_DHCPD, "subnet 10.77.0.0 netmask 255.255.0.0 {\n range 10.77.0.5 10.77.0.9;\n"
         " host a { hardware ethernet 02:00:00:00:00:01; option dhcp-client-identifier zz; fixed-address 10.77.0.7; } }", 3, "'zz' is not hex"),
        (ConfigSource.ISC_DHCPD, "subnet 10.77.0.0 netmask 255.255.0.0 {\n range 10.77.0.0 10.77.0.9;\n range 10.77.0.20 10.77.0.29; }", 2, "network address"),
        (ConfigSource.ISC_DHCPD, "subnet 10.77.0.0 netmask 255.255.0.0 { range 10.77.0.5 10.77.0.9;\n"
         " host a { hardware ethernet 02:00:00:00:00:01; fixed-address 10.77.0.7; }\n"
         " host b { hardware ethernet 02:00:00:00:00:01; fixed-address 10.77.0.8; } }", 3, "already reserved"),
        (ConfigSource.ISC_DHCPD, "default-lease-time 0;\nsubnet 10.77.0.0 netmask 255.255.0.0 { range 10.77.0.5 10.77.0.9; }", 1, "lease_time: 0"),
        (ConfigSource.DNSMASQ, "dhcp-range=10.77.0.5,10.77.0.9\ndhcp-option=26,20", 2, "mtu: 20"),
        (ConfigSource.DNSMASQ, "dhcp-range=10.77.0.5,10.77.0.9\n\ndhcp-option=255,1.2.3.4\ndhcp-option=53,1.2.3.4", 3, "255 is more than 254"),
        (ConfigSource.DNSMASQ, "dhcp-range=10.77.0.5,10.77.0.9\ndhcp-range=10.77.0.0,10.77.0.3", 2, "network address"),
    )

    def test_refused_values_left_out(self):
        for source, text, line, problem in self.CASES:
            conversion = convert(source, text, "f", LOCAL)
            subnets = validated(conversion)
            self.assertEqual(list(subnets), ["10.77.0.0/16"], text)
            self.assertIn(problem, lines(conversion).get(line, ""), (text, conversion.warnings))

    def test_unusable_subnets_left_out(self):
        for source, text, problem in (
            (ConfigSource.DNSMASQ, "dhcp-range=10.77.0.5,10.77.0.9,255.0.255.0", "not a netmask"),
            (ConfigSource.DNSMASQ, "dhcp-range=10.77.0.9,10.77.0.5", "no usable range"),
            (ConfigSource.ISC_DHCPD, "subnet 10.77.0.0 netmask 255.255.0.0 { range 10.77.0.5 10.77.0.9; }\n"
             "subnet 10.77.1.0 netmask 255.255.255.0 { range 10.77.1.5 10.77.1.9; }", "overlap"),
        ):
            conversion = convert(source, text, "f", LOCAL)
            self.assertTrue(any(problem in w.message for w in conversion.warnings), conversion.warnings)
            if conversion.document:
                validated(conversion)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(DHCPD_WORDS), max_size=60))
    def test_any_dhcpd_text(self, words):
        """
        Any sequence of dhcpd.conf words: an InputError naming the line, or
        an output our parser accepts.
        """
        self.converts_or_names_line(ConfigSource.ISC_DHCPD, " ".join(words))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.lists(st.sampled_from(DNSMASQ_WORDS), max_size=8).map("".join), max_size=8))
    def test_any_dnsmasq_text(self, lines_):
        self.converts_or_names_line(ConfigSource.DNSMASQ, "\n".join(lines_))

    def converts_or_names_line(self, source, text):
        try:
            conversion = convert(source, text, "f", LOCAL)
        except InputError as e:
            self.assertRegex(str(e), r"^f:\d+: ")
            return
        if conversion.document:
            validated(conversion)
