"""
The server's decisions (RFC 2131 section 4.3), driven with decoded messages,
an in-memory store and a fixed clock: no sockets, no reactor.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import parse_config_text
from dhcpsuite.dhcp4.constants import FLAG_BROADCAST, MessageType, Option
from dhcpsuite.dhcp4.options import encode_relay_agent_info
from dhcpsuite.dhcp4.packet import Message, decode_message
from dhcpsuite.leases.lease import LeaseState
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.decide import ServerCore, client_key
from dhcpsuite.server.destination import BROADCAST

NOW = 1_800_000_000.0
SERVER = IPv4Address("10.0.0.1")

CONFIG = """
[server]
trusted_relays = {trusted_relays}
max_bindings_per_mac = {max_bindings_per_mac}
[[server.subnet]]
subnet = "10.0.0.0/24"
interface = "lan0"
pool = ["10.0.0.10-10.0.0.12"]
lease_time = 600
min_lease_time = 120
max_lease_time = 3600
router = ["10.0.0.1"]
dns_servers = ["10.0.0.2", "10.0.0.3"]
domain_name = "lan"
offer_hold_time = 10
decline_probation_time = 300
authoritative = {authoritative}
rapid_commit = true
max_leases = {max_leases}
[[server.subnet.reservation]]
mac = "02:00:00:00:00:aa"
address = "10.0.0.50"
hostname = "printer"
[[server.subnet.reservation]]
client_id = "ff:00:11:22:33"
address = "10.0.0.51"

[[server.subnet]]
subnet = "192.168.5.0/24"
server_address = "192.168.5.1"
pool = ["192.168.5.100-192.168.5.110"]

[[server.subnet]]
subnet = "10.2.0.0/24"
interface = "lan1"
server_address = "10.2.0.1"
pool = ["10.2.0.10-10.2.0.20"]
"""


def mac(n: int) -> bytes:
    return bytes((2, 0, 0, 0, 0, n))


def request(kind: int, n: int = 1, **fields) -> Message:
    options = fields.pop("options", {})
    m = Message(op=1, xid=0x1000 + n, chaddr=mac(n) + bytes(10), **fields)
    m.options[int(Option.MESSAGE_TYPE)] = bytes((kind,))
    for code, raw in options.items():
        m.options[int(code)] = raw
    # Everything the server sees has been through the codec.
    return decode_message(m.to_bytes())


def ip(text: str) -> bytes:
    return IPv4Address(text).packed


class DecisionTests(SynchronousTestCase):
    authoritative = "true"
    max_leases = 0
    trusted_relays = "[]"
    max_bindings_per_mac = 4

    def setUp(self) -> None:
        config = parse_config_text(
            CONFIG.format(
                authoritative=self.authoritative,
                max_leases=self.max_leases,
                trusted_relays=self.trusted_relays,
                max_bindings_per_mac=self.max_bindings_per_mac,
            )
        )
        self.store = MemoryLeaseStore()
        self.core = ServerCore(config.section("server"), self.store, {"lan0": SERVER}, clock=lambda: NOW)

    def handle(self, message: Message, now: float = NOW, interface: str | None = "lan0"):
        return self.core.handle(message, interface, now)

    def dora(self, n: int, now: float = NOW, **request_fields) -> IPv4Address:
        offer = self.handle(request(MessageType.DISCOVER, n, **request_fields), now)
        self.assertEqual(offer.event, "offer")
        address = offer.reply.message.yiaddr
        ack = self.handle(
            request(
                MessageType.REQUEST,
                n,
                options={Option.SERVER_ID: SERVER.packed, Option.REQUESTED_ADDRESS: address.packed},
            ),
            now,
        )
        self.assertEqual(ack.event, "ack")
        return address


class DiscoverTests(DecisionTests):
    def test_offer_from_pool(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 1, options={Option.PARAMETER_REQUEST_LIST: bytes([1, 3, 6, 15])}))
        reply = outcome.reply.message
        self.assertEqual(outcome.event, "offer")
        self.assertFalse(outcome.reply.after_commit)
        self.assertEqual(reply.message_type, MessageType.OFFER)
        self.assertEqual(reply.yiaddr, IPv4Address("10.0.0.10"))
        self.assertEqual(reply.option(Option.SERVER_ID), SERVER)
        self.assertEqual(reply.option(Option.LEASE_TIME), 600)
        self.assertEqual(reply.option(Option.RENEWAL_TIME), 300)
        self.assertEqual(reply.option(Option.REBINDING_TIME), 525)
        self.assertEqual(reply.option(Option.ROUTER), [IPv4Address("10.0.0.1")])
        self.assertEqual(reply.option(Option.DOMAIN_NAME_SERVER), [IPv4Address("10.0.0.2"), IPv4Address("10.0.0.3")])
        self.assertEqual(reply.option(Option.DOMAIN_NAME), "lan")
        self.assertEqual(reply.option(Option.SUBNET_MASK), IPv4Address("255.255.255.0"))
        self.assertEqual(reply.xid, 0x1001)
        self.assertEqual(reply.op, 2)

    def test_parameter_request_list_filters_options(self) -> None:
        reply = self.handle(request(MessageType.DISCOVER, 1, options={Option.PARAMETER_REQUEST_LIST: bytes([3])})).reply.message
        self.assertIn(int(Option.ROUTER), reply.options)
        self.assertIn(int(Option.SUBNET_MASK), reply.options)
        self.assertNotIn(int(Option.DOMAIN_NAME_SERVER), reply.options)
        self.assertNotIn(int(Option.DOMAIN_NAME), reply.options)

    def test_cached_option_block_follows_each_parameter_request_list_and_option_changes(self) -> None:
        """
        The subnet's options a reply carries are worked out once per
        distinct option 55 (and lease time) and reused; clients asking for
        different options still get only theirs, and a new option block
        (WAN-fed options changed) replaces what was worked out before.
        """
        def reply(n: int, prl: bytes):
            return self.handle(request(MessageType.DISCOVER, n, options={Option.PARAMETER_REQUEST_LIST: prl})).reply.message

        def subnet_codes(message) -> list[int]:
            return [code for code in message.options if code not in (53, 54, 51, 58, 59)]

        self.assertEqual(subnet_codes(reply(1, bytes([3, 6]))), [1, 3, 6])
        self.assertEqual(subnet_codes(reply(2, bytes([15]))), [1, 15])
        self.assertEqual(subnet_codes(reply(3, bytes([3, 6]))), [1, 3, 6])
        subnet = self.core.config.subnets[0]
        self.core.set_subnet_options(subnet, ((1, bytes([255, 255, 255, 0])), (6, IPv4Address("10.9.9.9").packed)))
        changed = reply(1, bytes([3, 6]))
        self.assertEqual(subnet_codes(changed), [1, 6])
        self.assertEqual(changed.option(Option.DOMAIN_NAME_SERVER), [IPv4Address("10.9.9.9")])

    def test_cached_timers_follow_the_lease_time_asked_for(self) -> None:
        """
        T1/T2 of each lease time are worked out once: a client asking for a
        short lease gets RFC 2131's proportions, the next one the subnet's.
        """
        short = self.handle(request(MessageType.DISCOVER, 1, options={Option.LEASE_TIME: (200).to_bytes(4, "big")}))
        plain = self.handle(request(MessageType.DISCOVER, 2))
        again = self.handle(request(MessageType.DISCOVER, 3, options={Option.LEASE_TIME: (200).to_bytes(4, "big")}))
        for outcome, expected in ((short, (200, 100, 175)), (plain, (600, 300, 525)), (again, (200, 100, 175))):
            m = outcome.reply.message
            self.assertEqual(
                (m.option(Option.LEASE_TIME), m.option(Option.RENEWAL_TIME), m.option(Option.REBINDING_TIME)), expected
            )

    def test_offer_is_held(self) -> None:
        first = self.handle(request(MessageType.DISCOVER, 1)).reply.message.yiaddr
        second = self.handle(request(MessageType.DISCOVER, 2)).reply.message.yiaddr
        self.assertNotEqual(first, second)
        held = self.store.get(first)
        self.assertEqual(held.state, LeaseState.OFFERED)
        self.assertEqual(held.expires, NOW + 10)

    def test_same_client_gets_same_offer(self) -> None:
        first = self.handle(request(MessageType.DISCOVER, 1)).reply.message.yiaddr
        again = self.handle(request(MessageType.DISCOVER, 1)).reply.message.yiaddr
        self.assertEqual(first, again)

    def test_offer_hold_lapses(self) -> None:
        for n in (1, 2, 3):
            self.handle(request(MessageType.DISCOVER, n))
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 4)).reason, "pool-exhausted")
        later = self.handle(request(MessageType.DISCOVER, 4), now=NOW + 11)
        self.assertEqual(later.event, "offer")

    def test_pool_exhausted(self) -> None:
        for n in (1, 2, 3):
            self.dora(n)
        outcome = self.handle(request(MessageType.DISCOVER, 9))
        self.assertEqual((outcome.event, outcome.reason, outcome.reply), ("drop", "pool-exhausted", None))

    def test_requested_address_honoured_when_free(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 1, options={Option.REQUESTED_ADDRESS: ip("10.0.0.12")}))
        self.assertEqual(outcome.reply.message.yiaddr, IPv4Address("10.0.0.12"))

    def test_requested_address_ignored_when_taken_or_outside_pool(self) -> None:
        taken = self.dora(1)
        outcome = self.handle(request(MessageType.DISCOVER, 2, options={Option.REQUESTED_ADDRESS: taken.packed}))
        self.assertNotEqual(outcome.reply.message.yiaddr, taken)
        outside = self.handle(request(MessageType.DISCOVER, 3, options={Option.REQUESTED_ADDRESS: ip("10.0.0.99")}))
        self.assertNotEqual(outside.reply.message.yiaddr, IPv4Address("10.0.0.99"))

    def test_current_binding_offered_again_and_not_downgraded(self) -> None:
        address = self.dora(1)
        outcome = self.handle(request(MessageType.DISCOVER, 1))
        self.assertEqual(outcome.reply.message.yiaddr, address)
        self.assertEqual(self.store.get(address).state, LeaseState.BOUND)

    def test_reservation_by_mac(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 0xAA, options={Option.PARAMETER_REQUEST_LIST: bytes([1, 3, 12])}))
        reply = outcome.reply.message
        self.assertEqual(reply.yiaddr, IPv4Address("10.0.0.50"))
        self.assertEqual(reply.option(Option.HOST_NAME), "printer")

    def test_reservation_by_client_id(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 7, options={Option.CLIENT_ID: bytes.fromhex("ff00112233")}))
        self.assertEqual(outcome.reply.message.yiaddr, IPv4Address("10.0.0.51"))
        # RFC 6842: the client identifier is echoed.
        self.assertEqual(outcome.reply.message.options[int(Option.CLIENT_ID)], bytes.fromhex("ff00112233"))

    def test_reserved_address_never_offered_to_others(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 3, options={Option.REQUESTED_ADDRESS: ip("10.0.0.50")}))
        self.assertNotEqual(outcome.reply.message.yiaddr, IPv4Address("10.0.0.50"))
        selecting = self.handle(
            request(MessageType.REQUEST, 3, options={Option.SERVER_ID: SERVER.packed, Option.REQUESTED_ADDRESS: ip("10.0.0.50")})
        )
        self.assertEqual(selecting.event, "nak")

    def test_rapid_commit(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 1, options={Option.RAPID_COMMIT: b""}))
        self.assertEqual(outcome.event, "ack")
        self.assertTrue(outcome.reply.after_commit)
        self.assertIn(int(Option.RAPID_COMMIT), outcome.reply.message.options)
        self.assertEqual(self.store.get(outcome.address).state, LeaseState.BOUND)

    def test_lease_time_clamped(self) -> None:
        short = self.handle(request(MessageType.DISCOVER, 1, options={Option.LEASE_TIME: (5).to_bytes(4, "big")}))
        self.assertEqual(short.reply.message.option(Option.LEASE_TIME), 120)
        long = self.handle(request(MessageType.DISCOVER, 2, options={Option.LEASE_TIME: (99999).to_bytes(4, "big")}))
        self.assertEqual(long.reply.message.option(Option.LEASE_TIME), 3600)

    def test_no_subnet_for_interface(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 1), interface="wan9")
        self.assertEqual((outcome.event, outcome.reason), ("drop", "no-subnet"))

    def test_not_a_request_and_no_type(self) -> None:
        reply = request(MessageType.OFFER, 1)
        reply.op = 2
        self.assertEqual(self.handle(reply).reason, "not-a-request")
        bare = request(MessageType.DISCOVER, 1)
        del bare.options[int(Option.MESSAGE_TYPE)]
        self.assertEqual(self.handle(bare).reason, "no-message-type")
        self.assertEqual(self.handle(request(MessageType.OFFER, 1)).reason, "unexpected-offer")

    def test_unicast_destination_for_new_client(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 1))
        self.assertEqual(outcome.reply.destination.address, outcome.address)
        self.assertEqual(outcome.reply.destination.hardware, mac(1))
        flagged = self.handle(request(MessageType.DISCOVER, 2, flags=FLAG_BROADCAST))
        self.assertEqual(flagged.reply.destination.address, BROADCAST)


class CountingStore(MemoryLeaseStore):
    def __init__(self) -> None:
        super().__init__()
        self.scans = 0

    def leases(self):
        self.scans += 1
        return super().leases()


class ExhaustedPoolTests(DecisionTests):
    def setUp(self) -> None:
        super().setUp()
        self.store = CountingStore()
        self.core = ServerCore(self.core.config, self.store, {"lan0": SERVER}, clock=lambda: NOW)

    def test_exhausted_pool_is_not_rescanned_per_discover(self) -> None:
        # A flood of new clients against a full pool must cost O(1) each.
        for n in (1, 2, 3):
            self.dora(n)
        scans = self.store.scans
        for n in range(10, 160):  # (0xAA has a reservation)
            self.assertEqual(self.handle(request(MessageType.DISCOVER, n), now=NOW + 1).reason, "pool-exhausted")
        self.assertLessEqual(self.store.scans - scans, 1)
        # Once a binding lapses the pool is looked at again.
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 161), now=NOW + 601).event, "offer")

    def test_release_feeds_the_allocator_at_once(self) -> None:
        first = self.dora(1)
        self.dora(2)
        self.dora(3)
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 9), now=NOW + 1).reason, "pool-exhausted")
        self.handle(request(MessageType.RELEASE, 1, ciaddr=first), now=NOW + 2)
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 9), now=NOW + 3).address, first)


class MaxLeasesTests(DecisionTests):
    max_leases = 1

    def test_max_leases(self) -> None:
        self.dora(1)
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 2), now=NOW + 2).reason, "pool-exhausted")
        # The existing client is still served.
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 1), now=NOW + 2).event, "offer")


class RequestTests(DecisionTests):
    def selecting(self, n: int, address: IPv4Address, server: IPv4Address = SERVER):
        return self.handle(
            request(MessageType.REQUEST, n, options={Option.SERVER_ID: server.packed, Option.REQUESTED_ADDRESS: address.packed})
        )

    def test_selecting_ack(self) -> None:
        offered = self.handle(request(MessageType.DISCOVER, 1)).address
        outcome = self.selecting(1, offered)
        self.assertEqual(outcome.event, "ack")
        self.assertTrue(outcome.reply.after_commit)
        self.assertEqual(outcome.reply.message.yiaddr, offered)
        lease = self.store.get(offered)
        self.assertEqual((lease.state, lease.expires, lease.client_key), (LeaseState.BOUND, NOW + 600, b"\x01" + mac(1)))

    def test_selecting_other_address_nak(self) -> None:
        offered = self.handle(request(MessageType.DISCOVER, 1)).address
        self.handle(request(MessageType.DISCOVER, 2))
        other = self.store.find_by_client(b"\x01" + mac(2))[0].address
        outcome = self.selecting(1, other)
        self.assertEqual((outcome.event, outcome.reason), ("nak", "address-not-offered-to-client"))
        self.assertNotEqual(offered, other)
        self.assertEqual(outcome.reply.destination.address, BROADCAST)
        self.assertEqual(outcome.reply.message.message_type, MessageType.NAK)
        self.assertEqual(outcome.reply.message.yiaddr, IPv4Address(0))

    def test_selecting_another_server_releases_offer(self) -> None:
        offered = self.handle(request(MessageType.DISCOVER, 1)).address
        outcome = self.selecting(1, offered, server=IPv4Address("10.0.0.254"))
        self.assertEqual((outcome.event, outcome.reply), ("ignore", None))
        self.assertIsNone(self.store.get(offered))
        # The address is no longer held: another client asking for it gets it.
        again = self.handle(request(MessageType.DISCOVER, 2, options={Option.REQUESTED_ADDRESS: offered.packed}))
        self.assertEqual(again.address, offered)

    def test_selecting_after_offer_lapsed_but_free(self) -> None:
        offered = self.handle(request(MessageType.DISCOVER, 1)).address
        outcome = self.handle(
            request(MessageType.REQUEST, 1, options={Option.SERVER_ID: SERVER.packed, Option.REQUESTED_ADDRESS: offered.packed}),
            now=NOW + 60,
        )
        self.assertEqual(outcome.event, "ack")

    def test_init_reboot_known(self) -> None:
        address = self.dora(1)
        outcome = self.handle(request(MessageType.REQUEST, 1, options={Option.REQUESTED_ADDRESS: address.packed}), now=NOW + 100)
        self.assertEqual(outcome.event, "ack")
        self.assertEqual(self.store.get(address).expires, NOW + 700)

    def test_init_reboot_wrong_network(self) -> None:
        outcome = self.handle(request(MessageType.REQUEST, 1, options={Option.REQUESTED_ADDRESS: ip("172.16.0.5")}))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "wrong-network"))

    def test_init_reboot_unknown_outside_pool_authoritative(self) -> None:
        outcome = self.handle(request(MessageType.REQUEST, 1, options={Option.REQUESTED_ADDRESS: ip("10.0.0.99")}))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "address-not-in-pool"))

    def test_init_reboot_bound_to_another(self) -> None:
        address = self.dora(1)
        outcome = self.handle(request(MessageType.REQUEST, 2, options={Option.REQUESTED_ADDRESS: address.packed}))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "address-bound-to-another-client"))

    def test_renewing_extends(self) -> None:
        address = self.dora(1)
        outcome = self.handle(request(MessageType.REQUEST, 1, ciaddr=address), now=NOW + 300)
        self.assertEqual(outcome.event, "ack")
        self.assertEqual(self.store.get(address).expires, NOW + 900)
        # Renewing clients are answered by unicast to ciaddr.
        self.assertEqual((outcome.reply.destination.address, outcome.reply.destination.port), (address, 68))

    def test_renewing_after_expiry_when_nobody_took_it(self) -> None:
        address = self.dora(1)
        outcome = self.handle(request(MessageType.REQUEST, 1, ciaddr=address), now=NOW + 10_000)
        self.assertEqual(outcome.event, "ack")

    def test_renewing_unknown_outside_pool_nak(self) -> None:
        outcome = self.handle(request(MessageType.REQUEST, 1, ciaddr=IPv4Address("10.0.0.99")))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "address-not-in-pool"))

    def test_renewing_address_of_another_nak(self) -> None:
        address = self.dora(1)
        outcome = self.handle(request(MessageType.REQUEST, 2, ciaddr=address))
        self.assertEqual(outcome.event, "nak")

    def test_request_without_address_dropped(self) -> None:
        outcome = self.handle(request(MessageType.REQUEST, 1))
        self.assertEqual((outcome.event, outcome.reason), ("drop", "request-without-address"))


class NonAuthoritativeTests(DecisionTests):
    authoritative = "false"

    def test_init_reboot_unknown_silent(self) -> None:
        outcome = self.handle(request(MessageType.REQUEST, 1, options={Option.REQUESTED_ADDRESS: ip("10.0.0.99")}))
        self.assertEqual((outcome.event, outcome.reason, outcome.reply), ("ignore", "address-not-in-pool", None))


class ReleaseDeclineInformTests(DecisionTests):
    def test_release_frees_and_keeps_affinity(self) -> None:
        address = self.dora(1)
        outcome = self.handle(request(MessageType.RELEASE, 1, ciaddr=address, options={Option.SERVER_ID: SERVER.packed}))
        self.assertEqual((outcome.event, outcome.reply), ("release", None))
        lease = self.store.get(address)
        self.assertEqual((lease.state, lease.client_key), (LeaseState.RELEASED, b"\x01" + mac(1)))
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 1), now=NOW + 5).address, address)

    def test_released_address_reused_when_pool_is_full(self) -> None:
        address = self.dora(1)
        self.dora(2)
        self.dora(3)
        self.handle(request(MessageType.RELEASE, 1, ciaddr=address))
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 4), now=NOW + 5).address, address)

    def test_release_by_other_client_ignored(self) -> None:
        address = self.dora(1)
        outcome = self.handle(request(MessageType.RELEASE, 2, ciaddr=address))
        self.assertEqual(outcome.event, "ignore")
        self.assertEqual(self.store.get(address).state, LeaseState.BOUND)

    def test_decline_quarantines(self) -> None:
        address = self.dora(1)
        outcome = self.handle(
            request(MessageType.DECLINE, 1, options={Option.SERVER_ID: SERVER.packed, Option.REQUESTED_ADDRESS: address.packed})
        )
        self.assertEqual((outcome.event, outcome.reply), ("decline", None))
        self.assertEqual(self.store.get(address).state, LeaseState.DECLINED)
        # Not offered to anyone (the declining client included) during probation ...
        self.dora(2)
        self.dora(3)
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 1), now=NOW + 100).reason, "pool-exhausted")
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 4), now=NOW + 299).reason, "pool-exhausted")
        # ... and offered again after it.
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 4), now=NOW + 301).address, address)

    def test_decline_of_unknown_binding_ignored(self) -> None:
        outcome = self.handle(request(MessageType.DECLINE, 1, options={Option.REQUESTED_ADDRESS: ip("10.0.0.11")}))
        self.assertEqual(outcome.event, "ignore")
        self.assertIsNone(self.store.get(IPv4Address("10.0.0.11")))

    def test_inform(self) -> None:
        client = IPv4Address("10.0.0.200")
        outcome = self.handle(request(MessageType.INFORM, 1, ciaddr=client, options={Option.PARAMETER_REQUEST_LIST: bytes([3, 6])}))
        reply = outcome.reply.message
        self.assertEqual(outcome.event, "inform")
        self.assertFalse(outcome.reply.after_commit)
        self.assertEqual(reply.message_type, MessageType.ACK)
        self.assertEqual(reply.yiaddr, IPv4Address(0))
        self.assertEqual(reply.ciaddr, client)
        self.assertNotIn(int(Option.LEASE_TIME), reply.options)
        self.assertNotIn(int(Option.RENEWAL_TIME), reply.options)
        self.assertEqual(reply.option(Option.ROUTER), [IPv4Address("10.0.0.1")])
        self.assertEqual((outcome.reply.destination.address, outcome.reply.destination.port), (client, 68))
        self.assertEqual(len(self.store), 0)


class RelayTests(DecisionTests):
    RELAY = IPv4Address("192.168.5.1")
    AGENT_INFO = encode_relay_agent_info([(1, b"port7"), (2, b"relay-a")])

    def test_relayed_discover_picks_subnet_by_giaddr(self) -> None:
        outcome = self.handle(
            request(MessageType.DISCOVER, 1, giaddr=self.RELAY, hops=1, options={Option.RELAY_AGENT_INFO: self.AGENT_INFO}),
            interface="lan0",
        )
        reply = outcome.reply.message
        self.assertEqual(reply.yiaddr, IPv4Address("192.168.5.100"))
        self.assertEqual(reply.option(Option.SERVER_ID), IPv4Address("192.168.5.1"))
        self.assertEqual(reply.giaddr, self.RELAY)
        self.assertEqual((outcome.reply.destination.address, outcome.reply.destination.port), (self.RELAY, 67))
        self.assertEqual(reply.options[int(Option.RELAY_AGENT_INFO)], self.AGENT_INFO)
        self.assertEqual(list(reply.options)[-1], int(Option.RELAY_AGENT_INFO))
        encoded = reply.to_bytes()
        self.assertEqual(decode_message(encoded).option(Option.RELAY_AGENT_INFO), [(1, b"port7"), (2, b"relay-a")])

    trusted_relays = '["192.168.5.1"]'

    def test_link_selection_suboption(self) -> None:
        info = encode_relay_agent_info([(5, IPv4Address("10.0.0.0").packed)])
        outcome = self.handle(
            request(MessageType.DISCOVER, 1, giaddr=self.RELAY, options={Option.RELAY_AGENT_INFO: info}), interface=None
        )
        self.assertEqual(outcome.reply.message.yiaddr, IPv4Address("10.0.0.10"))

    def test_subnet_selection_option(self) -> None:
        outcome = self.handle(
            request(MessageType.DISCOVER, 1, giaddr=self.RELAY, options={Option.SUBNET_SELECTION: ip("10.0.0.0")}), interface=None
        )
        self.assertEqual(outcome.reply.message.yiaddr, IPv4Address("10.0.0.10"))

    def test_relayed_nak_goes_to_relay_with_broadcast_flag(self) -> None:
        outcome = self.handle(
            request(MessageType.REQUEST, 1, giaddr=self.RELAY, options={Option.REQUESTED_ADDRESS: ip("10.9.9.9")}), interface=None
        )
        self.assertEqual(outcome.event, "nak")
        self.assertEqual(outcome.reply.destination.address, self.RELAY)
        self.assertTrue(outcome.reply.message.flags & FLAG_BROADCAST)

    def test_unknown_relay(self) -> None:
        outcome = self.handle(request(MessageType.DISCOVER, 1, giaddr=IPv4Address("172.20.0.1")))
        self.assertEqual(outcome.reason, "no-subnet")


class ListenInterfaceTests(DecisionTests):
    """
    C{wan0} is a C{listen} interface: it serves no subnet and faces the
    relay of the relayed-only subnet 192.168.5.0/24. That subnet's clients
    get their leases through the relay, then RENEW, RELEASE and INFORM by
    unicast to its server identifier (RFC 2131 4.3.2, 4.4.5): giaddr 0,
    ciaddr theirs, arriving on wan0. Kea 2.2 selects such a packet's subnet
    by ciaddr (CfgSubnets4::selectSubnet); dhcpd finds the subnet and
    the lease of ciaddr (dhcprequest's find_subnet) whatever the receiving
    interface's network (tests/integration/test_server_listen.py drives
    both).
    """

    RELAY = IPv4Address("192.168.5.1")

    def relayed_bind(self, n: int) -> IPv4Address:
        offer = self.handle(request(MessageType.DISCOVER, n, giaddr=self.RELAY, hops=1), interface="wan0")
        address = offer.reply.message.yiaddr
        options = {Option.SERVER_ID: self.RELAY.packed, Option.REQUESTED_ADDRESS: address.packed}
        ack = self.handle(request(MessageType.REQUEST, n, giaddr=self.RELAY, hops=1, options=options), interface="wan0")
        self.assertEqual((ack.event, ack.reply.message.yiaddr), ("ack", address))
        return address

    def test_unicast_renew_on_a_listen_interface_is_acked(self) -> None:
        address = self.relayed_bind(41)
        renew = self.handle(request(MessageType.REQUEST, 41, ciaddr=address), now=NOW + 300, interface="wan0")
        self.assertEqual((renew.event, renew.reason), ("ack", ""))
        reply = renew.reply.message
        self.assertEqual((reply.yiaddr, reply.ciaddr, reply.giaddr), (address, address, IPv4Address(0)))
        self.assertEqual(reply.option(Option.SERVER_ID), self.RELAY)
        self.assertEqual((renew.reply.destination.address, renew.reply.destination.port), (address, 68))
        self.assertEqual(self.store.get(address).expires, NOW + 300 + reply.option(Option.LEASE_TIME))

    def test_unicast_release_and_inform_on_a_listen_interface(self) -> None:
        address = self.relayed_bind(42)
        inform = self.handle(request(MessageType.INFORM, 42, ciaddr=address), interface="wan0")
        self.assertEqual(inform.event, "inform")
        self.assertEqual(inform.reply.message.option(Option.SERVER_ID), self.RELAY)
        self.assertEqual(inform.reply.destination.address, address)
        release = self.handle(request(MessageType.RELEASE, 42, ciaddr=address), interface="wan0")
        self.assertEqual(release.event, "release")
        self.assertIs(self.store.get(address).state, LeaseState.RELEASED)

    def test_unicast_renew_of_another_clients_address_is_refused(self) -> None:
        address = self.relayed_bind(43)
        stranger = self.handle(request(MessageType.REQUEST, 44, ciaddr=address), interface="wan0")
        self.assertEqual((stranger.event, stranger.reason), ("nak", "address-bound-to-another-client"))
        self.assertTrue(self.store.get(address).belongs_to(client_key(request(MessageType.REQUEST, 43))))

    def test_unicast_renew_without_a_binding_is_not_answered(self) -> None:
        """
        No relay vouches for where the client is: an address it holds no
        binding for is not created on its word (Kea and dhcpd ACK it);
        its REBIND through the relay at T2 may re-create it.
        """
        free = IPv4Address("192.168.5.105")
        outcome = self.handle(request(MessageType.REQUEST, 45, ciaddr=free), interface="wan0")
        self.assertEqual((outcome.event, outcome.reason, outcome.reply), ("ignore", "unicast-renew-without-binding", None))
        self.assertIsNone(self.store.get(free))
        rebind = self.handle(request(MessageType.REQUEST, 45, ciaddr=free, giaddr=self.RELAY, hops=1), interface="wan0")
        self.assertEqual(rebind.event, "ack")

    def test_subnets_served_on_a_link_are_not_selected_by_ciaddr(self) -> None:
        """
        A client of lan0's subnet is on lan0: claiming its address from the
        relay side gets nothing, as before.
        """
        address = self.dora(46)
        outcome = self.handle(request(MessageType.REQUEST, 46, ciaddr=address), interface="wan0")
        self.assertEqual((outcome.event, outcome.reason), ("drop", "no-subnet"))

    def test_only_what_a_client_unicasts_is_selected_by_ciaddr(self) -> None:
        """
        DISCOVER, a SELECTING REQUEST (server identifier) and DECLINE come
        through the relay: with a ciaddr on wan0 they get no subnet, so no
        binding is made from there.
        """
        free = IPv4Address("192.168.5.106")
        selecting = {Option.SERVER_ID: self.RELAY.packed, Option.REQUESTED_ADDRESS: free.packed}
        for kind, options in ((MessageType.DISCOVER, {}), (MessageType.DECLINE, {}), (MessageType.REQUEST, selecting)):
            outcome = self.handle(request(kind, 47, ciaddr=free, options=options), interface="wan0")
            self.assertEqual((outcome.event, outcome.reason), ("drop", "no-subnet"), kind)
        self.assertIsNone(self.store.get(free))


class ReclaimTests(DecisionTests):
    def test_reclaim_expires_lapsed_bindings(self) -> None:
        address = self.dora(1)
        self.assertEqual(self.core.reclaim(NOW + 100), 0)
        self.assertEqual(self.core.reclaim(NOW + 601), 1)
        lease = self.store.get(address)
        self.assertEqual(lease.state, LeaseState.EXPIRED)
        # The client keeps its affinity to the address.
        self.assertEqual(lease.client_key, client_key(request(MessageType.DISCOVER, 1)))
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 1), now=NOW + 700).address, address)

    def test_restart_with_existing_leases(self) -> None:
        # A new core over the same store (a restart) knows the binding.
        address = self.dora(1)
        config = self.core.config
        core = ServerCore(config, self.store, {"lan0": SERVER}, clock=lambda: NOW + 50)
        outcome = core.handle(request(MessageType.REQUEST, 1, ciaddr=address), "lan0", NOW + 50)
        self.assertEqual(outcome.event, "ack")
        fresh = core.handle(request(MessageType.DISCOVER, 2), "lan0", NOW + 50)
        self.assertNotEqual(fresh.address, address)
