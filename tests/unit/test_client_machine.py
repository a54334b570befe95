"""
The pure client state machine: transitions, acceptance rules, timers, and
every state x event combination.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Network

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.core import machine as m
from dhcpsuite.client.core.lease import Lease, RouteSpec
from dhcpsuite.client.core.machine import (
    TRANSITIONS,
    ClientMachine,
    Configure,
    Deconfigure,
    Notify,
    Probe,
    Send,
    Settings,
    State,
    StateChanged,
    TransactionDone,
)
from dhcpsuite.client.testing import reply_to
from dhcpsuite.client.core.schedule import Schedule
from dhcpsuite.dhcp4.constants import FLAG_BROADCAST, MessageType, Option
from dhcpsuite.dhcp4.options import ClasslessRoute
from dhcpsuite.dhcp4.packet import Message

MAC = bytes.fromhex("020000000001")
T0 = 100.0
WALL = 1_800_000_000.0
SCHEDULE = Schedule(initial_delay=1.0, fuzz=0.0)


def sends(actions):
    return [a for a in actions if isinstance(a, Send)]


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def make(settings=None, schedule=SCHEDULE, remembered=None, seed=1):
    return ClientMachine(settings or Settings(mac=MAC, client_id=b"\x01" + MAC), schedule, random.Random(seed),
                         "eth0", remembered)


class Driver:
    """
    Drives a machine through a scripted server to a wanted state.
    """

    def __init__(self, machine, lease_time=3600, options=None):
        self.m = machine
        self.now = T0
        self.last = []
        self.lease_time = lease_time
        self.options = options or {}

    def feed(self, actions):
        self.last = actions
        return actions

    def last_request(self):
        sent = sends(self.last)
        return sent[-1].message if sent else None

    def start(self):
        return self.feed(self.m.start(self.now, WALL))

    def fire(self):
        self.now = self.m.next_deadline()
        return self.feed(self.m.tick(self.now, WALL + self.now))

    def at(self, when):
        self.now = when
        return self.feed(self.m.tick(self.now, WALL + self.now))

    def reply(self, kind, **kw):
        request = self._request()
        kw.setdefault("lease_time", self.lease_time)
        kw.setdefault("options", self.options)
        return self.feed(self.m.receive(reply_to(request, kind, **kw), self.now, WALL + self.now))

    def _request(self):
        return Message(op=1, xid=self.m.xid, chaddr=self.m.settings.mac)


def drive(state, machine=None, **kw):
    """
    A machine in C{state}, with its driver.
    """
    if state in (State.INIT_REBOOT, State.REBOOTING) and machine is None:
        machine = make(remembered=remembered_lease())
    if state is State.INFORMING and machine is None:
        machine = make(Settings(mac=MAC, inform_address=IPv4Address("10.0.0.50")))
    d = Driver(machine or make(), **kw)
    if state is State.STOPPED:
        return d
    d.start()
    if state in (State.INIT, State.INIT_REBOOT, State.INFORMING):
        return d
    if state is State.REBOOTING:
        d.fire()
        return d
    d.fire()  # DISCOVER
    if state is State.SELECTING:
        return d
    d.reply(MessageType.OFFER)
    if state is State.REQUESTING:
        return d
    d.reply(MessageType.ACK)
    if state is State.BOUND:
        return d
    d.at(d.m.bound.renew_at)
    if state is State.RENEWING:
        return d
    d.at(d.m.bound.rebind_at)
    assert d.m.state is State.REBINDING
    return d


def remembered_lease(address="10.0.0.10", lease_time=3600, acquired=T0 - 10):
    ack = reply_to(Message(op=1, xid=1, chaddr=MAC), MessageType.ACK, yiaddr=address, lease_time=lease_time)
    return Lease.from_ack(ack, acquired, WALL + acquired)


class TransitionTableTests(SynchronousTestCase):
    def test_every_state_has_a_row(self):
        self.assertEqual(set(TRANSITIONS), set(State))

    def test_stopped_reachable_from_every_running_state(self):
        for state in State:
            if state is not State.STOPPED:
                self.assertIn(State.STOPPED, TRANSITIONS[state], state)

    def test_illegal_transition_raises(self):
        machine = make()
        self.assertRaises(AssertionError, machine._set_state, State.BOUND, "test", [])

    def test_transitions_are_logged_with_cause(self):
        d = drive(State.BOUND)
        causes = [(c.old, c.new) for c in d.m.history]
        self.assertEqual(causes, [
            (State.STOPPED, State.INIT), (State.INIT, State.SELECTING),
            (State.SELECTING, State.REQUESTING), (State.REQUESTING, State.BOUND),
        ])
        self.assertIn("OFFER of 10.0.0.10", d.m.history[2].cause)


class AcquisitionTests(SynchronousTestCase):
    def test_initial_delay_then_discover(self):
        d = drive(State.INIT)
        self.assertEqual(sends(d.last), [])
        self.assertTrue(T0 <= d.m.deadlines[m.Deadline.START] <= T0 + 1.0)
        d.fire()
        (send,) = sends(d.last)
        self.assertEqual(send.message.message_type, MessageType.DISCOVER)
        self.assertIsNone(send.server)

    def test_zero_initial_delay_sends_at_once(self):
        machine = make(schedule=Schedule(initial_delay=0.0))
        actions = machine.start(T0)
        self.assertEqual(machine.state, State.SELECTING)
        self.assertEqual(sends(actions)[0].message.message_type, MessageType.DISCOVER)

    def test_discover_options(self):
        settings = Settings(mac=MAC, client_id=b"\x01" + MAC, hostname="gw", vendor_class=b"dhcpsuite",
                            rapid_commit=True, max_message_size=1500)
        d = drive(State.SELECTING, make(settings))
        message = d.last_request()
        self.assertEqual(message.option(Option.CLIENT_ID), b"\x01" + MAC)
        self.assertEqual(message.option(Option.HOST_NAME), "gw")
        self.assertEqual(message.option(Option.VENDOR_CLASS_ID), b"dhcpsuite")
        self.assertEqual(message.option(Option.MAX_MESSAGE_SIZE), 1500)
        self.assertTrue(message.option(Option.RAPID_COMMIT))
        prl = list(message.option(Option.PARAMETER_REQUEST_LIST))
        self.assertLess(prl.index(121), prl.index(3))
        self.assertLess(prl.index(121), prl.index(33))
        self.assertEqual(message.chaddr[:6], MAC)
        self.assertEqual(message.flags, 0)

    def test_broadcast_flag(self):
        d = drive(State.SELECTING, make(Settings(mac=MAC, broadcast_flag=True)))
        self.assertEqual(d.last_request().flags, FLAG_BROADCAST)

    def test_retransmission_schedule(self):
        """
        RFC 2131 section 4.1: 4, 8, 16, 32, 64, 64 s between DISCOVERs, and
        each retransmission keeps the xid of the first (udhcpc and dhclient
        keep it too, so a late OFFER to an earlier copy is still taken).
        """
        d = drive(State.SELECTING)
        times = [d.now]
        discovers = [d.last_request()]
        for _ in range(6):
            d.fire()
            times.append(d.now)
            discovers.append(d.last_request())
        gaps = [round(b - a, 6) for a, b in zip(times, times[1:])]
        self.assertEqual(gaps, [4.0, 8.0, 16.0, 32.0, 64.0, 64.0])
        self.assertEqual([m.message_type for m in discovers], [MessageType.DISCOVER] * 7)
        self.assertEqual({m.xid for m in discovers}, {d.m.xid})

    def test_retransmission_fuzz(self):
        machine = make(schedule=Schedule(initial_delay=0.5, fuzz=1.0))
        d = drive(State.SELECTING, machine)
        start = d.now
        d.fire()
        self.assertTrue(3.0 <= d.now - start <= 5.0)

    def test_leasefail_after_unanswered_discovers(self):
        d = drive(State.SELECTING)
        told = []
        for _ in range(5):
            told += of(d.fire(), Notify)
        self.assertEqual([n.event for n in told], [m.Event.LEASEFAIL])

    def test_request_after_offer(self):
        d = drive(State.REQUESTING)
        request = d.last_request()
        self.assertEqual(request.message_type, MessageType.REQUEST)
        self.assertEqual(request.option(Option.REQUESTED_ADDRESS), IPv4Address("10.0.0.10"))
        self.assertEqual(request.option(Option.SERVER_ID), IPv4Address("10.0.0.1"))
        self.assertEqual(request.ciaddr, IPv4Address(0))

    def test_request_retry_limit_then_init(self):
        d = drive(State.REQUESTING)
        first_xid = d.m.xid
        for _ in range(SCHEDULE.request_attempts - 1):
            d.fire()
            self.assertEqual(d.m.state, State.REQUESTING)
        d.fire()
        # Back to INIT and, restart delay 0, a new DISCOVER at once.
        self.assertEqual(d.m.state, State.SELECTING)
        self.assertEqual(d.last_request().message_type, MessageType.DISCOVER)
        self.assertNotEqual(d.m.xid, first_xid)
        self.assertIn(TransactionDone("failed"), d.last)

    def test_offer_window_collects_and_prefers_previous_address(self):
        machine = make(schedule=Schedule(initial_delay=0.5, fuzz=0.0, offer_window=0.5),
                       remembered=remembered_lease("10.0.0.77", lease_time=10, acquired=0.0))
        d = drive(State.SELECTING, machine)
        d.reply(MessageType.OFFER, yiaddr="10.0.0.20")
        self.assertEqual(d.m.state, State.SELECTING)
        d.reply(MessageType.OFFER, yiaddr="10.0.0.77", server="10.0.0.2")
        d.fire()
        self.assertEqual(d.m.state, State.REQUESTING)
        self.assertEqual(d.last_request().option(Option.REQUESTED_ADDRESS), IPv4Address("10.0.0.77"))
        self.assertEqual(d.last_request().option(Option.SERVER_ID), IPv4Address("10.0.0.2"))

    def test_ack_binds(self):
        d = drive(State.BOUND)
        (configure,) = of(d.last, Configure)
        self.assertEqual(configure.event, m.Event.BOUND)
        self.assertEqual(configure.lease.interface.with_prefixlen, "10.0.0.10/24")
        self.assertEqual(d.m.deadlines[m.Deadline.T1], configure.lease.acquired + 1800)
        self.assertEqual(d.m.deadlines[m.Deadline.T2], configure.lease.acquired + 3150)
        self.assertEqual(d.m.deadlines[m.Deadline.EXPIRY], configure.lease.acquired + 3600)
        self.assertIn(TransactionDone("bound", configure.lease), d.last)

    def test_lease_counts_from_request(self):
        d = drive(State.REQUESTING)
        sent = d.now
        d.now += 0.5
        d.reply(MessageType.ACK)
        self.assertEqual(d.m.bound.acquired, sent)
        self.assertEqual(d.m.bound.acquired_wall, WALL + sent)

    def test_rapid_commit_ack_in_selecting(self):
        d = drive(State.SELECTING, make(Settings(mac=MAC, rapid_commit=True)))
        d.reply(MessageType.ACK, options={Option.RAPID_COMMIT: True})
        self.assertEqual(d.m.state, State.BOUND)

    def test_infinite_lease_arms_nothing(self):
        d = drive(State.BOUND, lease_time=0xFFFFFFFF)
        self.assertEqual(d.m.deadlines, {})
        self.assertIsNone(d.m.bound.lease_time)

    def test_server_t1_t2_used_when_sane(self):
        d = drive(State.BOUND, lease_time=120, options={Option.RENEWAL_TIME: 30, Option.REBINDING_TIME: 50})
        lease = d.m.bound
        self.assertEqual((lease.t1, lease.t2), (30.0, 50.0))

    def test_server_t1_t2_insane_replaced(self):
        d = drive(State.BOUND, lease_time=120, options={Option.RENEWAL_TIME: 100, Option.REBINDING_TIME: 50})
        self.assertEqual((d.m.bound.t1, d.m.bound.t2), (60.0, 105.0))


class AcceptanceTests(SynchronousTestCase):
    def test_offer_only_while_selecting(self):
        for state in (State.REQUESTING, State.BOUND, State.RENEWING, State.REBINDING, State.REBOOTING):
            d = drive(state)
            before = d.m.state
            d.reply(MessageType.OFFER)
            self.assertEqual(d.m.state, before)
            self.assertEqual(d.last, [])

    def test_ack_without_rapid_commit_ignored_while_selecting(self):
        d = drive(State.SELECTING)
        d.reply(MessageType.ACK)
        self.assertEqual(d.m.state, State.SELECTING)
        self.assertEqual(d.m.drops, {"ACK without rapid commit in SELECTING": 1})

    def test_xid_mismatch(self):
        d = drive(State.SELECTING)
        offer = reply_to(Message(op=1, xid=d.m.xid ^ 1, chaddr=MAC), MessageType.OFFER)
        self.assertEqual(d.m.receive(offer, d.now), [])
        self.assertEqual(d.m.drops, {"xid mismatch": 1})

    def test_chaddr_mismatch(self):
        d = drive(State.SELECTING)
        offer = reply_to(Message(op=1, xid=d.m.xid, chaddr=b"\x02" * 6), MessageType.OFFER)
        self.assertEqual(d.m.receive(offer, d.now), [])
        self.assertEqual(d.m.drops, {"chaddr mismatch": 1})

    def test_not_a_reply(self):
        d = drive(State.SELECTING)
        offer = reply_to(Message(op=1, xid=d.m.xid, chaddr=MAC), MessageType.OFFER)
        offer.op = 1
        self.assertEqual(d.m.receive(offer, d.now), [])

    def test_offer_without_server_id_or_address(self):
        d = drive(State.SELECTING)
        d.reply(MessageType.OFFER, server=None)
        d.reply(MessageType.OFFER, yiaddr="0.0.0.0")
        self.assertEqual(d.m.state, State.SELECTING)
        self.assertEqual(d.m.drops, {"no server identifier": 1, "no address (yiaddr 0.0.0.0)": 1})

    def test_ack_without_lease_time(self):
        d = drive(State.REQUESTING)
        d.reply(MessageType.ACK, lease_time=None)
        self.assertEqual(d.m.state, State.REQUESTING)
        self.assertEqual(d.m.drops, {"ACK without lease time": 1})

    def test_ack_from_other_server_while_requesting(self):
        d = drive(State.REQUESTING)
        d.reply(MessageType.ACK, server="10.0.0.99")
        self.assertEqual(d.m.state, State.REQUESTING)

    def test_nak_from_unexpected_server_ignored(self):
        d = drive(State.REQUESTING)
        d.reply(MessageType.NAK, server="10.0.0.99")
        self.assertEqual(d.m.state, State.REQUESTING)
        self.assertEqual(d.m.drops, {"NAK from unexpected server": 1})
        d = drive(State.RENEWING)
        d.reply(MessageType.NAK, server="10.0.0.99")
        self.assertEqual(d.m.state, State.RENEWING)

    def test_nak_from_any_server_while_rebinding(self):
        d = drive(State.REBINDING)
        d.reply(MessageType.NAK, server="10.0.0.99")
        self.assertEqual(d.m.state, State.SELECTING)

    def test_nothing_accepted_while_probing(self):
        d = drive(State.REQUESTING, make(Settings(mac=MAC, arp_probe=True)))
        d.reply(MessageType.ACK)
        self.assertEqual(of(d.last, Probe), [Probe(IPv4Address("10.0.0.10"))])
        d.reply(MessageType.ACK)
        self.assertEqual(d.last, [])


class RenewTests(SynchronousTestCase):
    def test_t1_unicast_renew(self):
        d = drive(State.RENEWING)
        (send,) = sends(d.last)
        self.assertEqual(send.server, IPv4Address("10.0.0.1"))
        self.assertEqual(send.message.ciaddr, IPv4Address("10.0.0.10"))
        self.assertIsNone(send.message.option(Option.REQUESTED_ADDRESS))
        self.assertIsNone(send.message.option(Option.SERVER_ID))

    def test_renew_ack_extends(self):
        d = drive(State.RENEWING)
        d.reply(MessageType.ACK)
        (configure,) = of(d.last, Configure)
        self.assertEqual(configure.event, m.Event.EXTEND)
        self.assertEqual(d.m.state, State.BOUND)
        self.assertEqual(d.m.deadlines[m.Deadline.EXPIRY], d.now + 3600)

    def test_renewing_resend_half_of_time_to_t2(self):
        d = drive(State.RENEWING)
        t1 = d.now
        d.fire()
        self.assertEqual(d.now - t1, (3150 - 1800) / 2)

    def test_renewing_resend_at_least_60s(self):
        d = drive(State.RENEWING, lease_time=100)
        # T1 50, T2 87.5: half of 37.5 is 18.75 -> 60, which is past T2.
        self.assertEqual(d.m.deadlines[m.Deadline.RESEND] - d.now, 60.0)
        d.fire()
        self.assertEqual(d.m.state, State.REBINDING)

    def test_rebinding_broadcast(self):
        d = drive(State.REBINDING)
        (send,) = sends(d.last)
        self.assertIsNone(send.server)
        self.assertEqual(send.message.ciaddr, IPv4Address("10.0.0.10"))
        self.assertEqual(d.m.deadlines[m.Deadline.RESEND] - d.now, (3600 - 3150) / 2)

    def test_expiry_deconfigures_and_restarts(self):
        d = drive(State.REBINDING)
        lease = d.m.bound
        d.at(lease.expires_at)
        self.assertEqual(of(d.last, Deconfigure), [Deconfigure(lease, m.Event.EXPIRE, forget=True)])
        self.assertEqual(d.m.state, State.SELECTING)
        self.assertIsNone(d.m.bound)

    def test_nak_while_renewing_deconfigures(self):
        d = drive(State.RENEWING)
        lease = d.m.bound
        d.reply(MessageType.NAK)
        (deconfigure,) = of(d.last, Deconfigure)
        self.assertEqual((deconfigure.lease, deconfigure.event, deconfigure.forget), (lease, m.Event.NAK, True))
        # The hook's nak gets the NAK's serverid and message (item 16.20).
        self.assertEqual(deconfigure.reply.message_type, MessageType.NAK)
        self.assertEqual(d.m.state, State.SELECTING)
        self.assertEqual(d.m.deadlines.keys() & {m.Deadline.T1, m.Deadline.T2, m.Deadline.EXPIRY}, set())

    def test_nak_restart_backs_off(self):
        d = drive(State.REQUESTING)
        d.reply(MessageType.NAK)
        self.assertEqual(d.m.state, State.SELECTING)  # first restart at once
        d.reply(MessageType.OFFER)
        d.reply(MessageType.NAK)
        self.assertEqual(d.m.state, State.INIT)
        self.assertEqual(d.m.deadlines[m.Deadline.START] - d.now, 1.0)

    def test_ack_with_new_address_drops_old(self):
        d = drive(State.REBINDING)
        old = d.m.bound
        d.reply(MessageType.ACK, yiaddr="10.0.0.11")
        self.assertEqual(of(d.last, Deconfigure), [Deconfigure(old, m.Event.DROP, forget=False)])
        self.assertEqual([c.event for c in of(d.last, Configure)], [m.Event.BOUND])


class TransactionTests(SynchronousTestCase):
    def test_renew_request_while_bound_starts_renewing(self):
        d = drive(State.BOUND)
        actions, joined = d.m.renew(d.now)
        self.assertFalse(joined)
        self.assertEqual(d.m.state, State.RENEWING)
        self.assertEqual(len(sends(actions)), 1)

    def test_renew_request_joins_pending(self):
        d = drive(State.RENEWING)
        xid = d.m.xid
        actions, joined = d.m.renew(d.now + 1)
        self.assertTrue(joined)
        self.assertEqual(actions, [])
        self.assertEqual(d.m.xid, xid)

    def test_renew_request_during_initial_delay_goes_now(self):
        d = drive(State.INIT)
        actions, joined = d.m.renew(d.now)
        self.assertEqual(d.m.state, State.SELECTING)
        self.assertEqual(len(sends(actions)), 1)


class RebootTests(SynchronousTestCase):
    def test_start_with_remembered_lease(self):
        d = drive(State.REBOOTING)
        request = d.last_request()
        self.assertEqual(request.option(Option.REQUESTED_ADDRESS), IPv4Address("10.0.0.10"))
        self.assertIsNone(request.option(Option.SERVER_ID))
        self.assertEqual(request.ciaddr, IPv4Address(0))

    def test_expired_remembered_lease_means_init(self):
        machine = make(remembered=remembered_lease(lease_time=5, acquired=T0 - 10))
        d = drive(State.INIT, machine)
        self.assertEqual(d.m.state, State.INIT)
        d.fire()
        self.assertEqual(d.last_request().option(Option.REQUESTED_ADDRESS), IPv4Address("10.0.0.10"))

    def test_rebooting_ack_binds(self):
        d = drive(State.REBOOTING)
        d.reply(MessageType.ACK)
        self.assertEqual([c.event for c in of(d.last, Configure)], [m.Event.BOUND])

    def test_rebooting_nak_goes_init(self):
        d = drive(State.REBOOTING)
        remembered = d.m.remembered
        d.reply(MessageType.NAK)
        self.assertEqual(d.m.state, State.SELECTING)
        self.assertIsNone(d.last_request().option(Option.REQUESTED_ADDRESS))
        # The last run's lease may still be on the interface (a crash):
        # removed, with nak then deconfig for the hook (item 16.17).
        self.assertEqual(of(d.last, Notify), [])
        self.assertEqual([(c.lease, c.event) for c in of(d.last, Deconfigure)], [(remembered, m.Event.NAK)])

    def test_carrier_reverify_nak_is_not_stale(self):
        # A lease verified after a carrier bounce is the bound one: one
        # Deconfigure, not two.
        d = drive(State.BOUND)
        d.feed(d.m.carrier_lost(d.now))
        d.feed(d.m.carrier_up(d.now))
        d.reply(MessageType.NAK)
        self.assertEqual(len(of(d.last, Deconfigure)), 1)

    def test_rebooting_faster_and_gives_up(self):
        d = drive(State.REBOOTING)
        start = d.now
        d.fire()
        self.assertEqual(d.now - start, 1.0)
        d.fire()
        d.fire()
        self.assertEqual(d.m.state, State.SELECTING)


class CarrierTests(SynchronousTestCase):
    def test_carrier_lost_marks_unverified_and_silences(self):
        d = drive(State.BOUND)
        d.feed(d.m.carrier_lost(d.now))
        self.assertFalse(d.m.verified)
        self.assertEqual(d.m.state, State.BOUND)
        d.at(d.m.bound.renew_at)
        self.assertEqual(d.m.state, State.RENEWING)
        self.assertEqual(sends(d.last), [])

    def test_carrier_up_reverifies_at_once(self):
        d = drive(State.BOUND)
        lease = d.m.bound
        d.m.carrier_lost(d.now)
        d.now += 5
        actions = d.feed(d.m.carrier_up(d.now))
        self.assertEqual(d.m.state, State.REBOOTING)
        (send,) = sends(actions)
        self.assertEqual(send.message.option(Option.REQUESTED_ADDRESS), lease.address)
        d.reply(MessageType.ACK)
        self.assertEqual([c.event for c in of(d.last, Configure)], [m.Event.EXTEND])
        self.assertTrue(d.m.verified)

    def test_carrier_up_no_reply_keeps_unexpired_lease(self):
        d = drive(State.BOUND)
        d.m.carrier_lost(d.now)
        d.m.carrier_up(d.now + 1)
        for _ in range(3):
            d.fire()
        self.assertEqual(d.m.state, State.BOUND)
        self.assertFalse(d.m.verified)
        self.assertIn(m.Deadline.T1, d.m.deadlines)

    def test_carrier_up_without_lease_restarts_discover(self):
        d = drive(State.SELECTING)
        d.m.carrier_lost(d.now)
        actions = d.m.carrier_up(d.now + 30)
        self.assertEqual(d.m.state, State.SELECTING)
        self.assertEqual(sends(actions)[0].message.message_type, MessageType.DISCOVER)

    def test_carrier_up_when_not_lost_is_nothing(self):
        d = drive(State.BOUND)
        self.assertEqual(d.m.carrier_up(d.now), [])

    def test_hardware_change_forgets_lease(self):
        d = drive(State.BOUND)
        lease = d.m.bound
        new_mac = bytes.fromhex("020000000002")
        actions = d.m.hardware_changed(new_mac, d.now)
        self.assertIn(Deconfigure(lease, m.Event.DROP, forget=True), actions)
        self.assertEqual(d.m.state, State.SELECTING)
        request = sends(actions)[0].message
        self.assertEqual(request.chaddr[:6], new_mac)
        self.assertEqual(request.option(Option.CLIENT_ID), b"\x01" + new_mac)


class SuspendTests(SynchronousTestCase):
    def test_suspend_past_t2_goes_straight_to_rebinding(self):
        d = drive(State.BOUND)
        d.at(d.m.bound.acquired + 3300)
        self.assertEqual([c.new for c in of(d.last, StateChanged)], [State.REBINDING])

    def test_suspend_past_expiry_reverifies(self):
        d = drive(State.BOUND)
        lease = d.m.bound
        d.at(lease.expires_at + 600)
        self.assertEqual(of(d.last, Deconfigure), [Deconfigure(lease, m.Event.EXPIRE, forget=False)])
        self.assertEqual(d.m.state, State.REBOOTING)
        self.assertEqual(d.last_request().option(Option.REQUESTED_ADDRESS), lease.address)


class ProbeTests(SynchronousTestCase):
    def test_no_conflict_binds(self):
        d = drive(State.REQUESTING, make(Settings(mac=MAC, arp_probe=True)))
        d.reply(MessageType.ACK)
        self.assertEqual(d.m.state, State.REQUESTING)
        actions = d.m.probe_result(False, d.now + 2)
        self.assertEqual([c.event for c in of(actions, Configure)], [m.Event.BOUND])

    def test_conflict_declines_and_waits(self):
        d = drive(State.REQUESTING, make(Settings(mac=MAC, arp_probe=True)))
        d.reply(MessageType.ACK)
        actions = d.m.probe_result(True, d.now)
        (send,) = sends(actions)
        self.assertEqual(send.message.message_type, MessageType.DECLINE)
        self.assertEqual(send.message.option(Option.REQUESTED_ADDRESS), IPv4Address("10.0.0.10"))
        self.assertEqual(send.message.option(Option.SERVER_ID), IPv4Address("10.0.0.1"))
        self.assertEqual(d.m.state, State.INIT)
        self.assertEqual(d.m.deadlines[m.Deadline.START] - d.now, SCHEDULE.decline_delay)

    def test_renew_does_not_probe(self):
        d = drive(State.RENEWING, make(Settings(mac=MAC, arp_probe=False)))
        d.m.settings = Settings(mac=MAC, arp_probe=True)
        d.reply(MessageType.ACK)
        self.assertEqual(d.m.state, State.BOUND)


class StopTests(SynchronousTestCase):
    def test_release(self):
        d = drive(State.BOUND)
        lease = d.m.bound
        actions = d.m.stop(d.now, release=True)
        (send,) = sends(actions)
        self.assertEqual(send.message.message_type, MessageType.RELEASE)
        self.assertEqual(send.server, lease.server_id)
        self.assertEqual(send.message.ciaddr, lease.address)
        self.assertEqual(send.message.option(Option.SERVER_ID), lease.server_id)
        self.assertEqual(of(actions, Deconfigure), [Deconfigure(lease, m.Event.RELEASE, forget=True)])
        self.assertEqual(actions.index(send) < actions.index(of(actions, Deconfigure)[0]), True)
        self.assertEqual(d.m.deadlines, {})

    def test_drop_keeps_lease(self):
        d = drive(State.BOUND)
        lease = d.m.bound
        actions = d.m.stop(d.now, release=False)
        self.assertEqual(sends(actions), [])
        self.assertEqual(of(actions, Deconfigure), [Deconfigure(lease, m.Event.DROP, forget=False)])
        self.assertIs(d.m.remembered, lease)


class InformTests(SynchronousTestCase):
    def test_inform(self):
        d = drive(State.INFORMING)
        d.fire()
        request = d.last_request()
        self.assertEqual(request.message_type, MessageType.INFORM)
        self.assertEqual(request.ciaddr, IPv4Address("10.0.0.50"))
        ack = reply_to(request, MessageType.ACK, yiaddr=None, lease_time=None,
                       options={Option.DOMAIN_NAME_SERVER: [IPv4Address("10.0.0.53")]})
        actions = d.m.receive(ack, d.now)
        (notify,) = of(actions, Notify)
        self.assertEqual(notify.event, m.Event.INFORM)
        self.assertIn(TransactionDone("informed"), actions)
        self.assertNotIn(m.Deadline.RESEND, d.m.deadlines)


class LeaseTests(SynchronousTestCase):
    def test_routes_default(self):
        lease = drive(State.BOUND, options={Option.ROUTER: [IPv4Address("10.0.0.1")]}).m.bound
        self.assertEqual(lease.routes(), [RouteSpec(IPv4Network("0.0.0.0/0"), IPv4Address("10.0.0.1"))])

    def test_classless_routes_override_router_and_static(self):
        lease = drive(State.BOUND, options={
            Option.ROUTER: [IPv4Address("10.0.0.1")],
            Option.STATIC_ROUTE: [IPv4Address("192.168.5.0"), IPv4Address("10.0.0.2")],
            Option.CLASSLESS_STATIC_ROUTE: [
                ClasslessRoute(IPv4Network("10.9.0.0/16"), IPv4Address("0.0.0.0")),
                ClasslessRoute(IPv4Network("0.0.0.0/0"), IPv4Address("10.0.0.254")),
            ],
        }).m.bound
        self.assertEqual(lease.routes(), [
            RouteSpec(IPv4Network("10.9.0.0/16"), None),
            RouteSpec(IPv4Network("0.0.0.0/0"), IPv4Address("10.0.0.254")),
        ])

    def test_static_routes_classful(self):
        lease = drive(State.BOUND, options={
            Option.STATIC_ROUTE: [IPv4Address("192.168.5.0"), IPv4Address("10.0.0.2")],
        }).m.bound
        self.assertEqual(lease.routes(), [RouteSpec(IPv4Network("192.168.5.0/24"), IPv4Address("10.0.0.2"))])

    def test_mtu_minimum(self):
        self.assertEqual(drive(State.BOUND, options={Option.INTERFACE_MTU: 1400}).m.bound.mtu, 1400)
        self.assertIsNone(drive(State.BOUND, options={Option.INTERFACE_MTU: 60}).m.bound.mtu)


# ---- every state x every event ----

EVENTS = ("start", "offer", "ack", "nak", "timer", "carrier_lost", "carrier_up", "renew",
          "stop_release", "stop_drop", "probe_clear", "hardware_changed")

S = State
# state -> event -> state afterwards
EXPECTED = {
    S.STOPPED: dict(start=S.INIT, offer=S.STOPPED, ack=S.STOPPED, nak=S.STOPPED, timer=S.STOPPED,
                    carrier_lost=S.STOPPED, carrier_up=S.STOPPED, renew=S.STOPPED, stop_release=S.STOPPED,
                    stop_drop=S.STOPPED, probe_clear=S.STOPPED, hardware_changed=S.STOPPED),
    S.INIT: dict(start=S.INIT, offer=S.INIT, ack=S.INIT, nak=S.INIT, timer=S.SELECTING, carrier_lost=S.INIT,
                 carrier_up=S.SELECTING, renew=S.SELECTING, stop_release=S.STOPPED, stop_drop=S.STOPPED,
                 probe_clear=S.INIT, hardware_changed=S.SELECTING),
    S.SELECTING: dict(start=S.SELECTING, offer=S.REQUESTING, ack=S.SELECTING, nak=S.SELECTING,
                      timer=S.SELECTING, carrier_lost=S.SELECTING, carrier_up=S.SELECTING, renew=S.SELECTING,
                      stop_release=S.STOPPED, stop_drop=S.STOPPED, probe_clear=S.SELECTING,
                      hardware_changed=S.SELECTING),
    S.REQUESTING: dict(start=S.REQUESTING, offer=S.REQUESTING, ack=S.BOUND, nak=S.SELECTING,
                       timer=S.REQUESTING, carrier_lost=S.REQUESTING, carrier_up=S.SELECTING,
                       renew=S.REQUESTING, stop_release=S.STOPPED, stop_drop=S.STOPPED,
                       probe_clear=S.REQUESTING, hardware_changed=S.SELECTING),
    S.BOUND: dict(start=S.BOUND, offer=S.BOUND, ack=S.BOUND, nak=S.BOUND, timer=S.RENEWING,
                  carrier_lost=S.BOUND, carrier_up=S.REBOOTING, renew=S.RENEWING, stop_release=S.STOPPED,
                  stop_drop=S.STOPPED, probe_clear=S.BOUND, hardware_changed=S.SELECTING),
    S.RENEWING: dict(start=S.RENEWING, offer=S.RENEWING, ack=S.BOUND, nak=S.SELECTING, timer=S.RENEWING,
                     carrier_lost=S.RENEWING, carrier_up=S.REBOOTING, renew=S.RENEWING,
                     stop_release=S.STOPPED, stop_drop=S.STOPPED, probe_clear=S.RENEWING,
                     hardware_changed=S.SELECTING),
    S.REBINDING: dict(start=S.REBINDING, offer=S.REBINDING, ack=S.BOUND, nak=S.SELECTING, timer=S.REBINDING,
                      carrier_lost=S.REBINDING, carrier_up=S.REBOOTING, renew=S.REBINDING,
                      stop_release=S.STOPPED, stop_drop=S.STOPPED, probe_clear=S.REBINDING,
                      hardware_changed=S.SELECTING),
    S.INIT_REBOOT: dict(start=S.INIT_REBOOT, offer=S.INIT_REBOOT, ack=S.INIT_REBOOT, nak=S.INIT_REBOOT,
                        timer=S.REBOOTING, carrier_lost=S.INIT_REBOOT, carrier_up=S.REBOOTING,
                        renew=S.REBOOTING, stop_release=S.STOPPED, stop_drop=S.STOPPED,
                        probe_clear=S.INIT_REBOOT, hardware_changed=S.SELECTING),
    S.REBOOTING: dict(start=S.REBOOTING, offer=S.REBOOTING, ack=S.BOUND, nak=S.SELECTING, timer=S.REBOOTING,
                      carrier_lost=S.REBOOTING, carrier_up=S.REBOOTING, renew=S.REBOOTING,
                      stop_release=S.STOPPED, stop_drop=S.STOPPED, probe_clear=S.REBOOTING,
                      hardware_changed=S.SELECTING),
    S.INFORMING: dict(start=S.INFORMING, offer=S.INFORMING, ack=S.INFORMING, nak=S.INFORMING,
                      timer=S.INFORMING, carrier_lost=S.INFORMING, carrier_up=S.INFORMING, renew=S.INFORMING,
                      stop_release=S.STOPPED, stop_drop=S.STOPPED, probe_clear=S.INFORMING,
                      hardware_changed=S.INFORMING),
}


def apply_event(d: Driver, event: str) -> list:
    machine = d.m
    if event == "start":
        return machine.start(d.now)
    if event in ("offer", "ack", "nak"):
        kind = {"offer": MessageType.OFFER, "ack": MessageType.ACK, "nak": MessageType.NAK}[event]
        return d.reply(kind)
    if event == "timer":
        return d.fire() if machine.deadlines else []
    if event == "carrier_lost":
        return machine.carrier_lost(d.now)
    if event == "carrier_up":
        machine.carrier_lost(d.now)
        return machine.carrier_up(d.now + 1)
    if event == "renew":
        return machine.renew(d.now)[0]
    if event == "stop_release":
        return machine.stop(d.now, release=True)
    if event == "stop_drop":
        return machine.stop(d.now, release=False)
    if event == "probe_clear":
        return machine.probe_result(False, d.now)
    if event == "hardware_changed":
        return machine.hardware_changed(bytes.fromhex("020000000009"), d.now)
    raise AssertionError(event)


class StateEventMatrixTests(SynchronousTestCase):
    """
    One test per (state, event): the state afterwards, and every transition
    taken is in the table (L{ClientMachine._set_state} raises otherwise).
    """

    def test_matrix_is_complete(self):
        self.assertEqual(set(EXPECTED), set(State))
        for row in EXPECTED.values():
            self.assertEqual(set(row), set(EVENTS))


def _matrix_test(state: State, event: str):
    def test(self):
        d = drive(state)
        self.assertEqual(d.m.state, state)
        actions = apply_event(d, event)
        self.assertEqual(d.m.state, EXPECTED[state][event], f"{state.value} + {event}")
        for change in of(actions, StateChanged):
            self.assertIn(change.new, TRANSITIONS[change.old])
        if d.m.state is State.STOPPED:
            self.assertEqual(d.m.deadlines, {})
        elif d.m.carrier and d.m.state is not State.BOUND:
            # Every running state other than BOUND has something to wait for.
            self.assertTrue(d.m.deadlines or d.m.probing or d.m.state is State.INFORMING, d.m.deadlines)
        if d.m.state in m.LEASED:
            self.assertIsNotNone(d.m.bound)

    test.__name__ = f"test_{state.name.lower()}_{event}"
    return test


for _state in State:
    for _event in EVENTS:
        _test = _matrix_test(_state, _event)
        setattr(StateEventMatrixTests, _test.__name__, _test)
del _state, _event, _test


class RebindRequestTests(SynchronousTestCase):
    """
    The control API's "rebind": ask any server, by broadcast, at once.
    """

    def test_rebind_from_bound(self):
        d = drive(State.BOUND)
        actions, joined = d.m.renew(d.now + 10, WALL + d.now + 10, rebind=True)
        self.assertFalse(joined)
        self.assertEqual(d.m.state, State.REBINDING)
        (send,) = sends(actions)
        self.assertIsNone(send.server)
        self.assertEqual(send.message.ciaddr, IPv4Address("10.0.0.10"))
        self.assertIsNone(send.message.option(Option.SERVER_ID))

    def test_rebind_while_renewing_turns_into_rebinding(self):
        d = drive(State.RENEWING)
        actions, joined = d.m.renew(d.now + 1, WALL + d.now + 1, rebind=True)
        self.assertTrue(joined)
        self.assertEqual(d.m.state, State.REBINDING)
        self.assertIsNone(sends(actions)[0].server)

    def test_rebind_without_lease_acquires(self):
        d = drive(State.INIT)
        actions, joined = d.m.renew(d.now, WALL + d.now, rebind=True)
        self.assertTrue(joined)
        self.assertEqual(d.m.state, State.SELECTING)


class HistoryBoundTests(SynchronousTestCase):
    def test_history_keeps_only_the_latest_transitions(self) -> None:
        """
        A client agent runs for months: its transition history is bounded
        to the last HISTORY_LENGTH entries, newest last.
        """
        from dhcpsuite.client.core.machine import HISTORY_LENGTH

        d = Driver(make())
        d.start()
        for _ in range(HISTORY_LENGTH):
            # stop/start cycles each add transitions through the one setter.
            d.m.stop(d.now, release=False)
            d.start()
        self.assertEqual(len(d.m.history), HISTORY_LENGTH)
        self.assertEqual(d.m.history[-1].new, d.m.state)
