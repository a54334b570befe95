# -*- test-case-name: tests.unit.test_history -*-
"""
What the history records: one L{HistoryRecord} per change of a binding,
derived from the lease store's change (old lease, new lease) and the request
being decided when it happened. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from ipaddress import IPv4Address
from typing import Any

import attrs

from dhcpsuite.dhcp4.constants import Option, RelayAgentSubOption
from dhcpsuite.dhcp4.errors import DecodeError
from dhcpsuite.dhcp4.options import decode_relay_agent_info
from dhcpsuite.leases.lease import Lease, LeaseState

_ZERO = IPv4Address(0)
_OPT_CLIENT_ID = int(Option.CLIENT_ID)
_OPT_RELAY = int(Option.RELAY_AGENT_INFO)
_CIRCUIT_ID = int(RelayAgentSubOption.CIRCUIT_ID)
_REMOTE_ID = int(RelayAgentSubOption.REMOTE_ID)


class HistoryEvent(enum.Enum):
    OFFER = "offer"
    # A new binding: the address was not this client's a moment before.
    ACK = "ack"
    # The same client's binding of the same address extended.
    RENEW = "renew"
    RELEASE = "release"
    EXPIRE = "expire"
    DECLINE = "decline"
    # Deleted by the operator (or by an import over it).
    REVOKE = "revoke"


# Events that start or extend a binding, and those that end one early.
BINDING_EVENTS = frozenset((HistoryEvent.ACK, HistoryEvent.RENEW))
ENDING_EVENTS = frozenset((HistoryEvent.RELEASE, HistoryEvent.EXPIRE, HistoryEvent.DECLINE, HistoryEvent.REVOKE))


# Not frozen: a frozen attrs class costs ~3 us more per instance, and one is
# made for every change on the reactor. Neither is changed once made.
@attrs.define
class RequestContext:
    """
    What the request being decided says about where it came from: its relay
    (giaddr), option 82's circuit-id and remote-id, option 61, and the server
    identifier of the subnet it was decided in. Taken as sent: the history
    keeps bytes, the views escape them.
    """

    giaddr: IPv4Address | None = None
    circuit_id: bytes = b""
    remote_id: bytes = b""
    client_id: bytes = b""
    server_id: IPv4Address | None = None


def request_context(message: Any, server_id: IPv4Address | None) -> RequestContext:
    """
    The context of a decoded request (L{dhcpsuite.dhcp4.packet.Message}).
    A malformed option 82 is recorded as absent: the decision already
    dropped such a request before it could change a lease.
    """
    options = message.options
    circuit = remote = b""
    relay = options.get(_OPT_RELAY)
    if relay:
        try:
            for code, value in decode_relay_agent_info(relay):
                if code == _CIRCUIT_ID:
                    circuit = value
                elif code == _REMOTE_ID:
                    remote = value
        except DecodeError:
            pass
    return RequestContext(
        giaddr=None if message.giaddr == _ZERO else message.giaddr,
        circuit_id=circuit,
        remote_id=remote,
        client_id=options.get(_OPT_CLIENT_ID) or b"",
        server_id=server_id,
    )


@attrs.define
class HistoryRecord:
    """
    @ivar time: wall-clock seconds since the epoch of the change.
    @ivar lease_end: when the binding ends unless renewed (ack, renew,
        offer); L{None} for an infinite lease and for the events that end one.
    @ivar server: the configured server name.
    """

    time: float
    address: IPv4Address
    event: HistoryEvent
    mac: bytes
    client_id: bytes = b""
    hostname: str = ""
    giaddr: IPv4Address | None = None
    circuit_id: bytes = b""
    remote_id: bytes = b""
    lease_end: float | None = None
    server: str = ""
    server_id: IPv4Address | None = None


def derive(
    old: Lease | None,
    new: Lease | None,
    now: float,
    request: RequestContext | None = None,
    server: str = "",
    offers: bool = False,
) -> HistoryRecord | None:
    """
    The history record of one change to the lease store, or L{None} when it
    changes no binding (a lapsed offer, a probation ending, a rewrite).
    """
    event = event_of(old, new, now, offers)
    return None if event is None else record_of(event, old, new, now, request, server)


def record_of(
    event: HistoryEvent, old: Lease | None, new: Lease | None, now: float, request: RequestContext | None, server: str
) -> HistoryRecord:
    """
    The record of a change already known to be C{event} (L{event_of}).
    """
    lease = new if event in BINDING_EVENTS or event is HistoryEvent.OFFER or event is HistoryEvent.DECLINE else old
    assert lease is not None
    if request is None:
        request = _NO_REQUEST
    client_id = request.client_id or _client_id_of(lease if lease.client_key else (old or lease))
    hostname = lease.hostname or (old.hostname if old is not None else "")
    lease_end = None
    if event in _ENDS_KNOWN:
        lease_end = None if lease.expires == _INFINITY else lease.expires
    # Positional: this runs on the reactor for every binding change.
    return HistoryRecord(
        now, lease.address, event, lease.mac, client_id, hostname, request.giaddr, request.circuit_id,
        request.remote_id, lease_end, server, request.server_id,
    )


_NO_REQUEST = RequestContext()
_ENDS_KNOWN = BINDING_EVENTS | {HistoryEvent.OFFER}
_INFINITY = float("inf")


def event_of(old: Lease | None, new: Lease | None, now: float, offers: bool = False) -> HistoryEvent | None:
    """
    Which event a change of the lease store is, if any. A BOUND lease is a
    renewal when the same client already held the same address (and its
    binding had not lapsed), else a new binding.
    """
    was_bound = old is not None and old.state is LeaseState.BOUND
    if new is None:
        return HistoryEvent.REVOKE if was_bound and old.holds(now) else None
    state = new.state
    if state is LeaseState.BOUND:
        if was_bound and old.client_key == new.client_key and old.holds(now):
            return HistoryEvent.RENEW
        return HistoryEvent.ACK
    if state is LeaseState.OFFERED:
        return HistoryEvent.OFFER if offers and not (old is not None and old.state is LeaseState.OFFERED) else None
    if not was_bound:
        # An offer lapsing or a probation ending: no binding changed.
        return None
    if state is LeaseState.RELEASED:
        return HistoryEvent.RELEASE
    if state is LeaseState.DECLINED:
        return HistoryEvent.DECLINE
    if state is LeaseState.EXPIRED:
        return HistoryEvent.EXPIRE
    return None


def _client_id_of(lease: Lease) -> bytes:
    """
    Option 61 as the lease keeps it: its client key, unless that is only
    the hardware type and address (the client sent none).
    """
    key = lease.client_key
    return b"" if key[1:] == lease.mac else key
