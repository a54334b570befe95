"""
Issue 16 items 11-13: addresses stay in their subnet, and no one host can
starve or poison a pool. Driven through L{ServerCore} with decoded requests.
"""

from __future__ import annotations

import collections
from ipaddress import IPv4Address

from twisted.internet.task import Clock
from twisted.internet.testing import FakeDatagramTransport
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.dhcp4.constants import MessageType, Option
from dhcpsuite.dhcp4.options import encode_relay_agent_info
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.server.config import AddressRange
from dhcpsuite.server.decide import ServerCore
from dhcpsuite.server.pool import PoolAllocator
from dhcpsuite.server.protocol import ServerProtocol
from tests.unit.test_server_decide import NOW, SERVER, DecisionTests, ip, mac, request

RELAY = IPv4Address("192.168.5.1")
A_POOL = {IPv4Address(a) for a in ("10.0.0.10", "10.0.0.11", "10.0.0.12")}


def link_selection(address: str) -> bytes:
    return encode_relay_agent_info([(5, ip(address))])


class UntrustedSubnetSelectionTests(DecisionTests):
    """
    16.11: a directly attached client on subnet A got ACKs in the
    relayed-only subnet B and in subnet C (on another interface) with
    option 118 alone, or with a giaddr of its own address plus option 82
    sub-option 5. Subnet selection is honoured only from relays listed in
    C{trusted_relays} (none by default; Kea's and dhcpd's relay-trust
    settings are the reference, ours is stricter by default); a request
    that asks for another
    subnet without that trust is dropped, counted as
    C{drop:untrusted-subnet-selection}.
    """

    trusted_relays = '["10.0.0.0/24", "192.168.5.1"]'

    def assertRefused(self, message, interface="lan0") -> None:
        outcome = self.handle(message, interface=interface)
        self.assertEqual((outcome.event, outcome.reason, outcome.reply), ("drop", "untrusted-subnet-selection", None))
        self.assertEqual(len(self.store), 0)

    def test_direct_client_option_118_to_relayed_subnet(self) -> None:
        self.assertRefused(request(MessageType.DISCOVER, 1, options={Option.SUBNET_SELECTION: ip("192.168.5.0")}))

    def test_direct_client_option_118_to_subnet_on_another_interface(self) -> None:
        self.assertRefused(request(MessageType.DISCOVER, 1, options={Option.SUBNET_SELECTION: ip("10.2.0.0")}))
        self.assertRefused(
            request(MessageType.REQUEST, 1, options={Option.SUBNET_SELECTION: ip("10.2.0.0"), Option.REQUESTED_ADDRESS: ip("10.2.0.10")})
        )

    def test_forged_giaddr_on_a_directly_served_segment(self) -> None:
        """
        Any host on lan0 can put its own address (10.0.0.77) in giaddr:
        such a giaddr is never trusted for subnet selection, even when an
        operator listed its network.
        """
        forged = request(
            MessageType.DISCOVER, 1, giaddr=IPv4Address("10.0.0.77"), options={Option.RELAY_AGENT_INFO: link_selection("192.168.5.0")}
        )
        self.assertRefused(forged)
        with_118 = request(MessageType.DISCOVER, 1, giaddr=IPv4Address("10.0.0.77"), options={Option.SUBNET_SELECTION: ip("10.2.0.0")})
        self.assertRefused(with_118)

    def test_relay_not_in_the_list(self) -> None:
        stranger = IPv4Address("192.168.5.9")
        self.assertRefused(
            request(MessageType.DISCOVER, 1, giaddr=stranger, options={Option.RELAY_AGENT_INFO: link_selection("10.0.0.0")}), None
        )

    def test_trusted_relay_is_honoured(self) -> None:
        outcome = self.handle(
            request(MessageType.DISCOVER, 1, giaddr=RELAY, options={Option.RELAY_AGENT_INFO: link_selection("10.0.0.0")}), interface=None
        )
        self.assertEqual(outcome.event, "offer")
        self.assertIn(outcome.address, A_POOL)

    def test_selection_of_the_clients_own_subnet_is_harmless(self) -> None:
        """
        Option 118 naming the subnet the client would get anyway is served
        and echoed (RFC 3011 section 3).
        """
        outcome = self.handle(request(MessageType.DISCOVER, 1, options={Option.SUBNET_SELECTION: ip("10.0.0.0")}))
        self.assertEqual(outcome.event, "offer")
        self.assertIn(outcome.address, A_POOL)
        self.assertEqual(outcome.reply.message.options[int(Option.SUBNET_SELECTION)], ip("10.0.0.0"))

    def test_malformed_selection_dropped(self) -> None:
        """
        With option decoding made lazy in the codec, a malformed option 118
        or 82 reaches the core: it is dropped by reason, never an exception.
        """
        message = request(MessageType.DISCOVER, 1)
        message.options[int(Option.SUBNET_SELECTION)] = b"\x0a\x00"
        self.assertEqual((self.handle(message).event, self.handle(message).reason), ("drop", "bad-option"))
        relayed = request(MessageType.DISCOVER, 1, giaddr=RELAY)
        relayed.options[int(Option.RELAY_AGENT_INFO)] = b"\x05\x04\x0a"
        self.assertEqual(self.handle(relayed, interface=None).reason, "bad-relay-agent-info")
        hint = request(MessageType.DISCOVER, 2)
        hint.options[int(Option.REQUESTED_ADDRESS)] = b"\x0a\x00\x00"
        self.assertEqual(self.handle(hint).event, "offer")
        renew = request(MessageType.REQUEST, 1, options={Option.REQUESTED_ADDRESS: ip("10.0.0.10")})
        renew.options[int(Option.REQUESTED_ADDRESS)] = b"\x0a\x00\x00"
        self.assertEqual(self.handle(renew).reason, "bad-option")


class NoTrustedRelayTests(DecisionTests):
    """
    By default (C{trusted_relays = []}) nobody's subnet selection is
    honoured, relayed or not.
    """

    def test_default_trusts_no_relay(self) -> None:
        outcome = self.handle(
            request(MessageType.DISCOVER, 1, giaddr=RELAY, options={Option.RELAY_AGENT_INFO: link_selection("10.0.0.0")}), interface=None
        )
        self.assertEqual(outcome.reason, "untrusted-subnet-selection")
        plain = self.handle(request(MessageType.DISCOVER, 1, giaddr=RELAY), interface=None)
        self.assertEqual(plain.address, IPv4Address("192.168.5.100"))


class SubnetBoundaryTests(DecisionTests):
    """
    16.12: a RELEASE of a B lease arriving on A's wire was put into A's
    free list, and A's client #41 was then ACKed 10.88.0.100 with A's mask
    and router (pool.allocate never checked C{address in self}; the "chose
    another server" path had the same flaw). Every allocation and every
    freed address is now checked against the subnet's pools.
    """

    def fill_a(self) -> None:
        for n in (1, 2, 3):
            self.dora(n)

    def relayed_b_offer(self, n: int) -> IPv4Address:
        outcome = self.handle(request(MessageType.DISCOVER, n, giaddr=RELAY), interface=None)
        self.assertEqual(outcome.event, "offer")
        return outcome.address

    def test_release_of_b_lease_on_a_wire_stays_in_b(self) -> None:
        b_address = self.relayed_b_offer(41)
        ack = self.handle(
            request(
                MessageType.REQUEST, 41, giaddr=RELAY,
                options={Option.SERVER_ID: RELAY.packed, Option.REQUESTED_ADDRESS: b_address.packed},
            ),
            interface=None,
        )
        self.assertEqual(ack.event, "ack")
        self.fill_a()
        released = self.handle(request(MessageType.RELEASE, 41, ciaddr=b_address), now=NOW + 1)
        self.assertEqual(released.event, "release")
        for n in range(50, 60):
            outcome = self.handle(request(MessageType.DISCOVER, n), now=NOW + 2)
            self.assertEqual(outcome.reason, "pool-exhausted")
        # And B gives it out again.
        again = request(MessageType.DISCOVER, 60, giaddr=RELAY, options={Option.REQUESTED_ADDRESS: b_address.packed})
        self.assertEqual(self.handle(again, interface=None, now=NOW + 3).address, b_address)

    def test_chose_another_server_frees_into_the_offers_own_subnet(self) -> None:
        b_address = self.relayed_b_offer(41)
        self.fill_a()
        outcome = self.handle(
            request(
                MessageType.REQUEST, 41,
                options={Option.SERVER_ID: ip("10.0.0.254"), Option.REQUESTED_ADDRESS: b_address.packed},
            ),
            now=NOW + 1,
        )
        self.assertEqual(outcome.reason, "chose-another-server")
        self.assertIsNone(self.store.get(b_address))
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 50), now=NOW + 2).reason, "pool-exhausted")

    def bind_in_b(self, n: int) -> IPv4Address:
        b_address = self.relayed_b_offer(n)
        options = {Option.SERVER_ID: RELAY.packed, Option.REQUESTED_ADDRESS: b_address.packed}
        self.assertEqual(self.handle(request(MessageType.REQUEST, n, giaddr=RELAY, options=options), interface=None).event, "ack")
        return b_address

    def test_unicast_renew_from_relayed_subnet_extends_only_its_own_binding(self) -> None:
        """
        A client of the relayed-only subnet B RENEWs by unicast to B's
        server identifier (RFC 2131 4.4.5), not through its relay; routing
        brings it in on lan0. Its own binding is extended in B (Kea selects
        the subnet by ciaddr for unrelayed requests); another client cannot
        use the same path to get a B address it does not hold.
        """
        b_address = self.bind_in_b(41)
        renew = self.handle(request(MessageType.REQUEST, 41, ciaddr=b_address), now=NOW + 300)
        self.assertEqual(renew.event, "ack")
        self.assertEqual(renew.reply.message.option(Option.SERVER_ID), RELAY)
        self.assertEqual((renew.reply.destination.address, renew.reply.destination.port), (b_address, 68))
        self.assertEqual(self.store.get(b_address).expires, NOW + 300 + 3600)
        stranger = self.handle(request(MessageType.REQUEST, 42, ciaddr=IPv4Address("192.168.5.105")))
        self.assertEqual((stranger.event, stranger.reason), ("nak", "wrong-network"))
        self.assertIsNone(self.store.get(IPv4Address("192.168.5.105")))

    def test_binding_outside_the_pools_is_not_renewed(self) -> None:
        """
        A binding left from an older configuration (the pool since shrunk):
        NAKed at its next RENEW, as Kea does for an out-of-pool address
        without a reservation; and never handed out once it lapses.
        """
        stale = IPv4Address("10.0.0.30")
        key = b"\x01" + mac(1)
        self.store.put(Lease(stale, LeaseState.BOUND, key, mac(1), NOW + 100, "", NOW - 500))
        outcome = self.handle(request(MessageType.REQUEST, 1, ciaddr=stale))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "address-not-in-pool"))
        self.core.reclaim(NOW + 101)
        self.fill_a()
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 9), now=NOW + 102).reason, "pool-exhausted")


class PoolAllocatorTests(SynchronousTestCase):
    def test_freed_outside_the_pool_is_refused(self) -> None:
        allocator = PoolAllocator([AddressRange(IPv4Address("10.0.0.10"), IPv4Address("10.0.0.11"))], excluded=[IPv4Address("10.0.0.11")])
        self.assertFalse(allocator.freed(IPv4Address("10.88.0.100")))
        self.assertFalse(allocator.freed(IPv4Address("10.0.0.11")))
        self.assertTrue(allocator.freed(IPv4Address("10.0.0.10")))
        allocator.rescan([IPv4Address("10.88.0.101"), IPv4Address("10.0.0.11")])
        handed = [allocator.allocate(lambda a: True, lambda a: False) for _ in range(4)]
        self.assertEqual(handed, [IPv4Address("10.0.0.10"), None, None, None])


class MacLimitTests(DecisionTests):
    """
    16.13: one MAC with 42 client identifiers bound all 40 addresses of a
    pool in 2.2 s. At most C{max_bindings_per_mac} addresses (offered or
    bound) per MAC and subnet; beyond that the request is dropped, counted
    as C{drop:mac-binding-limit}. Neither Kea nor dhcpd has such a limit
    by default (Kea's limits hook can cap leases per client class).
    """

    max_bindings_per_mac = 2

    def dora_with_id(self, n: int, client_id: bytes, now: float = NOW):
        return self.handle(request(MessageType.DISCOVER, n, options={Option.CLIENT_ID: client_id}), now)

    def test_one_mac_many_client_ids(self) -> None:
        first = self.dora_with_id(1, b"\x00one")
        second = self.dora_with_id(1, b"\x00two")
        third = self.dora_with_id(1, b"\x00three")
        self.assertEqual((first.event, second.event), ("offer", "offer"))
        self.assertEqual((third.event, third.reason, third.reply), ("drop", "mac-binding-limit", None))
        # Its existing clients are still served, and another MAC gets the rest.
        self.assertEqual(self.dora_with_id(1, b"\x00one").address, first.address)
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 2)).event, "offer")

    def test_recreated_binding_counts(self) -> None:
        self.dora_with_id(1, b"\x00one")
        self.dora_with_id(1, b"\x00two")
        message = request(MessageType.REQUEST, 1, ciaddr=IPv4Address("10.0.0.12"), options={Option.CLIENT_ID: b"\x00three"})
        outcome = self.handle(message)
        self.assertEqual((outcome.event, outcome.reason), ("drop", "mac-binding-limit"))
        self.assertIsNone(self.store.get(IPv4Address("10.0.0.12")))

    def test_lapsed_offers_do_not_count(self) -> None:
        self.dora_with_id(1, b"\x00one")
        self.dora_with_id(1, b"\x00two")
        self.assertEqual(self.dora_with_id(1, b"\x00three", now=NOW + 11).event, "offer")

    def test_reserved_client_is_exempt(self) -> None:
        outcomes = [self.dora_with_id(0xAA, client_id) for client_id in (b"\x00one", b"\x00two", b"\x00three")]
        self.assertEqual([o.event for o in outcomes], ["offer"] * 3)

    def test_limit_survives_a_restart(self) -> None:
        self.dora_with_id(1, b"\x00one")
        self.dora_with_id(1, b"\x00two")
        core = ServerCore(self.core.config, self.store, {"lan0": SERVER}, clock=lambda: NOW)
        outcome = core.handle(request(MessageType.DISCOVER, 1, options={Option.CLIENT_ID: b"\x00three"}), "lan0", NOW + 1)
        self.assertEqual(outcome.reason, "mac-binding-limit")

    def test_lease_removed_behind_the_core_is_not_counted(self) -> None:
        first = self.dora_with_id(1, b"\x00one")
        self.dora_with_id(1, b"\x00two")
        self.store.remove(first.address)  # as the control API does
        self.assertEqual(self.dora_with_id(1, b"\x00three").event, "offer")


class DeclineTests(DecisionTests):
    """
    16.13: DECLINEs of merely offered addresses quarantined 36 of 40
    addresses in 7 s. A DECLINE is accepted only for an address ACKed to
    that client (Kea 2.2 requires the client's lease, and it stores no
    lease for an offer); each subnet quarantines at most C{max_declined}
    addresses (default: a quarter of its pool addresses, here 1 of 3), the
    longest quarantined put back into use first.
    """

    def decline(self, n: int, address: IPv4Address, now: float = NOW):
        return self.handle(request(MessageType.DECLINE, n, options={Option.REQUESTED_ADDRESS: address.packed}), now)

    def test_decline_of_an_offer_is_ignored(self) -> None:
        offered = self.handle(request(MessageType.DISCOVER, 1)).address
        outcome = self.decline(1, offered)
        self.assertEqual((outcome.event, outcome.reason), ("ignore", "decline-of-unknown-binding"))
        self.assertEqual(self.store.get(offered).state, LeaseState.OFFERED)

    def test_decline_of_another_clients_binding_is_ignored(self) -> None:
        address = self.dora(1)
        self.assertEqual(self.decline(2, address).event, "ignore")
        self.assertEqual(self.store.get(address).state, LeaseState.BOUND)

    def test_quarantine_cap_releases_the_oldest(self) -> None:
        first = self.dora(1)
        self.assertEqual(self.decline(1, first).reason, "address-in-use")
        second = self.dora(2, now=NOW + 1)
        outcome = self.decline(2, second, now=NOW + 2)
        self.assertEqual((outcome.event, outcome.reason), ("decline", "address-in-use-quarantine-full"))
        self.assertEqual(self.store.get(second).state, LeaseState.DECLINED)
        self.assertEqual(self.store.get(first).state, LeaseState.EXPIRED)
        quarantined = [l for l in self.store.leases() if l.state is LeaseState.DECLINED and l.holds(NOW + 3)]
        self.assertEqual(len(quarantined), 1)
        # The released address is usable again at once.
        self.dora(3, now=NOW + 3)
        self.assertEqual(self.handle(request(MessageType.DISCOVER, 4), now=NOW + 4).address, first)


class MacLimitOffTests(DecisionTests):
    max_bindings_per_mac = 0

    def test_zero_turns_the_limit_off(self) -> None:
        ids = (b"\x00one", b"\x00two", b"\x00three")
        outcomes = [self.handle(request(MessageType.DISCOVER, 1, options={Option.CLIENT_ID: c})) for c in ids]
        self.assertEqual([o.event for o in outcomes], ["offer"] * 3)


class RefusalsCountedTests(DecisionTests):
    """
    Every refusal reaches the counters /metrics reads, by reason, through
    the real protocol: C{drop:*} as dhcpsuite_server_packets_dropped,
    C{ignore:*} and C{nak:*} as dhcpsuite_server_exchanges.
    """

    def test_refusals_are_counted_by_reason(self) -> None:
        counters: collections.Counter = collections.Counter()
        protocol = ServerProtocol(self.core, "lan0", counters, log_exchanges=False, clock=Clock())
        protocol.makeConnection(FakeDatagramTransport())
        for message in (
            request(MessageType.DISCOVER, 1, options={Option.SUBNET_SELECTION: ip("192.168.5.0")}),
            request(MessageType.DISCOVER, 2, hlen=0),
            request(MessageType.REQUEST, 3, ciaddr=IPv4Address("10.99.0.5")),
            request(MessageType.DECLINE, 4, options={Option.REQUESTED_ADDRESS: ip("10.0.0.10")}),
        ):
            protocol.datagramReceived(message.to_bytes(), ("0.0.0.0", 68))
        self.assertEqual(counters["drop:untrusted-subnet-selection"], 1)
        self.assertEqual(counters["drop:no-client-identity"], 1)
        self.assertEqual(counters["ignore:not-our-address"], 1)
        self.assertEqual(counters["ignore:decline-of-unknown-binding"], 1)
        protocol.doStop()
