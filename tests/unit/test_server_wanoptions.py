"""
Subnet options fed by the WAN lease (L{dhcpsuite.server.wanoptions}):
parsed from C{wan:INTERFACE} entries, computed when the lease registry
changes, served in the next reply.

The model is RDK-B's DHCP Manager, which rewrites the LAN server's (dnsmasq)
configuration with the WAN lease's DNS servers and domain and restarts it;
dnsmasq itself, with C{dhcp-option=6,0.0.0.0}, hands out its own address
and forwards to the upstream servers from C{resolv.conf} instead.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.core.lease import Lease as ClientLease
from dhcpsuite.config import ConfigError, parse_config_text
from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.dhcp4.options import encode_value
from dhcpsuite.dhcp4.packet import Message, decode_message
from dhcpsuite.leases.registry import LeaseRegistry
from dhcpsuite.server.wanoptions import WanOption, WanSource, option_block, wan_values
from tests.unit.test_ingest_pluginmsg import v4_lease
from tests.unit.test_server_decide import request
from tests.unit.test_server_service import ClosingStore, ServiceTestsBase

A = IPv4Address
DNS = int(Option.DOMAIN_NAME_SERVER)
NTP = int(Option.NTP_SERVERS)
DOMAIN = int(Option.DOMAIN_NAME)

SUBNET = """
[server]
lease_store = "memory"
[[server.subnet]]
subnet = "192.168.1.0/24"
interface = "eth0"
pool = "192.168.1.100-192.168.1.199"
{keys}
"""


def subnet(keys: str):
    return parse_config_text(SUBNET.format(keys=keys)).section("server").subnets[0]


def client_lease(**options) -> ClientLease:
    ack = Message(op=2, xid=1, chaddr=bytes(16))
    ack.options[int(Option.MESSAGE_TYPE)] = bytes((MessageType.ACK,))
    for code, raw in options.items():
        ack.options[int(Option[code])] = raw
    # As the client holds it: through the codec.
    return ClientLease(A("203.0.113.5"), A("203.0.113.1"), 3600, 1800.0, 3150.0, 0.0, 0.0,
                       decode_message(ack.to_bytes()))


class ConfigTests(SynchronousTestCase):
    def test_wan_entries_are_kept_apart(self) -> None:
        s = subnet('dns_servers = ["wan:erouter0", "192.168.1.1"]\ndomain_name = "wan:erouter0"\n'
                   'ntp_servers = ["192.168.1.1"]\nwan_fallback_dns_servers = ["9.9.9.9"]')
        self.assertEqual(
            s.wan_options,
            (WanOption(DNS, (WanSource("erouter0"), A("192.168.1.1")), (A("9.9.9.9"),)),
             WanOption(DOMAIN, (WanSource("erouter0"),), ())),
        )
        codes = [code for code, _ in s.options]
        self.assertNotIn(DNS, codes)
        self.assertNotIn(DOMAIN, codes)
        self.assertIn((NTP, A("192.168.1.1").packed), s.options)

    def test_static_as_before(self) -> None:
        s = subnet('dns_servers = ["192.168.1.1"]\ndomain_name = "home.arpa"')
        self.assertEqual(s.wan_options, ())
        self.assertIn((DNS, A("192.168.1.1").packed), s.options)
        self.assertIn((DOMAIN, b"home.arpa"), s.options)

    def test_errors_name_the_key(self) -> None:
        for keys, path in (
            ('dns_servers = ["wan:erouter0", "192.168.1.300"]', "server.subnet[0].dns_servers[1]"),
            ('dns_servers = ["wan:"]', "server.subnet[0].dns_servers[0]"),
            ('ntp_servers = ["192.168.1.1"]\nwan_fallback_ntp_servers = ["192.168.1.2"]',
             "server.subnet[0].wan_fallback_ntp_servers"),
            ('router = ["wan:erouter0"]', "server.subnet[0].router[0]"),
        ):
            with self.subTest(keys=keys):
                with self.assertRaises(ConfigError) as caught:
                    subnet(keys)
                self.assertEqual(caught.exception.path, path)


class OptionBlockTests(SynchronousTestCase):
    def block(self, keys: str, leases: dict) -> dict:
        s = subnet(keys)
        return dict(option_block(s.options, s.wan_options, leases.get))

    def test_from_an_ingested_lease(self) -> None:
        lease = v4_lease(dns_servers=(A("8.8.8.8"), A("192.168.1.1")), domain_name="isp.example")
        block = self.block('dns_servers = ["wan:erouter0", "192.168.1.1"]\ndomain_name = "wan:erouter0"',
                           {"erouter0": lease})
        self.assertEqual(block[DNS], encode_value(DNS, [A("8.8.8.8"), A("192.168.1.1")]))
        self.assertEqual(block[DOMAIN], b"isp.example")

    def test_from_our_clients_lease(self) -> None:
        lease = client_lease(DOMAIN_NAME_SERVER=A("10.88.0.53").packed, NTP_SERVERS=A("10.88.0.123").packed,
                             DOMAIN_NAME=b"wan.example")
        block = self.block('dns_servers = "wan:wan0"\nntp_servers = "wan:wan0"\ndomain_name = "wan:wan0"',
                           {"wan0": lease})
        self.assertEqual((block[DNS], block[NTP], block[DOMAIN]),
                         (A("10.88.0.53").packed, A("10.88.0.123").packed, b"wan.example"))

    def test_no_lease_serves_the_fallback_or_the_static_entries(self) -> None:
        block = self.block('dns_servers = ["wan:erouter0", "192.168.1.1"]\nwan_fallback_dns_servers = ["9.9.9.9"]\n'
                           'domain_name = "wan:erouter0"', {})
        self.assertEqual(block[DNS], encode_value(DNS, [A("9.9.9.9"), A("192.168.1.1")]))
        self.assertNotIn(DOMAIN, block)
        self.assertNotIn(DNS, self.block('dns_servers = ["wan:erouter0"]', {}))

    def test_network_values_are_checked(self) -> None:
        """
        What the WAN server sent is not trusted: unusable addresses and a
        domain that is not a name (a shell or HTML payload) are dropped.
        """
        lease = client_lease(DOMAIN_NAME_SERVER=A("0.0.0.0").packed + A("224.0.0.1").packed + A("10.88.0.53").packed,
                             DOMAIN_NAME=b"x;rm -rf /")
        self.assertEqual(wan_values(lease).dns_servers, (A("10.88.0.53"),))
        self.assertEqual(wan_values(lease).domain_name, "")
        truncated = client_lease(DOMAIN_NAME_SERVER=b"\x0a\x58\x00")
        self.assertEqual(wan_values(truncated).dns_servers, ())
        self.assertEqual(wan_values(object()).dns_servers, ())


class ServerFollowsTheWanTests(ServiceTestsBase):
    """
    New offers carry the WAN lease's values as soon as the registry has
    them; nothing is recomputed per packet.
    """

    KEYS = ('dns_servers = ["wan:erouter0", "192.168.1.1"]\nwan_fallback_dns_servers = ["9.9.9.9"]\n'
            'domain_name = "wan:erouter0"')

    def setUp(self) -> None:
        super().setUp()
        self.addresses["eth0"] = A("192.168.1.1")
        self.registry = LeaseRegistry()
        config = parse_config_text(SUBNET.format(keys=self.KEYS)).section("server")
        self.server = self.make_service(config, registry=self.registry)
        self.server.startService()
        self.addCleanup(self.server.stopService)

    def offer(self, n: int = 1):
        outcome = self.server.core.handle(request(MessageType.DISCOVER, n), "eth0", now=self.reactor.seconds())
        return outcome.reply.message.options

    def test_follows_the_lease(self) -> None:
        self.assertEqual(self.offer()[DNS], encode_value(DNS, [A("9.9.9.9"), A("192.168.1.1")]))
        self.registry.set_lease("erouter0", 4, v4_lease(dns_servers=(A("198.51.100.1"),), domain_name="a.example"),
                                "updated")
        options = self.offer(2)
        self.assertEqual(options[DNS], encode_value(DNS, [A("198.51.100.1"), A("192.168.1.1")]))
        self.assertEqual(options[DOMAIN], b"a.example")
        self.registry.set_lease("erouter0", 4, v4_lease(dns_servers=(A("198.51.100.2"),)), "updated")
        self.assertEqual(self.offer(3)[DNS], encode_value(DNS, [A("198.51.100.2"), A("192.168.1.1")]))
        self.registry.clear_lease("erouter0", 4, "expired")
        self.assertEqual(self.offer(4)[DNS], encode_value(DNS, [A("9.9.9.9"), A("192.168.1.1")]))
        self.assertNotIn(DOMAIN, self.offer(5))

    def test_other_interfaces_and_v6_do_not_recompute(self) -> None:
        blocks = []
        feed = self.server._wan_feed
        apply = feed.apply
        feed.apply = lambda subnet, options: (blocks.append(options), apply(subnet, options))
        self.registry.set_lease("wan7", 4, v4_lease(ifname="wan7"), "updated")
        self.registry.set_lease("erouter0", 6, object(), "updated")
        self.assertEqual(blocks, [])
        self.registry.set_lease("erouter0", 4, v4_lease(), "updated")
        self.assertEqual(len(blocks), 1)

    def test_stop_stops_listening(self) -> None:
        self.server.stopService()
        self.assertEqual(self.registry._listeners, [])

    def test_reload_keeps_following(self) -> None:
        self.registry.set_lease("erouter0", 4, v4_lease(dns_servers=(A("198.51.100.1"),)), "updated")
        keys = self.KEYS.replace('"192.168.1.1"]', '"192.168.1.2"]')
        self.server.prepare_reconfigure(parse_config_text(SUBNET.format(keys=keys)).section("server"))()
        self.assertEqual(self.offer()[DNS], encode_value(DNS, [A("198.51.100.1"), A("192.168.1.2")]))
        self.registry.set_lease("erouter0", 4, v4_lease(dns_servers=(A("198.51.100.3"),)), "updated")
        self.assertEqual(self.offer(2)[DNS], encode_value(DNS, [A("198.51.100.3"), A("192.168.1.2")]))
        self.assertEqual(len(self.registry._listeners), 1)


class WithoutRegistryTests(ServiceTestsBase):
    def test_fallback_and_a_warning(self) -> None:
        """
        No [client] and no [ingest]: nothing can ever fill the registry, so
        the fallback is served and the operator is told once.
        """
        from twisted.logger import globalLogPublisher

        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.addresses["eth0"] = A("192.168.1.1")
        server = self.make_service(parse_config_text(SUBNET.format(keys=ServerFollowsTheWanTests.KEYS)).section("server"))
        server.startService()
        self.addCleanup(server.stopService)
        outcome = server.core.handle(request(MessageType.DISCOVER, 1), "eth0", now=self.reactor.seconds())
        self.assertEqual(outcome.reply.message.options[DNS], encode_value(DNS, [A("9.9.9.9"), A("192.168.1.1")]))
        warnings = [e for e in events if "neither [client] nor [ingest]" in e.get("log_format", "")]
        self.assertEqual(len(warnings), 1)
