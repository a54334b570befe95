"""
Issue 12: where the server's answers must match what Kea 2.2 and ISC dhcpd
4.4 answer (or what RFC 2131/3046 require where they differ), each driven
with the decoded request and checked on the reply. What the peers did is
from the differential test recorded in the issue (every scenario with an
empty lease database); tests/integration's differential test sends the same
packets to all three.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from dhcpsuite.dhcp4.constants import FLAG_BROADCAST, MessageType, Option
from dhcpsuite.dhcp4.options import encode_relay_agent_info
from dhcpsuite.leases.lease import LeaseState
from dhcpsuite.server.decide import client_key
from dhcpsuite.server.destination import BROADCAST
from tests.unit.test_server_decide import NOW, SERVER, DecisionTests, ip, mac, request

RELAY = IPv4Address("192.168.5.1")
AGENT_INFO = encode_relay_agent_info([(1, b"port7"), (2, b"relay-a")])


def rebind(n: int, address: str, **fields):
    """A REBINDING request: ciaddr, no server id, no requested address, broadcast."""
    return request(MessageType.REQUEST, n, ciaddr=IPv4Address(address), flags=FLAG_BROADCAST, **fields)


def init_reboot(n: int, address: str, **fields):
    return request(MessageType.REQUEST, n, options={Option.REQUESTED_ADDRESS: ip(address)}, **fields)


class NonAuthoritativeCoexistenceTests(DecisionTests):
    """
    12.1, C{authoritative = false}: never NAK what we cannot confirm.

    Kea 2.2 and dhcpd 4.4 (both non-authoritative by default) stay silent
    for a RENEW/REBIND of 10.99.0.5, an address in no subnet they serve;
    dhcpsuite NAKed it, so at T2 (REBIND is broadcast) it NAKed the clients
    of another server on the segment, usually just when that server was down.
    RFC 2131 4.3.2: a server "MAY extend a client's lease only if it has
    local administrative authority", and stays silent for an unknown
    INIT-REBOOT client "for peaceful coexistence".
    """

    authoritative = "false"

    def assertSilent(self, outcome, reason: str) -> None:
        self.assertEqual((outcome.event, outcome.reason, outcome.reply), ("ignore", reason, None))

    def test_rebind_of_foreign_address_is_silent(self) -> None:
        self.assertSilent(self.handle(rebind(1, "10.99.0.5")), "not-our-address")
        self.assertIsNone(self.store.get(IPv4Address("10.99.0.5")))

    def test_renew_of_foreign_address_is_silent(self) -> None:
        self.assertSilent(self.handle(request(MessageType.REQUEST, 1, ciaddr=IPv4Address("10.99.0.5"))), "not-our-address")

    def test_init_reboot_on_wrong_network_is_silent(self) -> None:
        self.assertSilent(self.handle(init_reboot(1, "172.16.0.5")), "wrong-network")

    def test_rebind_of_address_bound_to_another_is_silent(self) -> None:
        """
        Kea, non-authoritative, answers nothing to a client it has no lease
        for ("unknown client"), whatever holds the address.
        """
        address = self.dora(1)
        self.assertSilent(self.handle(rebind(2, str(address))), "address-bound-to-another-client")
        self.assertSilent(self.handle(init_reboot(2, str(address))), "address-bound-to-another-client")
        self.assertEqual(self.store.get(address).client_key, client_key(request(MessageType.DISCOVER, 1)))

    def test_selecting_us_is_still_answered_with_nak(self) -> None:
        """
        A SELECTING client named us (option 54): refusing it is ours to do.
        Kea and dhcpd NAK an unavailable address here too.
        """
        taken = self.dora(1)
        outcome = self.handle(
            request(MessageType.REQUEST, 2, options={Option.SERVER_ID: SERVER.packed, Option.REQUESTED_ADDRESS: taken.packed})
        )
        self.assertEqual((outcome.event, outcome.reason), ("nak", "address-not-offered-to-client"))


class AuthoritativeCoexistenceTests(DecisionTests):
    """
    12.1, C{authoritative = true} (our default): NAK only what is ours.

    Decisions (the issue leaves them to us):
      - a RENEW/REBIND of an address in none of our subnets is never NAKed
        (silence, as Kea and dhcpd): it may be another server's client, and
        at T2 the lease is nearly over anyway;
      - an INIT-REBOOT for an address outside the subnet of the wire it came
        from is NAKed (RFC 2131 4.3.2 "SHOULD"; dhcpd with C{authoritative;}
        and Kea with C{authoritative: true} do the same; the peers were
        silent in the differential test because neither is authoritative by
        default). Silence would let a client that moved here keep a wrong
        address for the rest of its lease (RFC 2131 3.2 step 5);
      - a RENEW/REBIND of an address of another of our subnets is NAKed:
        we are the authority for both networks.
    """

    def test_rebind_of_foreign_address_is_silent(self) -> None:
        outcome = self.handle(rebind(1, "10.99.0.5"))
        self.assertEqual((outcome.event, outcome.reason, outcome.reply), ("ignore", "not-our-address", None))

    def test_init_reboot_on_wrong_network_is_nakked(self) -> None:
        outcome = self.handle(init_reboot(1, "10.99.0.5"))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "wrong-network"))
        self.assertEqual(outcome.reply.destination.address, BROADCAST)

    def test_rebind_of_our_other_subnet_is_nakked(self) -> None:
        outcome = self.handle(rebind(1, "192.168.5.100"))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "wrong-network"))
        self.assertIsNone(self.store.get(IPv4Address("192.168.5.100")))

    def test_rebind_of_address_bound_to_another_is_nakked(self) -> None:
        address = self.dora(1)
        outcome = self.handle(rebind(2, str(address)))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "address-bound-to-another-client"))


class LostBindingTests(DecisionTests):
    """
    12.2: a RENEW, REBIND or INIT-REBOOT for a free pool address we have no
    binding for (the lease database was lost, the memory store restarted, or
    we took over from another server). Kea and dhcpd ACK it and re-create
    the binding; dhcpsuite NAKed it when authoritative, renumbering every
    client at T1.
    """

    def assertRecreated(self, outcome, n: int, address: str, now: float = NOW) -> None:
        self.assertEqual((outcome.event, outcome.reason), ("ack", ""))
        self.assertTrue(outcome.reply.after_commit)
        self.assertEqual(outcome.reply.message.yiaddr, IPv4Address(address))
        lease = self.store.get(IPv4Address(address))
        self.assertEqual((lease.state, lease.client_key, lease.expires), (LeaseState.BOUND, b"\x01" + mac(n), now + 600))

    def test_renew_recreates(self) -> None:
        self.assertRecreated(self.handle(request(MessageType.REQUEST, 1, ciaddr=IPv4Address("10.0.0.11"))), 1, "10.0.0.11")

    def test_rebind_recreates(self) -> None:
        self.assertRecreated(self.handle(rebind(1, "10.0.0.12")), 1, "10.0.0.12")

    def test_init_reboot_recreates(self) -> None:
        self.assertRecreated(self.handle(init_reboot(1, "10.0.0.10")), 1, "10.0.0.10")

    def test_recreated_binding_is_not_offered_to_others(self) -> None:
        self.handle(rebind(1, "10.0.0.10"))
        offered = self.handle(request(MessageType.DISCOVER, 2, options={Option.REQUESTED_ADDRESS: ip("10.0.0.10")})).address
        self.assertNotEqual(offered, IPv4Address("10.0.0.10"))

    def test_expired_lease_of_another_client_is_free(self) -> None:
        address = self.dora(1)
        self.core.reclaim(NOW + 601)
        self.assertRecreated(self.handle(rebind(2, str(address)), now=NOW + 700), 2, str(address), now=NOW + 700)

    def test_held_addresses_are_not_recreated(self) -> None:
        bound = self.dora(1)
        offered = self.handle(request(MessageType.DISCOVER, 2)).address
        self.assertEqual(self.handle(rebind(3, str(bound))).reason, "address-bound-to-another-client")
        self.assertEqual(self.handle(rebind(3, str(offered))).reason, "address-bound-to-another-client")
        self.assertEqual(self.store.get(offered).state, LeaseState.OFFERED)

    def test_quarantined_address_is_not_recreated(self) -> None:
        address = self.dora(1)
        self.handle(request(MessageType.DECLINE, 1, options={Option.REQUESTED_ADDRESS: address.packed}))
        outcome = self.handle(rebind(2, str(address)))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "address-declined"))
        self.assertEqual(self.store.get(address).state, LeaseState.DECLINED)

    def test_outside_pool_or_reserved_for_another_is_not_recreated(self) -> None:
        for address in ("10.0.0.99", "10.0.0.50"):
            outcome = self.handle(rebind(1, address))
            self.assertEqual((outcome.event, outcome.reason), ("nak", "address-not-in-pool"))
            self.assertIsNone(self.store.get(IPv4Address(address)))

    def test_own_reservation_outside_pool_is_recreated(self) -> None:
        self.assertRecreated(self.handle(rebind(0xAA, "10.0.0.50")), 0xAA, "10.0.0.50")

    def test_client_with_another_binding_is_not_given_a_second(self) -> None:
        address = self.dora(1)
        other = next(a for a in ("10.0.0.10", "10.0.0.11", "10.0.0.12") if IPv4Address(a) != address)
        outcome = self.handle(rebind(1, other))
        self.assertEqual((outcome.event, outcome.reason), ("nak", "client-has-another-binding"))
        self.assertIsNone(self.store.get(IPv4Address(other)))


class RelayedInformTests(DecisionTests):
    """
    12.3: a relayed INFORM is answered directly to ciaddr:68 (RFC 2131
    4.3.5, 3.4), as Kea and dhcpd do. dhcpsuite answered the relay
    (giaddr:67) with yiaddr 0, which a standard relay forwards to 0.0.0.0.
    """

    def test_relayed_inform_goes_to_ciaddr(self) -> None:
        client = IPv4Address("192.168.5.77")
        outcome = self.handle(
            request(MessageType.INFORM, 1, ciaddr=client, giaddr=RELAY, hops=1, options={Option.RELAY_AGENT_INFO: AGENT_INFO}),
            interface=None,
        )
        self.assertEqual(outcome.event, "inform")
        self.assertEqual((outcome.reply.destination.address, outcome.reply.destination.port), (client, 68))
        self.assertIsNone(outcome.reply.destination.hardware)
        reply = outcome.reply.message
        self.assertEqual((reply.ciaddr, reply.yiaddr), (client, IPv4Address(0)))
        self.assertFalse(reply.flags & FLAG_BROADCAST)
        self.assertEqual(reply.option(Option.SERVER_ID), RELAY)

    def test_relayed_inform_without_ciaddr_goes_to_relay(self) -> None:
        outcome = self.handle(request(MessageType.INFORM, 1, giaddr=RELAY, hops=1), interface=None)
        self.assertEqual((outcome.reply.destination.address, outcome.reply.destination.port), (RELAY, 67))


class Option82EchoTests(DecisionTests):
    """
    12.4: option 82 is echoed in every reply when the request carried it,
    with or without giaddr (RFC 3046 2.2, "SHALL echo ... in all replies"),
    as Kea and dhcpd do: a layer-2 inserter (a DHCP-snooping switch) adds it
    without setting giaddr and needs it back to forward the reply.
    dhcpsuite echoed it only when giaddr was set.
    """

    def test_echoed_in_offer_ack_nak_and_inform_without_giaddr(self) -> None:
        options = {Option.RELAY_AGENT_INFO: AGENT_INFO}
        offer = self.handle(request(MessageType.DISCOVER, 1, options=options))
        ack = self.handle(
            request(
                MessageType.REQUEST,
                1,
                options={**options, Option.SERVER_ID: SERVER.packed, Option.REQUESTED_ADDRESS: offer.address.packed},
            )
        )
        nak = self.handle(request(MessageType.REQUEST, 2, options={**options, Option.REQUESTED_ADDRESS: ip("10.99.0.5")}))
        inform = self.handle(request(MessageType.INFORM, 3, ciaddr=IPv4Address("10.0.0.200"), options=options))
        for outcome, event in ((offer, "offer"), (ack, "ack"), (nak, "nak"), (inform, "inform")):
            self.assertEqual(outcome.event, event)
            reply = outcome.reply.message
            self.assertEqual(reply.options[int(Option.RELAY_AGENT_INFO)], AGENT_INFO, event)
            self.assertEqual(list(reply.options)[-1], int(Option.RELAY_AGENT_INFO), event)
            self.assertEqual(reply.giaddr, IPv4Address(0))

    def test_not_added_when_absent(self) -> None:
        self.assertNotIn(int(Option.RELAY_AGENT_INFO), self.handle(request(MessageType.DISCOVER, 1)).reply.message.options)


class ClientIdentityTests(DecisionTests):
    """
    12.7: hlen 0 (or an all-zero chaddr) and no client identifier: nothing
    tells such clients apart. dhcpsuite gave two of them one address and
    answered MAC 00:00:00:00:00:00; Kea drops the request ("missing or
    useless client-id and no HW address"), and so do we, counted.
    """

    def test_hlen_zero_without_client_id_dropped(self) -> None:
        for n in (1, 2):
            outcome = self.handle(request(MessageType.DISCOVER, n, hlen=0))
            self.assertEqual((outcome.event, outcome.reason, outcome.reply), ("drop", "no-client-identity", None))
        self.assertEqual(len(self.store), 0)

    def test_all_zero_chaddr_without_client_id_dropped(self) -> None:
        message = request(MessageType.DISCOVER, 1)
        message.chaddr = bytes(16)
        self.assertEqual(self.handle(message).reason, "no-client-identity")
        message.options[int(Option.CLIENT_ID)] = b""
        self.assertEqual(self.handle(message).reason, "no-client-identity")

    def test_client_id_identifies_and_reply_is_broadcast(self) -> None:
        message = request(MessageType.DISCOVER, 1, hlen=0, options={Option.CLIENT_ID: b"\x00host-a"})
        zero = request(MessageType.DISCOVER, 2, options={Option.CLIENT_ID: b"\x00host-b"})
        zero.chaddr = bytes(16)
        first, second = self.handle(message), self.handle(zero)
        self.assertEqual((first.event, second.event), ("offer", "offer"))
        self.assertNotEqual(first.address, second.address)
        # Never an L2 unicast to an empty or all-zero MAC.
        self.assertEqual(first.reply.destination.address, BROADCAST)
        self.assertEqual(second.reply.destination.address, BROADCAST)


class AckCiaddrTests(DecisionTests):
    """
    12.8: an ACK to RENEW/REBIND copies the request's ciaddr, as Kea does
    (dhcpd sends 0; RFC 2131 table 3 allows either; clients expect the copy).
    """

    def test_renew_and_rebind_ack_carry_ciaddr(self) -> None:
        address = self.dora(1)
        renew = self.handle(request(MessageType.REQUEST, 1, ciaddr=address), now=NOW + 300)
        rebind_ = self.handle(rebind(1, str(address)), now=NOW + 530)
        for outcome in (renew, rebind_):
            self.assertEqual(outcome.event, "ack")
            self.assertEqual((outcome.reply.message.ciaddr, outcome.reply.message.yiaddr), (address, address))

    def test_selecting_and_init_reboot_ack_carry_zero(self) -> None:
        offered = self.handle(request(MessageType.DISCOVER, 1)).address
        selecting = self.handle(
            request(MessageType.REQUEST, 1, options={Option.SERVER_ID: SERVER.packed, Option.REQUESTED_ADDRESS: offered.packed})
        )
        reboot = self.handle(init_reboot(1, str(offered)))
        for outcome in (selecting, reboot):
            self.assertEqual((outcome.event, outcome.reply.message.ciaddr), ("ack", IPv4Address(0)))
