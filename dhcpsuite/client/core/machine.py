# -*- test-case-name: tests.unit.test_client_machine -*-
"""
The DHCPv4 client as a pure state machine (RFC 2131 section 4.4, with the
UEFI driver's states and the Solaris dhcpagent's one-transaction-per-
interface rule).

It never touches a socket or a clock: every input is a method call carrying
the current monotonic time (C{CLOCK_BOOTTIME} seconds), every output is a
list of actions (send this, configure that, run that hook) and the deadlines
in L{ClientMachine.deadlines}, which the shell arms as timers and answers
with L{ClientMachine.tick}.

One function, L{ClientMachine._set_state}, changes state: it checks the
transition table, logs the cause and resets the per-state counters. One
function, L{ClientMachine._acceptable}, decides which replies a state takes.
"""

from __future__ import annotations

import enum
from ipaddress import IPv4Address
from collections import deque
from collections.abc import Callable, Hashable

from dhcpsuite.client.core.dnsnames import printable
from dhcpsuite.client.core.lease import Lease
from dhcpsuite.client.core.schedule import (
    Schedule,
    renew_resend_delay,
    restart_delay,
    retransmit_delay,
)
from dhcpsuite.dhcp4.constants import (
    BOOTREPLY,
    BOOTREQUEST,
    FLAG_BROADCAST,
    HTYPE_ETHERNET,
    MessageType,
    Option,
)
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.options import decode_value
from dhcpsuite.dhcp4.packet import Message
from dhcpsuite.lazylog import LazyLogger
from dhcpsuite.records import Record, evolve
from dhcpsuite.simpleenum import simple_enum

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path does not import typing
    from typing import Any

    from dhcpsuite.client.system.urandom import RandomSource

_ZERO = IPv4Address(0)


# Transitions kept per machine for the API and the status page.
HISTORY_LENGTH = 64


@simple_enum(enum.Enum)
class State:
    INIT = "INIT"
    SELECTING = "SELECTING"
    REQUESTING = "REQUESTING"
    BOUND = "BOUND"
    RENEWING = "RENEWING"
    REBINDING = "REBINDING"
    INIT_REBOOT = "INIT-REBOOT"
    REBOOTING = "REBOOTING"
    INFORMING = "INFORMING"
    STOPPED = "STOPPED"


S = State
# The one table of allowed transitions. A self-loop is a restart of that state.
TRANSITIONS: dict[State, frozenset[State]] = {
    S.STOPPED: frozenset({S.INIT, S.INIT_REBOOT, S.INFORMING}),
    S.INIT: frozenset({S.INIT, S.SELECTING, S.INIT_REBOOT, S.STOPPED}),
    S.SELECTING: frozenset({S.REQUESTING, S.BOUND, S.INIT, S.INIT_REBOOT, S.STOPPED}),
    S.REQUESTING: frozenset({S.BOUND, S.INIT, S.INIT_REBOOT, S.STOPPED}),
    S.BOUND: frozenset({S.RENEWING, S.REBINDING, S.INIT, S.INIT_REBOOT, S.STOPPED}),
    S.RENEWING: frozenset({S.BOUND, S.REBINDING, S.INIT, S.INIT_REBOOT, S.STOPPED}),
    S.REBINDING: frozenset({S.BOUND, S.INIT, S.INIT_REBOOT, S.STOPPED}),
    S.INIT_REBOOT: frozenset({S.INIT_REBOOT, S.REBOOTING, S.INIT, S.STOPPED}),
    S.REBOOTING: frozenset({S.BOUND, S.INIT, S.INIT_REBOOT, S.STOPPED}),
    S.INFORMING: frozenset({S.INFORMING, S.STOPPED}),
}

# Which replies each state takes (RFC 2131 section 4.4; sd-dhcp's
# dhcp_option_parse_and_verify). Everything else is dropped with a reason.
ACCEPTS: dict[State, frozenset[int]] = {
    S.SELECTING: frozenset({MessageType.OFFER, MessageType.ACK}),  # ACK only under rapid commit
    S.REQUESTING: frozenset({MessageType.ACK, MessageType.NAK}),
    S.RENEWING: frozenset({MessageType.ACK, MessageType.NAK}),
    S.REBINDING: frozenset({MessageType.ACK, MessageType.NAK}),
    S.REBOOTING: frozenset({MessageType.ACK, MessageType.NAK}),
    S.INFORMING: frozenset({MessageType.ACK}),
}

# States in which a transaction (dhcpagent's async_action) is under way.
BUSY = frozenset({S.SELECTING, S.REQUESTING, S.RENEWING, S.REBINDING, S.REBOOTING, S.INIT, S.INIT_REBOOT})
# States that hold a lease the interface may be using.
LEASED = frozenset({S.BOUND, S.RENEWING, S.REBINDING})


@simple_enum(enum.StrEnum)
class Event:
    """
    What happened to the lease, as hooks, the lease registry (its C{cause})
    and observers are told (dhcpagent's names); each hook's udhcpc action
    is in L{dhcpsuite.client.shell.hooks.UDHCPC_ACTIONS}.
    """

    BOUND = "BOUND"
    EXTEND = "EXTEND"
    EXPIRE = "EXPIRE"
    DROP = "DROP"
    RELEASE = "RELEASE"
    NAK = "NAK"
    LEASEFAIL = "LEASEFAIL"
    INFORM = "INFORM"


@simple_enum(enum.StrEnum)
class Outcome:
    """
    How a transaction ended (L{TransactionDone}; what a control API caller
    waiting on a renewal is told).
    """

    BOUND = "bound"
    EXTENDED = "extended"
    NAK = "nak"
    FAILED = "failed"
    STOPPED = "stopped"
    INFORMED = "informed"


@simple_enum(enum.StrEnum)
class Deadline:
    """
    The machine's timers (L{ClientMachine.deadlines}); the values are what
    the control API shows as C{next_timer}.
    """

    START = "start"
    RESEND = "resend"
    COLLECT = "collect"
    T1 = "t1"
    T2 = "t2"
    EXPIRY = "expiry"


D = Deadline
LEASE_TIMERS = (D.T1, D.T2, D.EXPIRY)

# A timer that fires this much after its deadline was slept through (suspend).
SUSPEND_SLACK = 2.0

DEFAULT_REQUEST_OPTIONS = (
    Option.SUBNET_MASK,
    Option.BROADCAST_ADDRESS,
    Option.TIME_OFFSET,
    # RFC 3442 section 4: 121 must come before 3 and 33 so that servers which
    # send only what fits in order favour the classless routes.
    Option.CLASSLESS_STATIC_ROUTE,
    Option.ROUTER,
    Option.STATIC_ROUTE,
    Option.DOMAIN_NAME_SERVER,
    Option.HOST_NAME,
    Option.DOMAIN_NAME,
    Option.INTERFACE_MTU,
    Option.NTP_SERVERS,
    Option.DOMAIN_SEARCH,
)


# ---- actions ----


class Send(Record):
    """
    Put C{message} on the wire: broadcast to port 67 when C{server} is
    L{None}, else unicast to C{server}:67.
    """

    message: Message
    server: IPv4Address | None = None


class Configure(Record):
    """
    Apply C{lease} (address, routes, MTU), then run hooks for C{event}
    (C{BOUND} or C{EXTEND}), record it in the registry and persist it.
    C{applied}: the configurator calls were already made (by the early
    path), only the rest is left to do.
    """

    lease: Lease
    event: Event
    applied: bool = False


class Deconfigure(Record):
    """
    Remove C{lease} from the interface and tell hooks and registry
    (C{EXPIRE}, C{NAK}, C{RELEASE} or C{DROP}). C{forget}: delete the
    persisted lease too (kept for C{DROP}, so a restart can INIT-REBOOT).
    C{reply}: the message that took the lease away (a NAK), for the hook.
    """

    lease: Lease
    event: Event
    forget: bool = True
    reply: Message | None = None


class Notify(Record):
    """
    An event with no interface change (C{NAK} while not bound, C{LEASEFAIL},
    C{INFORM}): hooks only. C{reply} is the message that caused it, if any.
    """

    event: Event
    lease: Lease | None = None
    reply: Message | None = None


class Probe(Record):
    """
    Check C{address} for a conflict (RFC 5227) and answer with
    L{ClientMachine.probe_result}.
    """

    address: IPv4Address


class TransactionDone(Record):
    """
    The current transaction ended, with C{outcome}.
    """

    outcome: Outcome
    lease: Lease | None = None


class StateChanged(Record):
    old: State
    new: State
    cause: str


# What the machine asks of its driver (L{dhcpsuite.client.driver}).
Action = Send | Configure | Deconfigure | Notify | Probe | TransactionDone | StateChanged


class Settings(Record):
    """
    What the machine puts in its messages. Frozen: changing settings means
    a new machine (sd-dhcp's -EBUSY rule).
    """

    mac: bytes
    client_id: bytes | None = None
    hostname: str | None = None
    vendor_class: bytes | None = None
    request_options: tuple[int, ...] = tuple(int(o) for o in DEFAULT_REQUEST_OPTIONS)
    max_message_size: int = 1500
    broadcast_flag: bool = False
    rapid_commit: bool = False
    arp_probe: bool = False
    inform_address: IPv4Address | None = None


class ClientMachine:
    """
    One interface's DHCPv4 client.

    @ivar bound: the lease applied to the interface (configured), or L{None}.
    @ivar remembered: a lease to try again in INIT-REBOOT (persisted, or the
        bound one once its validity is in doubt).
    @ivar verified: L{False} once carrier was lost while holding a lease,
        until a server confirms it again.
    @ivar stale: the lease persisted by the previous run, which may still
        be on the interface (after a crash the kernel keeps the address
        until its lifetime ends): removed when a server refuses it or
        another lease replaces it.
    @ivar drops: replies not taken, by reason.
    @ivar bad_options: malformed options ignored in replies taken, by code.
    @ivar history: the last L{HISTORY_LENGTH} transitions as L{StateChanged},
        for tests and the control API (bounded: an agent runs for months).
    """

    log = LazyLogger()

    def __init__(
        self,
        settings: Settings,
        schedule: Schedule = Schedule(),
        rng: RandomSource | None = None,
        ifname: str = "",
        remembered: Lease | None = None,
    ) -> None:
        self.settings = settings
        self.schedule = schedule
        if rng is None:
            import random  # here: the early path passes its own and does not import random

            rng = random.Random()
        self.rng = rng
        self.ifname = ifname
        self.state = S.STOPPED
        self.bound: Lease | None = None
        self.remembered = remembered
        self.stale = remembered
        self.verified = True
        self.carrier = True
        self.deadlines: dict[Deadline, float] = {}
        self.history: deque[StateChanged] = deque(maxlen=HISTORY_LENGTH)
        self.xid = 0
        self.attempt = 0
        self.restarts = 0
        self.started_at = 0.0  # monotonic start of the current acquisition (for secs)
        self.sent_at = 0.0  # monotonic time of the first REQUEST of this transaction
        self.wall_offset = 0.0  # wall - monotonic when the last input came in
        self.offers: list[Message] = []
        self.selected: Message | None = None
        self.probing: Lease | None = None
        self.leasefail_told = False
        self.drops: dict[str, int] = {}
        self.bad_options: dict[int, int] = {}
        self._told: set[Hashable] = set()

    # ---- the one place state changes ----

    def _set_state(self, new: State, cause: str, out: list) -> None:
        old = self.state
        if new not in TRANSITIONS[old]:
            raise AssertionError(f"{self.ifname}: transition {old.value} -> {new.value} is not allowed ({cause})")
        self.state = new
        self.attempt = 0
        change = StateChanged(old, new, cause)
        self.history.append(change)
        out.append(change)
        self.log.info(
            "{ifname}: state {old} -> {new} ({cause})", ifname=self.ifname, old=old.value, new=new.value, cause=cause
        )

    # ---- inputs ----

    def start(self, now: float, wall: float | None = None) -> list:
        """
        Begin: INFORMING for a static address, INIT-REBOOT with a remembered
        lease that has not expired, INIT otherwise; after the random initial
        delay.
        """
        out: list = []
        self._clock(now, wall)
        if self.state is not S.STOPPED:
            return out
        if self.settings.inform_address is not None:
            self._set_state(S.INFORMING, "start", out)
            self._arm(D.START, now + self._initial_delay())
            return out
        if self.remembered is not None and self._remembered_valid(now):
            self._set_state(S.INIT_REBOOT, "start with remembered lease", out)
        else:
            self._set_state(S.INIT, "start", out)
        delay = self._initial_delay()
        if delay <= 0 and self.carrier:
            self._on_start(now, out)
        else:
            self._arm(D.START, now + delay)
        return out

    def tick(self, now: float, wall: float | None = None) -> list:
        """
        Run every deadline that is due at C{now}.
        """
        out: list = []
        self._clock(now, wall)
        # Lease deadlines first, latest due one only: after a long suspend
        # T1, T2 and expiry may all be due, and only the last one matters.
        for name in (D.EXPIRY, D.T2, D.T1):
            deadline = self.deadlines.get(name)
            if deadline is not None and deadline <= now:
                for lease_timer in LEASE_TIMERS[: LEASE_TIMERS.index(name) + 1]:
                    self.deadlines.pop(lease_timer, None)
                self._lease_timer(name, deadline, now, out)
                break
        for name in (D.START, D.COLLECT, D.RESEND):
            deadline = self.deadlines.get(name)
            if deadline is not None and deadline <= now:
                del self.deadlines[name]
                self._TRANSACTION_TIMERS[name](self, now, out)
        return out

    def receive(self, message: Message, now: float, wall: float | None = None,
                source: IPv4Address | None = None) -> list:
        """
        @param source: the IP source address of the reply: the server
            identifier of an OFFER or ACK that has none (or a malformed one),
            as udhcpc and dhclient use it.
        """
        out: list = []
        self._clock(now, wall)
        if source is not None and source != _ZERO and _server_id(message) is None and (
                message.message_type in (MessageType.OFFER, MessageType.ACK)):
            self._once("no-server-id", "{ifname}: reply from {source} has no server identifier; using {source}",
                       source=source)
            message.set_option(Option.SERVER_ID, source)
        reason = self._acceptable(message)
        if reason is not None:
            self.drops[reason] = self.drops.get(reason, 0) + 1
            self._once(("drop", reason), "{ifname}: ignoring reply: {reason} (counted; logged once)", reason=reason,
                       level="info")
            return out
        self._check_options(message)
        kind = message.message_type
        if kind == MessageType.OFFER:
            self._on_offer(message, now, out)
        elif kind == MessageType.NAK:
            self._on_nak(message, now, out)
        elif self.state is S.INFORMING:
            self._on_inform_ack(message, now, out)
        else:
            self._on_ack(message, now, out)
        return out

    def renew(self, now: float, wall: float | None = None, rebind: bool = False) -> tuple[list, bool]:
        """
        Someone (the control API) wants the lease renewed or acquired now.

        @param rebind: ask any server (broadcast REQUEST, RFC 2131 §4.4.5
            REBINDING) rather than the one that gave the lease; a renewal
            under way is turned into a rebind.
        @return: the actions, and whether this joined a transaction already
            under way (dhcpagent's async_action: never a second one).
        """
        out: list = []
        self._clock(now, wall)
        if rebind and self.state in (S.BOUND, S.RENEWING):
            was_renewing = self.state is S.RENEWING
            self._begin(S.REBINDING, "rebind requested", now, out)
            return out, was_renewing
        if self.state in (S.INIT, S.INIT_REBOOT) and D.START in self.deadlines:
            # Waiting out the initial delay or a restart backoff: go now.
            del self.deadlines[D.START]
            self._on_start(now, out)
            return out, True
        if self.state in BUSY:
            return out, True
        if self.state is S.BOUND:
            self._begin(S.RENEWING, "renew requested", now, out)
            return out, False
        if self.state is S.INFORMING:
            self.deadlines.pop(D.START, None)
            self._send_inform(now, out, new_transaction=True)
            return out, False
        return out, False

    def carrier_lost(self, now: float, wall: float | None = None) -> list:
        """
        The link went down: the lease can no longer be trusted until a server
        confirms it; nothing is sent until the carrier is back.
        """
        out: list = []
        self._clock(now, wall)
        self.carrier = False
        if self.bound is not None:
            self.verified = False
        return out

    def carrier_up(self, now: float, wall: float | None = None) -> list:
        """
        The link is back: verify at once (INIT-REBOOT with the lease we hold
        or remember, as dhcpcd does), or acquire at once.
        """
        out: list = []
        self._clock(now, wall)
        was_down = not self.carrier
        self.carrier = True
        if self.state is S.STOPPED or not was_down:
            return out
        if self.state is S.INFORMING:
            self.deadlines.pop(D.START, None)
            self._send_inform(now, out, new_transaction=True)
            return out
        self._cancel(D.START, D.RESEND, D.COLLECT)
        self.restarts = 0
        if self.bound is not None:
            self.remembered = self.bound
        if self.remembered is not None and self._remembered_valid(now):
            self._set_state(S.INIT_REBOOT, "carrier up", out)
        else:
            self._set_state(S.INIT, "carrier up", out)
        self._on_start(now, out)
        return out

    def hardware_changed(self, mac: bytes, now: float, wall: float | None = None) -> list:
        """
        The interface has a new MAC: it is a new client to the server; the
        old lease belongs to the old identity.
        """
        out: list = []
        self._clock(now, wall)
        if mac == self.settings.mac:
            return out
        client_id = self.settings.client_id
        if client_id is not None and client_id[:1] == b"\x01" and client_id[1:] == self.settings.mac:
            client_id = b"\x01" + mac
        self.settings = evolve(self.settings, mac=mac, client_id=client_id)
        lease = self.bound or self.stale
        if lease is not None:
            out.append(Deconfigure(lease, Event.DROP, forget=True))
        self.bound = self.stale = None
        self.remembered = None
        self.verified = True
        if self.state in (S.STOPPED, S.INFORMING):
            return out
        self._cancel(D.START, D.RESEND, D.COLLECT, *LEASE_TIMERS)
        self._set_state(S.INIT, "hardware address changed", out)
        if self.carrier:
            self._on_start(now, out)
        return out

    def probe_result(self, conflict: bool, now: float, wall: float | None = None) -> list:
        out: list = []
        self._clock(now, wall)
        lease, self.probing = self.probing, None
        if lease is None:
            return out
        if not conflict:
            self._bind(lease, now, out)
            return out
        self.log.warn("{ifname}: {address} is in use by another host; declining", ifname=self.ifname, address=lease.address)
        decline = self._message(MessageType.DECLINE, now)
        decline.set_option(Option.REQUESTED_ADDRESS, lease.address)
        decline.set_option(Option.SERVER_ID, lease.server_id)
        decline.set_option(Option.MESSAGE, "address in use")
        decline.options.pop(Option.HOST_NAME, None)
        self._emit_send(decline, None, out)
        self.remembered = None
        out.append(TransactionDone(Outcome.FAILED))
        self._restart(S.INIT, "address conflict", now, out, delay=self.schedule.decline_delay)
        return out

    def stop(self, now: float, release: bool, wall: float | None = None) -> list:
        """
        Stop: RELEASE (send it, deconfigure, forget) when C{release}, else
        DROP (deconfigure, keep the lease for INIT-REBOOT next time).
        """
        out: list = []
        self._clock(now, wall)
        if self.state is S.STOPPED:
            return out
        if self.state in BUSY:
            out.append(TransactionDone(Outcome.STOPPED))
        self.probing = None
        lease = self.bound
        if lease is not None:
            if release:
                message = self._message(MessageType.RELEASE, now, ciaddr=lease.address)
                for code in (Option.HOST_NAME, Option.VENDOR_CLASS_ID):
                    message.options.pop(int(code), None)
                message.set_option(Option.SERVER_ID, lease.server_id)
                self._emit_send(message, lease.server_id, out)
                out.append(Deconfigure(lease, Event.RELEASE, forget=True))
                self.remembered = None
            else:
                out.append(Deconfigure(lease, Event.DROP, forget=False))
                self.remembered = lease
            self.bound = None
        self.deadlines.clear()
        self._set_state(S.STOPPED, "release" if release and lease is not None else "stop", out)
        return out

    # ---- timers ----

    def _on_start(self, now: float, out: list) -> None:
        if self.state is S.INIT:
            self._begin(S.SELECTING, "sending DISCOVER", now, out)
        elif self.state is S.INIT_REBOOT:
            self._begin(S.REBOOTING, f"verifying {self.remembered.address}", now, out)
        elif self.state is S.INFORMING:
            self._send_inform(now, out, new_transaction=True)

    def _on_collect(self, now: float, out: list) -> None:
        if self.state is S.SELECTING and self.offers:
            self._select(self._best_offer(), now, out)

    def _on_resend(self, now: float, out: list) -> None:
        state = self.state
        self.attempt += 1
        if state is S.SELECTING:
            if self.attempt >= self.schedule.leasefail_after and not self.leasefail_told:
                self.leasefail_told = True
                out.append(Notify(Event.LEASEFAIL))
            self._send_discover(now, out)
        elif state is S.REQUESTING:
            if self.attempt >= self.schedule.request_attempts:
                out.append(TransactionDone(Outcome.FAILED))
                self._restart(S.INIT, "no reply to REQUEST", now, out)
                return
            self._send_request(now, out)
        elif state is S.REBOOTING:
            if self.attempt >= self.schedule.reboot_attempts:
                self._reboot_gave_up(now, out)
                return
            self._send_request(now, out)
        elif state in (S.RENEWING, S.REBINDING):
            self._send_request(now, out)
        elif state is S.INFORMING:
            self._send_inform(now, out, new_transaction=False)

    def _lease_timer(self, name: Deadline, deadline: float, now: float, out: list) -> None:
        lease = self.bound
        if lease is None:
            return
        if name == D.EXPIRY:
            slept = now - deadline > SUSPEND_SLACK
            self._expire(lease, now, out, slept)
        elif name == D.T2 and self.state in (S.BOUND, S.RENEWING):
            self._begin(S.REBINDING, "T2", now, out)
        elif name == D.T1 and self.state is S.BOUND:
            self._begin(S.RENEWING, "T1", now, out)

    def _expire(self, lease: Lease, now: float, out: list, slept: bool) -> None:
        self.bound = None
        self._cancel(D.RESEND, D.COLLECT, D.START)
        if self.state in BUSY:
            out.append(TransactionDone(Outcome.FAILED))
        out.append(Deconfigure(lease, Event.EXPIRE, forget=not slept))
        if slept:
            # The lease ran out while we were suspended: it is not to be
            # trusted, but the server may well still hold it for us.
            self.remembered = lease
            self._restart(S.INIT_REBOOT, "lease expired during suspend", now, out, delay=0.0)
        else:
            self.remembered = None
            self._restart(S.INIT, "lease expired", now, out, delay=0.0)

    # ---- acquisition ----

    def _begin(self, state: State, cause: str, now: float, out: list[Action]) -> None:
        """
        Start a transaction in C{state}: a new xid, C{secs} and the lease's
        start counted from now, and its first message sent.
        """
        self._set_state(state, cause, out)
        self.xid = self._new_xid()
        self.started_at = now
        self.sent_at = now
        if state is S.SELECTING:
            self.offers = []
            self.selected = None
            self.leasefail_told = False
            self._send_discover(now, out)
        else:
            self._send_request(now, out)

    def _send_discover(self, now: float, out: list) -> None:
        message = self._message(MessageType.DISCOVER, now)
        if self.remembered is not None:
            message.set_option(Option.REQUESTED_ADDRESS, self.remembered.address)
        if self.settings.rapid_commit:
            message.set_option(Option.RAPID_COMMIT, True)
        self._emit_send(message, None, out)
        self._arm(D.RESEND, now + retransmit_delay(self.schedule, self.attempt, self.rng))

    def _on_offer(self, offer: Message, now: float, out: list) -> None:
        self.offers.append(offer)
        if self.schedule.offer_window <= 0:
            self._select(offer, now, out)
        elif D.COLLECT not in self.deadlines:
            self._arm(D.COLLECT, now + self.schedule.offer_window)

    def _best_offer(self) -> Message:
        # The address we had before, if offered; else the first offer.
        if self.remembered is not None:
            for offer in self.offers:
                if offer.yiaddr == self.remembered.address:
                    return offer
        return self.offers[0]

    def _select(self, offer: Message, now: float, out: list) -> None:
        self.selected = offer
        self.offers = []
        self._cancel(D.COLLECT, D.RESEND)
        self._set_state(S.REQUESTING, f"OFFER of {offer.yiaddr} from {offer.option(Option.SERVER_ID)}", out)
        self.sent_at = now
        self._send_request(now, out)

    def _reboot_gave_up(self, now: float, out: list) -> None:
        lease = self.bound
        if lease is not None and self.remembered is lease and lease.remaining(now) != 0:
            # RFC 2131 section 3.2 step 5 allows using the lease for the rest
            # of its time; it stays unverified.
            self._set_state(S.BOUND, "no reply to INIT-REBOOT; keeping the unexpired lease", out)
            out.append(TransactionDone(Outcome.FAILED, lease))
            self._arm_lease_timers(lease, now)
            return
        out.append(TransactionDone(Outcome.FAILED))
        self._restart(S.INIT, "no reply to INIT-REBOOT", now, out, delay=0.0)

    def _send_request(self, now: float, out: list) -> None:
        state = self.state
        if state is S.REQUESTING:
            message = self._message(MessageType.REQUEST, now)
            message.set_option(Option.REQUESTED_ADDRESS, self.selected.yiaddr)
            message.set_option(Option.SERVER_ID, self.selected.option(Option.SERVER_ID))
            server = None
            delay = retransmit_delay(self.schedule, self.attempt, self.rng)
        elif state is S.REBOOTING:
            message = self._message(MessageType.REQUEST, now)
            message.set_option(Option.REQUESTED_ADDRESS, self.remembered.address)
            server = None
            delay = retransmit_delay(self.schedule, self.attempt, self.rng, self.schedule.reboot_divisor)
        else:
            lease = self.bound
            message = self._message(MessageType.REQUEST, now, ciaddr=lease.address)
            # RENEWING is unicast to the server that gave the lease, REBINDING
            # broadcast to any (RFC 2131 section 4.4.5).
            server = lease.server_id if state is S.RENEWING else None
            deadline = lease.rebind_at if state is S.RENEWING else lease.expires_at
            delay = renew_resend_delay(self.schedule, now, deadline)
            self.sent_at = now
        self._emit_send(message, server, out)
        self._arm(D.RESEND, now + delay)

    def _on_ack(self, ack: Message, now: float, out: list) -> None:
        minimum = self.schedule.minimum_lease
        lease = Lease.from_ack(ack, self.sent_at, self.sent_at + self.wall_offset, minimum, self.schedule.minimum_t1)
        offered = _lease_time(ack)
        if offered is not None and offered < minimum:
            self._once("short-lease", "{ifname}: lease time {offered} s from {server} is below the minimum; "
                       "using {minimum} s", offered=offered, server=lease.server_id, minimum=minimum)
        self._cancel(D.RESEND, D.COLLECT)
        if self.state in (S.SELECTING, S.REQUESTING) and self.settings.arp_probe and not lease.same_binding(self.bound):
            self.probing = lease
            out.append(Probe(lease.address))
            return
        self._bind(lease, now, out)

    def _bind(self, lease: Lease, now: float, out: list) -> None:
        previous = self.bound
        stale, self.stale = self.stale, None
        if previous is None and stale is not None and not lease.same_binding(stale):
            # The last run's address, maybe still on the interface: replaced.
            out.append(Deconfigure(stale, Event.DROP, forget=False))
        if previous is not None and not lease.same_binding(previous):
            out.append(Deconfigure(previous, Event.DROP, forget=False))
            previous = None
        event = Event.EXTEND if previous is not None else Event.BOUND
        self.bound = lease
        self.remembered = None
        self.verified = True
        self.restarts = 0
        self._set_state(S.BOUND, f"ACK {lease.address} from {lease.server_id}, lease {lease.lease_time}", out)
        out.append(Configure(lease, event))
        out.append(TransactionDone(Outcome.EXTENDED if event is Event.EXTEND else Outcome.BOUND, lease))
        self._arm_lease_timers(lease, now)

    def _arm_lease_timers(self, lease: Lease, now: float) -> None:
        self._cancel(*LEASE_TIMERS)
        if lease.expires_at is None:
            return
        self._arm(D.T1, lease.renew_at)
        self._arm(D.T2, lease.rebind_at)
        self._arm(D.EXPIRY, lease.expires_at)

    def _on_nak(self, nak: Message, now: float, out: list) -> None:
        self.log.info(
            "{ifname}: NAK from {server}: {text}",
            ifname=self.ifname, server=_server_id(nak), text=_text(nak),
        )
        lease = self.bound or self.stale
        self._cancel(D.RESEND, D.COLLECT, *LEASE_TIMERS)
        self.bound = None
        self.remembered = None
        self.stale = None
        if lease is not None:
            out.append(Deconfigure(lease, Event.NAK, forget=True, reply=nak))
        else:
            out.append(Notify(Event.NAK, None, nak))
        out.append(TransactionDone(Outcome.NAK))
        self._restart(S.INIT, "NAK", now, out)

    def _restart(self, state: State, cause: str, now: float, out: list, delay: float | None = None) -> None:
        if delay is None:
            delay = restart_delay(self.schedule, self.restarts)
        self.restarts += 1
        self._cancel(D.RESEND, D.COLLECT)
        self._set_state(state, cause, out)
        if delay <= 0 and self.carrier:
            self._on_start(now, out)
        else:
            self._arm(D.START, now + delay)

    # ---- INFORM ----

    def _send_inform(self, now: float, out: list, new_transaction: bool) -> None:
        if new_transaction:
            self.xid = self._new_xid()
            self.started_at = now
            self.attempt = 0
        message = self._message(MessageType.INFORM, now, ciaddr=self.settings.inform_address)
        self._emit_send(message, None, out)
        self._arm(D.RESEND, now + retransmit_delay(self.schedule, self.attempt, self.rng))

    def _on_inform_ack(self, ack: Message, now: float, out: list) -> None:
        self._cancel(D.RESEND)
        out.append(Notify(Event.INFORM, None, ack))
        out.append(TransactionDone(Outcome.INFORMED))

    # ---- acceptance: the one place ----

    def _acceptable(self, message: Message) -> str | None:
        """
        @return: L{None} when the current state takes C{message}, else why not.
        """
        accepted = ACCEPTS.get(self.state)
        if accepted is None or self.probing is not None:
            return f"not waiting for replies in {self.state.value}"
        if message.op != BOOTREPLY:
            return "not a BOOTREPLY"
        if message.xid != self.xid:
            return "xid mismatch"
        if message.hardware_address != self.settings.mac:
            return "chaddr mismatch"
        kind = message.message_type
        if kind not in accepted:
            return f"{_kind_name(kind)} not accepted in {self.state.value}"
        try:
            server_id = message.option(Option.SERVER_ID)
            lease_time = message.option(Option.LEASE_TIME)
            rapid = message.option(Option.RAPID_COMMIT)
        except DecodeError as e:
            return f"malformed option ({e})"
        if kind == MessageType.ACK and self.state is S.SELECTING and not (self.settings.rapid_commit and rapid):
            return "ACK without rapid commit in SELECTING"
        expected = self._expected_server()
        if kind == MessageType.NAK:
            if expected is not None and server_id is not None and server_id != expected:
                return "NAK from unexpected server"
            return None
        if self.state is S.INFORMING:
            return None
        if message.yiaddr == _ZERO:
            return "no address (yiaddr 0.0.0.0)"
        if server_id is None:
            return "no server identifier"
        if kind == MessageType.ACK:
            if lease_time is None:
                return "ACK without lease time"
            if expected is not None and server_id != expected:
                return "ACK from unexpected server"
        return None

    def _expected_server(self) -> IPv4Address | None:
        if self.state is S.REQUESTING and self.selected is not None:
            return self.selected.option(Option.SERVER_ID)
        if self.state is S.RENEWING and self.bound is not None:
            return self.bound.server_id
        return None

    def _check_options(self, message: Message) -> None:
        """
        Count and log (once per option) the malformed options of a reply
        taken: each is ignored where it would be used, and the rest of the
        lease stands (udhcpc and dhclient bind too).
        """
        bad = {code: "set aside by the codec" for code in message.malformed_options}
        for code, raw in message.options.items():
            try:
                decode_value(code, raw)
            except DecodeError as e:
                bad[code] = str(e)
        for code, error in sorted(bad.items()):
            self.bad_options[code] = self.bad_options.get(code, 0) + 1
            self._once(("bad-option", code), "{ifname}: ignoring malformed option {code} from {server}: {error}",
                       code=code, server=_server_id(message), error=error)

    def _once(self, key: Hashable, text: str, level: str = "warn", **fields: Any) -> None:
        # A server repeats itself on every exchange; one line per kind is enough.
        if key not in self._told:
            self._told.add(key)
            getattr(self.log, level)(text, ifname=self.ifname, **fields)

    # ---- building messages ----

    def _message(self, kind: int, now: float, ciaddr: IPv4Address = _ZERO) -> Message:
        settings = self.settings
        flags = FLAG_BROADCAST if settings.broadcast_flag and ciaddr == _ZERO else 0
        message = Message(
            op=BOOTREQUEST,
            xid=self.xid,
            chaddr=settings.mac,
            htype=HTYPE_ETHERNET,
            hlen=len(settings.mac),
            secs=min(0xFFFF, int(max(0.0, now - self.started_at))),
            flags=flags,
            ciaddr=ciaddr,
        )
        message.set_option(Option.MESSAGE_TYPE, kind)
        if settings.client_id:
            message.set_option(Option.CLIENT_ID, settings.client_id)
        if settings.hostname:
            message.set_option(Option.HOST_NAME, settings.hostname)
        if settings.vendor_class:
            message.set_option(Option.VENDOR_CLASS_ID, settings.vendor_class)
        if kind != MessageType.DECLINE and kind != MessageType.RELEASE:
            message.set_option(Option.PARAMETER_REQUEST_LIST, bytes(settings.request_options))
            message.set_option(Option.MAX_MESSAGE_SIZE, max(576, settings.max_message_size))
        return message

    def _emit_send(self, message: Message, server: IPv4Address | None, out: list) -> None:
        if self.carrier:
            out.append(Send(message, server))

    # ---- helpers ----

    def _clock(self, now: float, wall: float | None) -> None:
        if wall is not None:
            self.wall_offset = wall - now

    def _initial_delay(self) -> float:
        return self.rng.uniform(0.0, self.schedule.initial_delay) if self.schedule.initial_delay > 0 else 0.0

    def _remembered_valid(self, now: float) -> bool:
        lease = self.remembered
        return lease is not None and (lease.expires_at is None or lease.expires_at > now)

    def _new_xid(self) -> int:
        return self.rng.getrandbits(32)

    def _arm(self, name: Deadline, deadline: float | None) -> None:
        if deadline is not None:
            self.deadlines[name] = deadline

    def _cancel(self, *names: Deadline) -> None:
        for name in names:
            self.deadlines.pop(name, None)

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values()) if self.deadlines else None

    def status(self) -> dict[str, Any]:
        lease = self.bound
        return {
            "state": self.state.value,
            "address": None if lease is None else str(lease.interface),
            "server": None if lease is None else str(lease.server_id),
            "verified": self.verified,
            "carrier": self.carrier,
            "deadlines": dict(self.deadlines),
        }

    # The transaction timers L{tick} runs, by name (the lease timers go
    # through L{_lease_timer}).
    _TRANSACTION_TIMERS: dict[Deadline, Callable[[ClientMachine, float, list[Action]], None]] = {
        D.START: _on_start,
        D.COLLECT: _on_collect,
        D.RESEND: _on_resend,
    }


def _server_id(message: Message) -> IPv4Address | None:
    try:
        return message.option(Option.SERVER_ID)
    except DecodeError:
        return None


def _lease_time(message: Message) -> int | None:
    try:
        return message.option(Option.LEASE_TIME)
    except DecodeError:
        return None


def _text(message: Message) -> str:
    # A server's text, for the log: no CR, LF or ESC to forge lines with.
    try:
        return printable(message.option(Option.MESSAGE) or "")
    except DecodeError:
        return ""


def _kind_name(kind: int | None) -> str:
    try:
        return MessageType(kind).name
    except ValueError:
        return f"type {kind}"
