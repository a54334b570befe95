"""
Tests for L{dhcpsuite.server.config}: the [server] section, with every error
naming its key path.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import ConfigError, parse_config_text
from dhcpsuite.dhcp4.options import ClasslessRoute, decode_classless_routes
from dhcpsuite.server.config import (
    AddressRange,
    Reservation,
    ServerConfig,
    parse_mac,
    parse_range,
)

A = IPv4Address

SUBNET = """
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "eth0"
pool = ["10.0.0.10-10.0.0.20"]
"""


def server(text: str, server_keys: str = "") -> ServerConfig:
    return parse_config_text("[server]\n" + server_keys + "\n" + text).section("server")


def subnet(extra: str = "", **replace: str):
    text = SUBNET + extra
    for old, new in replace.items():
        text = text.replace(old, new)
    return server(text).subnets[0]


class ServerSectionTests(SynchronousTestCase):
    def error(self, text: str, server_keys: str = "") -> str:
        return str(self.assertRaises(ConfigError, server, text, server_keys))

    def test_minimal(self) -> None:
        s = subnet()
        self.assertEqual(s.network, IPv4Network("10.0.0.0/24"))
        self.assertEqual(s.pools, (AddressRange(A("10.0.0.10"), A("10.0.0.20")),))
        self.assertEqual(s.interface, "eth0")
        self.assertIsNone(s.server_address)
        self.assertEqual((s.lease_time, s.min_lease_time, s.max_lease_time), (3600, 60, 86400))
        self.assertEqual((s.renewal_time, s.rebinding_time), (None, None))
        self.assertTrue(s.authoritative)
        self.assertFalse(s.rapid_commit)
        self.assertEqual(s.name, "10.0.0.0/24")
        # The subnet mask and broadcast address are always there.
        self.assertEqual(dict(s.options), {1: b"\xff\xff\xff\x00", 28: b"\x0a\x00\x00\xff"})

    def test_server_defaults(self) -> None:
        config = server(SUBNET)
        self.assertEqual(config.lease_store, "sqlite")
        self.assertEqual(config.listen, ())
        self.assertTrue(config.log_exchanges)
        self.assertEqual(config.reclaim_interval, 60.0)
        self.assertEqual(config.interfaces, ("eth0",))

    def test_server_keys(self) -> None:
        config = server(SUBNET, 'lease_store = "memory"\nlisten = ["relay0", "eth0"]\nlog_exchanges = false\nreclaim_interval = 5')
        self.assertEqual(config.lease_store, "memory")
        self.assertEqual(config.listen, ("relay0", "eth0"))
        self.assertFalse(config.log_exchanges)
        self.assertEqual(config.reclaim_interval, 5.0)
        self.assertEqual(config.interfaces, ("eth0", "relay0"))

    def test_relay_trust_and_binding_limits(self) -> None:
        defaults = server(SUBNET)
        self.assertEqual((defaults.trusted_relays, defaults.max_bindings_per_mac), ((), 4))
        # A quarter of the pool's 11 addresses.
        self.assertEqual((defaults.subnets[0].max_declined, defaults.subnets[0].effective_max_declined), (None, 2))
        config = server(SUBNET + "max_declined = 5\n", 'trusted_relays = ["10.1.0.1", "10.2.0.0/16"]\nmax_bindings_per_mac = 0')
        self.assertEqual(config.trusted_relays, (IPv4Network("10.1.0.1/32"), IPv4Network("10.2.0.0/16")))
        self.assertEqual(config.max_bindings_per_mac, 0)
        self.assertEqual(config.subnets[0].effective_max_declined, 5)

    def test_bad_relay_trust_and_binding_limits(self) -> None:
        self.assertIn("server.trusted_relays[1]", self.error(SUBNET, 'trusted_relays = ["10.1.0.1", "10.2.0.1/16"]'))
        self.assertEqual(self.error(SUBNET, "max_bindings_per_mac = -1"), "server.max_bindings_per_mac: -1 is less than 0")
        self.assertEqual(self.error(SUBNET + "max_declined = 0\n"), "server.subnet[0].max_declined: 0 is less than 1")

    def test_max_pending_acks(self) -> None:
        self.assertEqual(server(SUBNET).max_pending_acks, 512)
        self.assertEqual(server(SUBNET, "max_pending_acks = 0").max_pending_acks, 0)
        self.assertEqual(self.error(SUBNET, "max_pending_acks = -1"), "server.max_pending_acks: -1 is less than 0")
        self.assertEqual((server(SUBNET).max_queue_wait, server(SUBNET, "max_queue_wait = 0.1").max_queue_wait), (0.5, 0.1))
        self.assertEqual(self.error(SUBNET, "max_queue_wait = -1"), "server.max_queue_wait: -1 is less than 0")

    def test_bad_lease_store(self) -> None:
        self.assertEqual(self.error(SUBNET, 'lease_store = "postgres"'), "server.lease_store: 'postgres' is not one of sqlite, memory, postgresql")

    def test_reclaim_interval_minimum(self) -> None:
        self.assertEqual(self.error(SUBNET, "reclaim_interval = 0.5"), "server.reclaim_interval: 0.5 is less than 1")

    def test_no_subnet(self) -> None:
        self.assertEqual(self.error(""), "server.subnet: at least one [[server.subnet]] is required")

    def test_all_options(self) -> None:
        s = subnet(
            'server_address = "10.0.0.1"\nrouter = ["10.0.0.1"]\ndns_servers = ["10.0.0.2", "10.0.0.3"]\n'
            'ntp_servers = "10.0.0.4"\ndomain_name = "lan"\nbroadcast_address = "10.0.0.254"\nmtu = 1400\n'
            "lease_time = 600\nmin_lease_time = 300\nmax_lease_time = 900\nrenewal_time = 200\nrebinding_time = 400\n"
            "authoritative = false\nmax_leases = 5\noffer_hold_time = 3\ndecline_probation_time = 0\nrapid_commit = true\n"
        )
        self.assertEqual(s.server_address, A("10.0.0.1"))
        self.assertEqual(
            list(s.options),
            [
                (1, b"\xff\xff\xff\x00"),
                (3, b"\x0a\x00\x00\x01"),
                (6, b"\x0a\x00\x00\x02\x0a\x00\x00\x03"),
                (42, b"\x0a\x00\x00\x04"),
                (15, b"lan"),
                (28, b"\x0a\x00\x00\xfe"),
                (26, b"\x05\x78"),
            ],
        )
        self.assertEqual((s.lease_time, s.min_lease_time, s.max_lease_time), (600, 300, 900))
        self.assertEqual((s.renewal_time, s.rebinding_time), (200, 400))
        self.assertFalse(s.authoritative)
        self.assertEqual(s.max_leases, 5)
        self.assertEqual((s.offer_hold_time, s.decline_probation_time), (3.0, 0.0))
        self.assertTrue(s.rapid_commit)

    def test_lease_time_widens_defaults(self) -> None:
        s = subnet("lease_time = 30")
        self.assertEqual((s.min_lease_time, s.max_lease_time), (30, 86400))
        s = subnet("lease_time = 100000")
        self.assertEqual((s.min_lease_time, s.max_lease_time), (60, 100000))

    def test_classless_routes(self) -> None:
        s = subnet(
            '[[server.subnet.classless_route]]\ndestination = "0.0.0.0/0"\ngateway = "10.0.0.1"\n'
            '[[server.subnet.classless_route]]\ndestination = "10.99.0.0/16"\ngateway = "10.0.0.254"\n'
        )
        raw = dict(s.options)[121]
        self.assertEqual(
            decode_classless_routes(raw),
            [
                ClasslessRoute(IPv4Network("0.0.0.0/0"), A("10.0.0.1")),
                ClasslessRoute(IPv4Network("10.99.0.0/16"), A("10.0.0.254")),
            ],
        )

    def test_relayed_only_subnet(self) -> None:
        config = server(
            SUBNET + '[[server.subnet]]\nsubnet = "10.1.0.0/24"\nserver_address = "10.0.0.1"\npool = "10.1.0.10-10.1.0.20"\n'
        )
        self.assertIsNone(config.subnets[1].interface)
        self.assertEqual(config.subnets[1].server_address, A("10.0.0.1"))
        self.assertEqual(config.interfaces, ("eth0",))


class SubnetErrorTests(SynchronousTestCase):
    def error(self, extra: str = "", **replace: str) -> str:
        message = str(self.assertRaises(ConfigError, subnet, extra, **replace))
        self.assertNotIn("\n", message)
        return message

    def test_bad_pool_range_names_index(self) -> None:
        message = self.error(**{'pool = ["10.0.0.10-10.0.0.20"]': 'pool = ["10.0.0.10-10.0.0.20", "10.0.0.300-10.0.0.310"]'})
        self.assertTrue(
            message.startswith("server.subnet[0].pool[1]: '10.0.0.300-10.0.0.310' is not an address range"), message
        )
        self.assertIn("10.0.0.300 is not an IPv4 address", message)

    def test_pool_without_dash(self) -> None:
        self.assertIn("server.subnet[0].pool[0]: '10.0.0.10' is not an address range", self.error(**{"10.0.0.10-10.0.0.20": "10.0.0.10"}))

    def test_pool_backwards(self) -> None:
        self.assertIn("the last address is before the first", self.error(**{"10.0.0.10-10.0.0.20": "10.0.0.20-10.0.0.10"}))

    def test_pool_outside_subnet(self) -> None:
        self.assertEqual(
            self.error(**{'pool = ["10.0.0.10-10.0.0.20"]': 'pool = ["10.0.0.10-10.0.0.20", "10.0.0.250-10.0.1.5"]'}),
            "server.subnet[0].pool[1]: 10.0.0.250-10.0.1.5 is not inside 10.0.0.0/24",
        )

    def test_empty_pool(self) -> None:
        self.assertEqual(self.error(**{'pool = ["10.0.0.10-10.0.0.20"]': "pool = []"}), "server.subnet[0].pool: at least one range is required")

    def test_missing_pool(self) -> None:
        self.assertEqual(self.error(**{'pool = ["10.0.0.10-10.0.0.20"]': ""}), "server.subnet[0].pool: is required")

    def test_bad_network(self) -> None:
        self.assertIn("server.subnet[0].subnet: '10.0.0.1/24' is not an IPv4 network", self.error(**{"10.0.0.0/24": "10.0.0.1/24"}))

    def test_missing_network(self) -> None:
        self.assertEqual(self.error(**{'subnet = "10.0.0.0/24"': ""}), "server.subnet[0].subnet: is required")

    def test_relayed_only_needs_server_address(self) -> None:
        self.assertEqual(
            self.error(**{'interface = "eth0"': ""}),
            "server.subnet[0].server_address: is required for a relayed-only subnet (one without 'interface')",
        )

    def test_string_for_integer(self) -> None:
        self.assertEqual(self.error('lease_time = "3600"'), "server.subnet[0].lease_time: must be an integer, not a string")

    def test_boolean_for_integer(self) -> None:
        self.assertEqual(self.error("max_leases = true"), "server.subnet[0].max_leases: must be an integer, not a boolean")

    def test_integer_for_boolean(self) -> None:
        self.assertEqual(self.error("rapid_commit = 1"), "server.subnet[0].rapid_commit: must be true or false, not an integer")

    def test_lease_time_below_min(self) -> None:
        self.assertEqual(
            self.error("lease_time = 100\nmin_lease_time = 200"),
            "server.subnet[0].lease_time: 100 is not between min_lease_time and max_lease_time",
        )

    def test_lease_time_above_max(self) -> None:
        self.assertEqual(
            self.error("lease_time = 1000\nmax_lease_time = 500"),
            "server.subnet[0].lease_time: 1000 is not between min_lease_time and max_lease_time",
        )

    def test_lease_time_zero(self) -> None:
        self.assertEqual(self.error("lease_time = 0"), "server.subnet[0].lease_time: 0 is less than 1")

    def test_t1_not_less_than_t2(self) -> None:
        for t1, t2 in ((500, 400), (400, 400)):
            with self.subTest(t1=t1, t2=t2):
                self.assertEqual(
                    self.error(f"renewal_time = {t1}\nrebinding_time = {t2}"),
                    "server.subnet[0].renewal_time: must be less than rebinding_time",
                )

    def test_mtu_bounds(self) -> None:
        self.assertEqual(self.error("mtu = 67"), "server.subnet[0].mtu: 67 is less than 68")
        self.assertEqual(self.error("mtu = 65536"), "server.subnet[0].mtu: 65536 is more than 65535")

    def test_bad_router(self) -> None:
        self.assertTrue(self.error('router = ["10.0.0.1", "router"]').startswith("server.subnet[0].router[1]: 'router' is not an IPv4 address"))

    def test_bad_classless_route(self) -> None:
        message = self.error('[[server.subnet.classless_route]]\ndestination = "10.0.0.1/8"\ngateway = "10.0.0.1"\n')
        self.assertTrue(message.startswith("server.subnet[0].classless_route[0].destination: '10.0.0.1/8' is not an IPv4 network"))

    def test_classless_route_unknown_key(self) -> None:
        self.assertEqual(
            self.error('[[server.subnet.classless_route]]\ndestination = "10.0.0.0/8"\ngateway = "10.0.0.1"\nmetric = 5\n'),
            "server.subnet[0].classless_route[0].metric: is not a known key here",
        )

    def test_classless_route_missing_gateway(self) -> None:
        self.assertEqual(
            self.error('[[server.subnet.classless_route]]\ndestination = "10.0.0.0/8"\n'),
            "server.subnet[0].classless_route[0].gateway: is required",
        )

    def test_overlapping_subnets(self) -> None:
        text = SUBNET + SUBNET.replace("10.0.0.0/24", "10.0.0.0/16").replace("eth0", "eth1")
        self.assertEqual(
            str(self.assertRaises(ConfigError, server, text)),
            "server.subnet: subnets 10.0.0.0/24 and 10.0.0.0/16 overlap",
        )

    def test_second_subnet_error_names_index(self) -> None:
        text = SUBNET + SUBNET.replace("10.0.0.", "10.0.1.").replace('"eth0"', "5")
        self.assertEqual(
            str(self.assertRaises(ConfigError, server, text)),
            "server.subnet[1].interface: must be a string, not an integer",
        )


class ExtraOptionTests(SynchronousTestCase):
    def option(self, body: str) -> tuple[int, bytes]:
        return subnet("[[server.subnet.option]]\n" + body).options[-1]

    def error(self, body: str) -> str:
        return str(self.assertRaises(ConfigError, subnet, "[[server.subnet.option]]\n" + body))

    def test_each_kind(self) -> None:
        self.assertEqual(self.option('code = 43\nhex = "01:02:0a"'), (43, b"\x01\x02\x0a"))
        self.assertEqual(self.option('code = 43\nhex = "01 02-0a0b"'), (43, b"\x01\x02\x0a\x0b"))
        self.assertEqual(self.option('code = 66\ntext = "tftp.lan"'), (66, b"tftp.lan"))
        self.assertEqual(self.option('code = 150\nip = ["10.0.0.1", "10.0.0.2"]'), (150, b"\x0a\x00\x00\x01\x0a\x00\x00\x02"))
        self.assertEqual(self.option('code = 150\nip = "10.0.0.1"'), (150, b"\x0a\x00\x00\x01"))
        self.assertEqual(self.option("code = 23\nu8 = 64"), (23, b"\x40"))
        self.assertEqual(self.option("code = 26\nu16 = 1500"), (26, b"\x05\xdc"))
        self.assertEqual(self.option("code = 2\nu32 = 4294967295"), (2, b"\xff\xff\xff\xff"))

    def test_several_in_order(self) -> None:
        s = subnet('[[server.subnet.option]]\ncode = 200\nu8 = 1\n[[server.subnet.option]]\ncode = 201\nu8 = 2\n')
        self.assertEqual(list(s.options)[-2:], [(200, b"\x01"), (201, b"\x02")])

    def test_no_kind(self) -> None:
        self.assertEqual(
            self.error("code = 200"),
            "server.subnet[0].option[0].code: option 200 needs exactly one of hex, text, ip, u8, u16, u32",
        )

    def test_two_kinds(self) -> None:
        self.assertEqual(
            self.error('code = 200\nu8 = 1\ntext = "x"'),
            "server.subnet[0].option[0].code: option 200 needs exactly one of hex, text, ip, u8, u16, u32",
        )

    def test_missing_code(self) -> None:
        self.assertEqual(self.error("u8 = 1"), "server.subnet[0].option[0].code: is required")

    def test_code_bounds(self) -> None:
        self.assertEqual(self.error("code = 0\nu8 = 1"), "server.subnet[0].option[0].code: 0 is less than 1")
        self.assertEqual(self.error("code = 255\nu8 = 1"), "server.subnet[0].option[0].code: 255 is more than 254")

    def test_server_owned_codes(self) -> None:
        for code in (51, 52, 53, 54, 82):
            with self.subTest(code=code):
                self.assertEqual(
                    self.error(f"code = {code}\nu8 = 1"),
                    f"server.subnet[0].option[0].code: option {code} is set by the server itself",
                )

    def test_value_ranges(self) -> None:
        self.assertEqual(self.error("code = 200\nu8 = 256"), "server.subnet[0].option[0].u8: 256 is more than 255")
        self.assertEqual(self.error("code = 200\nu16 = 65536"), "server.subnet[0].option[0].u16: 65536 is more than 65535")
        self.assertEqual(self.error("code = 200\nu32 = -1"), "server.subnet[0].option[0].u32: -1 is less than 0")

    def test_bad_values(self) -> None:
        self.assertTrue(self.error('code = 200\nhex = "zz"').startswith("server.subnet[0].option[0].hex: 'zz' is not hex bytes"))
        self.assertTrue(self.error('code = 200\nip = ["x"]').startswith("server.subnet[0].option[0].ip[0]: 'x' is not an IPv4 address"))
        self.assertEqual(self.error("code = 200\ntext = 5"), "server.subnet[0].option[0].text: must be a string, not an integer")
        self.assertEqual(self.error('code = 200\nu8 = "1"'), "server.subnet[0].option[0].u8: must be an integer, not a string")

    def test_unknown_key(self) -> None:
        self.assertEqual(self.error("code = 200\nu8 = 1\nname = 'x'"), "server.subnet[0].option[0].name: is not a known key here")


class ReservationTests(SynchronousTestCase):
    def reservations(self, body: str):
        return subnet(body).reservations

    def error(self, body: str) -> str:
        return str(self.assertRaises(ConfigError, subnet, body))

    def test_by_mac_and_client_id(self) -> None:
        found = self.reservations(
            '[[server.subnet.reservation]]\nmac = "02:00:00:00:00:01"\naddress = "10.0.0.5"\nhostname = "a"\n'
            '[[server.subnet.reservation]]\nclient_id = "01:02:00:00:00:00:02"\naddress = "10.0.0.6"\n'
            '[[server.subnet.reservation]]\nmac = "02-00-00-00-00-03"\nhostname = "only-name"\n'
        )
        self.assertEqual(
            found,
            (
                Reservation(A("10.0.0.5"), b"\x02\x00\x00\x00\x00\x01", None, "a"),
                Reservation(A("10.0.0.6"), None, b"\x01\x02\x00\x00\x00\x00\x02", ""),
                Reservation(None, b"\x02\x00\x00\x00\x00\x03", None, "only-name"),
            ),
        )

    def test_outside_subnet(self) -> None:
        self.assertEqual(
            self.error('[[server.subnet.reservation]]\nmac = "02:00:00:00:00:01"\naddress = "10.0.1.5"\n'),
            "server.subnet[0].reservation[0].address: 10.0.1.5 is not inside 10.0.0.0/24",
        )

    def test_duplicate_address(self) -> None:
        self.assertEqual(
            self.error(
                '[[server.subnet.reservation]]\nmac = "02:00:00:00:00:01"\naddress = "10.0.0.5"\n'
                '[[server.subnet.reservation]]\nmac = "02:00:00:00:00:02"\naddress = "10.0.0.5"\n'
            ),
            "server.subnet[0].reservation[1].address: 10.0.0.5 is already reserved by reservation[0]",
        )

    def test_needs_identity(self) -> None:
        self.assertEqual(
            self.error('[[server.subnet.reservation]]\naddress = "10.0.0.5"\n'),
            "server.subnet[0].reservation[0].mac: a reservation needs 'mac' or 'client_id'",
        )

    def test_needs_address_or_hostname(self) -> None:
        self.assertEqual(
            self.error('[[server.subnet.reservation]]\nmac = "02:00:00:00:00:01"\n'),
            "server.subnet[0].reservation[0].address: a reservation needs 'address' and/or 'hostname'",
        )

    def test_bad_mac(self) -> None:
        self.assertTrue(
            self.error('[[server.subnet.reservation]]\nmac = "02:00:00:00:01"\naddress = "10.0.0.5"\n').startswith(
                "server.subnet[0].reservation[0].mac: '02:00:00:00:01' is not a MAC address"
            )
        )

    def test_unknown_key(self) -> None:
        self.assertEqual(
            self.error('[[server.subnet.reservation]]\nmac = "02:00:00:00:00:01"\naddress = "10.0.0.5"\nip = "x"\n'),
            "server.subnet[0].reservation[0].ip: is not a known key here",
        )


class ParserHelperTests(SynchronousTestCase):
    def test_parse_mac(self) -> None:
        self.assertEqual(parse_mac("02:AB:00:00:00:01"), b"\x02\xab\x00\x00\x00\x01")
        for bad in ("02:ab:00:00:00", "02:ab:00:00:00:01:02", "0g:00:00:00:00:00", ""):
            with self.subTest(bad=bad):
                self.assertRaises(ValueError, parse_mac, bad)

    def test_parse_range(self) -> None:
        r = parse_range("10.0.0.1 - 10.0.0.4")
        self.assertEqual(r, AddressRange(A("10.0.0.1"), A("10.0.0.4")))
        self.assertEqual(r.size, 4)
        self.assertIn(A("10.0.0.4"), r)
        self.assertNotIn(A("10.0.0.5"), r)
        self.assertEqual(parse_range("10.0.0.1-10.0.0.1").size, 1)


class SubnetConfigUnknownKeyTests(SynchronousTestCase):
    """
    A misspelt key in a [[server.subnet]] table (C{leas_time = 5}) is a
    ConfigError naming its path, not silently ignored: every sub-table is
    finish()ed, as CONTRIBUTING asks.
    """

    def test_unknown_subnet_key(self) -> None:
        e = self.assertRaises(ConfigError, subnet, "leas_time = 5")
        self.assertEqual(str(e), "server.subnet[0].leas_time: is not a known key here")


class DuplicateReservationTests(SynchronousTestCase):
    """
    Two reservations for the same MAC (or the same client_id) are a
    ConfigError naming the second one's key path, not a silent "last one
    wins" (the exact wording is free; the test checks the key path).
    """

    def test_duplicate_mac(self) -> None:
        e = self.assertRaises(
            ConfigError,
            subnet,
            '[[server.subnet.reservation]]\nmac = "02:00:00:00:00:01"\naddress = "10.0.0.5"\n'
            '[[server.subnet.reservation]]\nmac = "02:00:00:00:00:01"\naddress = "10.0.0.6"\n',
        )
        self.assertTrue(str(e).startswith("server.subnet[0].reservation[1].mac: "), str(e))

    def test_duplicate_client_id(self) -> None:
        e = self.assertRaises(
            ConfigError,
            subnet,
            '[[server.subnet.reservation]]\nclient_id = "01:02"\naddress = "10.0.0.5"\n'
            '[[server.subnet.reservation]]\nclient_id = "01:02"\naddress = "10.0.0.6"\n',
        )
        self.assertTrue(str(e).startswith("server.subnet[0].reservation[1].client_id: "), str(e))
