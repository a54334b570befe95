# -*- test-case-name: tests.unit.test_server_outcomes -*-
"""
The names the server counts under: what it decided about a request
(L{OutcomeEvent}) and why it dropped one (L{DropReason}).

Both are L{StrEnum}s, so a member is its metric label: C{/metrics} and the
counters keep the text values below, and a type checker (or a reader) can
follow every place one is produced.
"""

from __future__ import annotations

from enum import StrEnum


class OutcomeEvent(StrEnum):
    """
    What the server did with a request: the C{result} label of
    C{dhcpsuite_server_exchanges}, and C{drop} for
    C{dhcpsuite_server_packets_dropped}.
    """

    OFFER = "offer"
    ACK = "ack"
    NAK = "nak"
    RELEASE = "release"
    DECLINE = "decline"
    INFORM = "inform"
    # Correct not to answer (the request was for another server, ...).
    IGNORE = "ignore"
    # An unusable request, or one that could not be answered.
    DROP = "drop"


# The events counted as exchanges (everything but a drop).
EXCHANGE_EVENTS = frozenset(event for event in OutcomeEvent if event is not OutcomeEvent.DROP)


class DropReason(StrEnum):
    """
    The server's own reasons for dropping a packet (the C{reason} label of
    C{dhcpsuite_server_packets_dropped}). The codec's L{DecodeError} reasons,
    the allocation engine's refusals and C{unexpected-<type>} are counted
    under the same label with their own text.
    """

    # Decided by ServerCore.
    NOT_A_REQUEST = "not-a-request"
    NO_MESSAGE_TYPE = "no-message-type"
    NO_CLIENT_IDENTITY = "no-client-identity"
    RATE_LIMITED_RELAY = "rate-limited-relay"
    RATE_LIMITED_CLIENT = "rate-limited-client"
    NO_SUBNET = "no-subnet"
    INTERFACE_NOT_READY = "interface-not-ready"
    REQUEST_WITHOUT_ADDRESS = "request-without-address"
    DECLINE_WITHOUT_ADDRESS = "decline-without-address"
    # Decided by the UDP shell (ServerProtocol).
    BAD_OPTION = "bad-option"
    INTERNAL_ERROR = "internal-error"
    REPLY_TOO_LARGE = "reply-too-large"
    COMMIT_FAILED = "commit-failed"
    COMMIT_CONFLICT_LOST = "commit-conflict-lost"
    COMMIT_BACKLOG = "commit-backlog"
    QUEUE_WAIT = "queue-wait"


def counter_key(event: OutcomeEvent, reason: str = "") -> str:
    """
    The counter an outcome is counted under: C{event} or C{event:reason}
    (C{drop:no-subnet}, C{nak:address-not-offered-to-client}).
    """
    return f"{event}:{reason}" if reason else str(event)


def drop_key(reason: str) -> str:
    """
    The counter of a dropped packet: C{drop:<reason>}.
    """
    return counter_key(OutcomeEvent.DROP, reason)
