"""
The client against odd and hostile servers (issue 16, items 15 to 20): the
agent with fake sockets, clock, configurator and hooks, fed the replies
such servers send. The references are busybox udhcpc and ISC dhclient, as
observed against a scripted server (recorded in each test's docstring);
tests/integration/test_client_hostile.py drives the real ones.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.core.machine import State
from dhcpsuite.client.testing import ip_udp, reply_to, sent_message
from dhcpsuite.client.core.schedule import Schedule
from dhcpsuite.dhcp4.constants import MessageType, Option
from tests.unit.test_client_agent import AgentHarness

_ZERO = IPv4Address(0)
CLIENT_FRAME = ("wan0", 0x0800, 0, 1, b"")


def deliver(h, reply, source="10.0.0.1"):
    h.agent._packet_received(ip_udp(reply.to_bytes(), source=source, destination="10.0.0.10"), CLIENT_FRAME)


def requests(h):
    return [m for m, _ in h.sent() if m.message_type in (MessageType.DISCOVER, MessageType.REQUEST)]


def serve(h, seconds, step=0.5, **reply):
    """
    A server that answers every DISCOVER with an OFFER and every REQUEST
    with an ACK built from C{reply}, for C{seconds} of client time; at
    most one answer per message, so the loop is bounded by what the
    client sends.
    """
    answered = 0

    def answer_all():
        nonlocal answered
        sent = h.sent()
        while answered < len(sent) and answered < 10_000:
            message, _ = sent[answered]
            answered += 1
            kind = {MessageType.DISCOVER: MessageType.OFFER, MessageType.REQUEST: MessageType.ACK}.get(
                message.message_type)
            if kind is not None:
                deliver(h, reply_to(message, kind, **reply))
            sent = h.sent()

    for _ in range(int(seconds / step)):
        answer_all()
        h.clock.advance(step)
    answer_all()


class ZeroLeaseTests(SynchronousTestCase):
    """
    Item 15. A server answering with lease time 0 made the client loop at
    wire speed (770 DISCOVERs and 796 REQUESTs in 3 s). dhclient rejects
    such an ACK; udhcpc binds once and stays quiet. We follow udhcpc: the
    lease is used as C{minimum_lease} (60 s) long, so the client binds once
    and renews every 30 s.
    """

    def test_lease_time_zero_binds_once_and_renews_slowly(self):
        h = AgentHarness(self)
        h.start()
        serve(h, 120, lease_time=0)
        sent = requests(h)
        # One DISCOVER, one REQUEST, then a renewal every 30 s: 4 in 120 s.
        self.assertLessEqual(len(sent), 6, [m.message_type for m in sent])
        self.assertEqual(sum(m.message_type == MessageType.DISCOVER for m in sent), 1)
        self.assertEqual(h.agent.machine.state, State.BOUND)
        self.assertEqual(h.spawn.actions.count("bound"), 1)
        self.assertNotIn("deconfig", h.spawn.actions)
        h.agent.stop()

    def test_tiny_t1_and_t2_do_not_renew_every_second(self):
        h = AgentHarness(self)
        h.start()
        serve(h, 120, lease_time=3600, options={Option.RENEWAL_TIME: 1, Option.REBINDING_TIME: 2})
        self.assertEqual(len(requests(h)), 2)  # T1 is the default 1800 s
        self.assertEqual(h.agent.machine.state, State.BOUND)
        h.agent.stop()

    def test_minimum_is_configurable(self):
        h = AgentHarness(self, schedule=Schedule(initial_delay=0.0, fuzz=0.0, minimum_lease=10.0))
        h.start()
        serve(h, 20, lease_time=0)
        self.assertEqual(h.agent.machine.bound.lease_time, 10)
        h.agent.stop()


class BadOptionTests(SynchronousTestCase):
    """
    Item 16. One malformed option must not discard the whole OFFER (the
    client would DISCOVER forever); udhcpc and dhclient bind in all three
    cases below. The bad option is ignored (counted in the API's drops, logged
    once) and the rest of the lease stands.
    """

    def bind_with(self, code, raw):
        h = AgentHarness(self)
        h.start()
        for kind in (MessageType.OFFER, MessageType.ACK):
            request, _ = h.last_sent()
            reply = reply_to(request, kind, lease_time=600, options={Option.ROUTER: [IPv4Address("10.0.0.1")]})
            reply.options[code] = raw
            deliver(h, reply)
        self.addCleanup(h.agent.stop)
        return h

    def test_mtu_as_four_bytes(self):
        h = self.bind_with(Option.INTERFACE_MTU, b"\0\0\x05\xdc")
        self.assertEqual(h.agent.machine.state, State.BOUND)
        self.assertEqual(h.configurator.calls_to("set_mtu"), [])
        self.assertEqual(h.agent.status()["drops"], {"malformed option 26 (ignored)": 2})

    def test_classless_route_prefix_33(self):
        h = self.bind_with(Option.CLASSLESS_STATIC_ROUTE, bytes([33, 10, 9, 0, 0, 0, 10, 0, 0, 1]))
        self.assertEqual(h.agent.machine.state, State.BOUND)
        # Option 121 unusable: the default route of option 3 stands.
        (route,) = h.configurator.calls_to("add_route")
        self.assertEqual((route["destination"], route["gateway"]), (IPv4Network("0.0.0.0/0"), IPv4Address("10.0.0.1")))

    def test_classless_route_host_bits_set(self):
        h = self.bind_with(Option.CLASSLESS_STATIC_ROUTE, bytes([12, 10, 9, 10, 0, 0, 1]))
        self.assertEqual(h.agent.machine.state, State.BOUND)
        self.assertIn("malformed option 121 (ignored)", h.agent.status()["drops"])

    def test_offer_without_server_identifier_uses_the_source(self):
        """
        udhcpc and dhclient take an OFFER without option 54; the REQUEST
        names the server by the reply's IP source address.
        """
        h = AgentHarness(self)
        h.start()
        discover, _ = h.last_sent()
        deliver(h, reply_to(discover, MessageType.OFFER, server=None), source="10.0.0.2")
        request, _ = h.last_sent()
        self.assertEqual(request.message_type, MessageType.REQUEST)
        self.assertEqual(request.option(Option.SERVER_ID), IPv4Address("10.0.0.2"))
        deliver(h, reply_to(request, MessageType.ACK, server=None), source="10.0.0.2")
        self.assertEqual(h.agent.machine.state, State.BOUND)
        self.assertEqual(h.agent.machine.bound.server_id, IPv4Address("10.0.0.2"))
        h.agent.stop()


class DropsShownTests(SynchronousTestCase):
    def test_offers_the_machine_drops_are_in_the_api_and_logged_once(self):
        from twisted.logger import globalLogPublisher

        logged = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        h = AgentHarness(self)
        h.start()
        discover, _ = h.last_sent()
        for _ in range(3):
            deliver(h, reply_to(discover, MessageType.OFFER, yiaddr=None))
        self.assertEqual(h.agent.status()["drops"], {"no address (yiaddr 0.0.0.0)": 3})
        lines = [e for e in logged if "ignoring reply" in e.get("log_format", "")]
        self.assertEqual(len(lines), 1)
        self.assertEqual(h.agent.machine.state, State.SELECTING)
        h.agent.stop()


class StaleLeaseTests(SynchronousTestCase):
    """
    Item 17. After SIGKILL, a move to another network and a restart, the
    client was NAKed and bound the new address while the old one and its
    route stayed until their lifetime ended, and only the nak hook ran.
    """

    def crashed(self):
        first = AgentHarness(self)
        first.bind()  # 10.0.0.10, then "SIGKILL": no stop, the lease file stays
        again = AgentHarness(self, state_dir=first.state_dir)
        again.clock.advance(10)
        again.start()
        self.addCleanup(again.agent.stop)
        return again

    def test_nak_of_the_persisted_lease_removes_it_and_runs_deconfig(self):
        h = self.crashed()
        h.answer(MessageType.NAK, options={Option.MESSAGE: "wrong network"}, server="10.1.0.1")
        self.assertEqual([c["interface"] for c in h.configurator.calls_to("remove_address")],
                         [IPv4Interface("10.0.0.10/24")])
        self.assertEqual([c["destination"] for c in h.configurator.calls_to("remove_route")], [IPv4Network("0.0.0.0/0")])
        self.assertEqual(h.spawn.actions, ["nak", "deconfig"])
        # Item 20: the nak hook gets the NAK's serverid and message.
        nak = h.spawn.processes[0].env
        self.assertEqual((nak["serverid"], nak["message"]), ("10.1.0.1", "wrong network"))
        h.answer(MessageType.OFFER, yiaddr="10.1.0.20", server="10.1.0.1")
        h.answer(MessageType.ACK, yiaddr="10.1.0.20", server="10.1.0.1")
        self.assertEqual(h.spawn.actions, ["nak", "deconfig", "bound"])

    def test_persisted_lease_replaced_after_silent_reboot(self):
        h = self.crashed()
        for _ in range(20):
            if h.agent.machine.state is State.SELECTING:
                break
            h.clock.advance(1)
        self.assertEqual(h.agent.machine.state, State.SELECTING)
        h.answer(MessageType.OFFER, yiaddr="10.1.0.20", server="10.1.0.1")
        h.answer(MessageType.ACK, yiaddr="10.1.0.20", server="10.1.0.1")
        self.assertEqual([c["interface"] for c in h.configurator.calls_to("remove_address")],
                         [IPv4Interface("10.0.0.10/24")])
        self.assertEqual(h.spawn.actions, ["deconfig", "bound"])
        self.assertEqual(h.agent.machine.bound.address, IPv4Address("10.1.0.20"))

    def test_same_address_again_is_not_removed(self):
        h = self.crashed()
        h.answer(MessageType.ACK)
        self.assertEqual(h.configurator.calls_to("remove_address"), [])
        self.assertEqual(h.spawn.actions, ["bound"])


class SourceAddressTests(SynchronousTestCase):
    """
    Item 19. RFC 2131 section 4.1: until the client holds an address its
    broadcasts carry source 0.0.0.0. The kernel put the address still on
    the interface (the expired lease being removed, the last run's after a
    crash) as the source; the packet socket does not.
    """

    def sources(self, h, kind):
        return [sent_message(data, address) for data, address in h.sockets.send.sent
                if sent_message(data, address)[0].message_type == kind]

    def test_discover_at_expiry_has_source_zero(self):
        h = AgentHarness(self)
        h.bind()
        h.clock.advance(h.agent.machine.bound.lease_time + 1)
        message, destination, source = self.sources(h, MessageType.DISCOVER)[-1]
        self.assertEqual(message.ciaddr, _ZERO)
        self.assertEqual((destination, source), (("255.255.255.255", 67), _ZERO))
        h.agent.stop()

    def test_init_reboot_request_has_source_zero(self):
        first = AgentHarness(self)
        first.bind()
        h = AgentHarness(self, state_dir=first.state_dir)
        h.start()
        message, destination, source = self.sources(h, MessageType.REQUEST)[-1]
        self.assertEqual(message.option(Option.REQUESTED_ADDRESS), IPv4Address("10.0.0.10"))
        self.assertEqual((destination, source), (("255.255.255.255", 67), _ZERO))
        h.agent.stop()

    def test_renewal_still_unicast_from_the_udp_socket(self):
        h = AgentHarness(self)
        h.bind()
        h.agent.request_renew()
        message, destination, source = self.sources(h, MessageType.REQUEST)[-1]
        self.assertEqual((destination, source), (("10.0.0.1", 67), None))
        h.agent.stop()


class OffSubnetRouterTests(SynchronousTestCase):
    """
    Item 20. A router outside the lease's subnet left no default route (the
    kernel answers ENETUNREACH); dhclient-script and systemd-networkd add
    an on-link host route to it first.
    """

    def test_on_link_route_before_the_default_route(self):
        h = AgentHarness(self)
        h.start()
        options = {Option.ROUTER: [IPv4Address("192.0.2.1")], Option.SUBNET_MASK: IPv4Address("255.255.255.255")}
        h.answer(MessageType.OFFER, options=options)
        h.answer(MessageType.ACK, options=options)
        routes = [(c["destination"], c["gateway"]) for c in h.configurator.calls_to("add_route")]
        self.assertEqual(routes, [(IPv4Network("192.0.2.1/32"), None), (IPv4Network("0.0.0.0/0"), IPv4Address("192.0.2.1"))])
        h.configurator.reset()
        h.agent.stop(release=True)
        removed = [c["destination"] for c in h.configurator.calls_to("remove_route")]
        self.assertEqual(removed, [IPv4Network("0.0.0.0/0"), IPv4Network("192.0.2.1/32")])

    def test_router_inside_the_subnet_needs_none(self):
        h = AgentHarness(self)
        h.bind()
        self.assertEqual(len(h.configurator.calls_to("add_route")), 1)
        h.agent.stop()


class HookValueLogTests(SynchronousTestCase):
    def test_bad_value_logged_once_per_variable_and_hook_still_runs(self):
        """
        Item 1: a rogue server repeats its value at every renewal; the log
        says so once, and every run still happens (with "bad", as busybox
        udhcpc gives it; NUL included).
        """
        from twisted.logger import globalLogPublisher

        logged = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        h = AgentHarness(self)
        h.start()
        for kind in (MessageType.OFFER, MessageType.ACK):
            request, _ = h.last_sent()
            reply = reply_to(request, kind, lease_time=600)
            reply.options[Option.DOMAIN_NAME] = b"e.x\nnameserver 6.6.6.6\0"
            reply.options[Option.HOST_NAME] = b"h\0;reboot"
            deliver(h, reply)
        for _ in range(2):
            h.agent.request_renew()
            request, _ = h.last_sent()
            reply = reply_to(request, MessageType.ACK, lease_time=600)
            reply.options[Option.DOMAIN_NAME] = b"e.x\nnameserver 6.6.6.6\0"
            deliver(h, reply)
        self.assertEqual(h.spawn.actions, ["bound", "renew", "renew"])
        self.assertEqual({p.env["domain"] for p in h.spawn.processes}, {"bad"})
        self.assertEqual(h.spawn.processes[0].env["hostname"], "bad")
        lines = [e for e in logged if "is not a valid value" in e.get("log_format", "")]
        self.assertEqual(sorted(e["name"] for e in lines), ["domain", "hostname"])
        h.agent.stop()


class NakTextLogTests(SynchronousTestCase):
    def test_nak_message_logged_without_control_bytes(self):
        """
        A NAK's message text put CR and ANSI escapes into the text log
        (issue 16 item 2, the client's side).
        """
        from twisted.logger import globalLogPublisher

        logged = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        h = AgentHarness(self)
        h.bind()
        h.agent.request_renew()
        h.answer(MessageType.NAK, options={Option.MESSAGE: "no\r\n\x1b[2Jforged line"})
        (event,) = [e for e in logged if e.get("log_format", "").startswith("{ifname}: NAK from")]
        self.assertEqual(event["text"], "no???[2Jforged line")
        h.agent.stop()
