# -*- test-case-name: tests.unit.test_history -*-
"""
Questions put to the history, answered from the records of one address (or
of one MAC): who held it at an instant, and the bindings as intervals.
Pure: records in, answers out. Records are in the order they happened.

A binding holds from its ack (inclusive) to the first of: its lease end as
last extended by a renew, or a release, expire, decline or revoke (both
exclusive), the same rule as L{dhcpsuite.leases.lease.Lease.holds}.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Iterable, Sequence

import attrs

from dhcpsuite.history.events import BINDING_EVENTS, ENDING_EVENTS, HistoryEvent, HistoryRecord
from dhcpsuite.history.times import TimeError, parse_time  # noqa: F401  (re-exported)


def binding_at(records: Iterable[HistoryRecord], at: float) -> HistoryRecord | None:
    """
    The ack or renew of the binding that held the address at C{at}: the
    last one at or before it, whose lease end is after it, with no ending
    event between them. C{records}: one address's, in order.
    """
    holder = None
    for record in records:
        if record.time > at:
            break
        if record.event in BINDING_EVENTS:
            holder = record
        elif record.event in ENDING_EVENTS:
            holder = None
    if holder is not None and (holder.lease_end is None or holder.lease_end > at):
        return holder
    return None


@attrs.frozen
class Interval:
    """
    One binding: C{start} (its ack) to C{end} (L{None}: an infinite lease
    never ended), with how it ended: an event's name, C{lease-end} (not
    renewed; possibly still to come) or C{replaced}.
    """

    address: IPv4Address
    mac: bytes
    client_id: bytes
    hostname: str
    start: float
    end: float | None
    ended_by: str
    first: HistoryRecord
    renewals: int = 0


def intervals(records: Iterable[HistoryRecord]) -> list[Interval]:
    """
    The bindings in C{records} (one address's, or one MAC's: grouped by
    address here), in order of their start.
    """
    by_address: dict[IPv4Address, list[HistoryRecord]] = {}
    for record in records:
        by_address.setdefault(record.address, []).append(record)
    result: list[Interval] = []
    for address_records in by_address.values():
        result.extend(_intervals_of_address(address_records))
    result.sort(key=lambda i: (i.start, int(i.address)))
    return result


def _intervals_of_address(records: Sequence[HistoryRecord]) -> list[Interval]:
    result: list[Interval] = []
    current: HistoryRecord | None = None
    last: HistoryRecord | None = None
    renewals = 0

    def close(at: float | None, how: str) -> None:
        assert current is not None and last is not None
        end = last.lease_end
        if at is not None and (end is None or at < end):
            end, ended_by = at, how
        else:
            ended_by = "lease-end"
        result.append(
            Interval(current.address, current.mac, current.client_id, last.hostname or current.hostname,
                     current.time, end, ended_by, current, renewals)
        )

    for record in records:
        lapsed = last is not None and last.lease_end is not None and last.lease_end <= record.time
        if record.event is HistoryEvent.RENEW and current is not None and not lapsed and record.mac == current.mac:
            last, renewals = record, renewals + 1
        elif record.event in BINDING_EVENTS:
            if current is not None:
                close(record.time, "replaced")
            current, last, renewals = record, record, 0
        elif record.event in ENDING_EVENTS and current is not None:
            close(record.time, record.event.value)
            current = last = None
    if current is not None:
        close(None, "")
    return result
