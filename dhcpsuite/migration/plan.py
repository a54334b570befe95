# -*- test-case-name: tests.unit.test_migration_plan -*-
"""
Which foreign leases become dhcpsuite bindings, and why the others do not.

Pure: the leases read from the old server's file, our server
configuration, what the store already holds and the time in; the bindings
to write and every skipped record with its reason out. A client keeps its
address after the switch only if our server would ACK its RENEW for it:
the address is in one of our pools (or reserved for that very client), no
reservation says otherwise, and nobody else holds it.
"""

from __future__ import annotations

import enum
from ipaddress import IPv4Address
from typing import Iterable

import attrs

from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease, LeaseState
from dhcpsuite.migration.leasefiles import LeaseFile
from dhcpsuite.migration.records import ForeignLease
from dhcpsuite.server.config import ServerConfig, SubnetConfig

# dhcpsuite's client identity without option 61: hardware type 1 (Ethernet)
# and the MAC, as the server computes it from a request.
_ETHERNET = b"\x01"
# Longest hostname kept (a DNS name), and the characters allowed in it:
# a value from the network is never stored as it came.
_HOSTNAME_LIMIT = 253


class SkipReason(enum.Enum):
    NOT_IPV4 = "not-ipv4"
    NOT_ACTIVE = "not-active"
    EXPIRED = "expired"
    NO_CLIENT_IDENTITY = "no-client-identity"
    OUTSIDE_SUBNETS = "outside-every-subnet"
    OUTSIDE_POOLS = "outside-every-pool"
    RESERVED_FOR_ANOTHER = "reserved-for-another-client"
    CLIENT_RESERVED_ELSEWHERE = "client-has-a-reservation-elsewhere"
    BOUND_TO_ANOTHER = "bound-to-another-client-in-store"
    CLIENT_HAS_LATER_LEASE = "client-has-a-later-lease"
    ALREADY_IN_STORE = "already-in-store"
    CLIENT_BOUND_ELSEWHERE = "client-bound-elsewhere-in-store"


@attrs.frozen
class Skipped:
    where: str
    address: str
    mac: str
    reason: SkipReason
    detail: str = ""


@attrs.frozen
class Imported:
    where: str
    lease: Lease
    subnet: str


@attrs.frozen
class ImportPlan:
    imported: tuple[Imported, ...]
    skipped: tuple[Skipped, ...]

    def counts(self) -> dict[str, int]:
        counts = {"imported": len(self.imported)}
        for s in self.skipped:
            counts[s.reason.value] = counts.get(s.reason.value, 0) + 1
        return counts


def client_key(lease: ForeignLease) -> bytes:
    return lease.client_id or (_ETHERNET + lease.mac if lease.mac else b"")


def clean_hostname(name: str) -> str:
    """
    Only the characters of a host name (letters, digits, C{-}, C{.}, C{_}).
    """
    kept = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "-._"))
    return kept[:_HOSTNAME_LIMIT]


def _subnet_of(config: ServerConfig, address: IPv4Address) -> SubnetConfig | None:
    return next((s for s in config.subnets if address in s.network), None)


def _reservation_of(subnet: SubnetConfig, lease: ForeignLease):
    for r in subnet.reservations:
        if lease.client_id and r.client_id == lease.client_id:
            return r
    return next((r for r in subnet.reservations if r.mac is not None and r.mac == lease.mac), None)


def plan_import(source: LeaseFile, config: ServerConfig, existing: ILeaseStore, now: float) -> ImportPlan:
    """
    @param existing: the store the bindings will go to; only read here
        (C{get}, C{find_by_client}).
    @param now: wall-clock seconds.
    """
    skipped = [Skipped(u.where, u.address, "", SkipReason.NOT_IPV4, u.reason) for u in source.unreadable]
    candidates: list[tuple[ForeignLease, SubnetConfig, float]] = []
    for lease in source.leases:
        reason, detail, subnet = _judge(lease, config, existing, now)
        if reason is not None:
            skipped.append(_skip(lease, reason, detail))
            continue
        assert subnet is not None
        # An infinite lease ends after the longest lease we give: the client
        # renews at T1 anyway, and our store has no "never".
        expires = lease.expires if lease.expires is not None else now + subnet.max_lease_time
        candidates.append((lease, subnet, expires))
    # One binding per client and subnet: the one that ends last is the one
    # the client is using (the old server moved it).
    latest: dict[tuple[str, bytes], float] = {}
    for lease, subnet, expires in candidates:
        slot = (subnet.name, client_key(lease))
        latest[slot] = max(latest.get(slot, expires), expires)
    imported = []
    taken: set[tuple[str, bytes]] = set()
    for lease, subnet, expires in candidates:
        slot = (subnet.name, client_key(lease))
        if expires < latest[slot] or slot in taken:
            skipped.append(_skip(lease, SkipReason.CLIENT_HAS_LATER_LEASE, "an address of the same client ends later"))
            continue
        taken.add(slot)
        bound = Lease(lease.address, LeaseState.BOUND, client_key(lease), lease.mac, expires, clean_hostname(lease.hostname), now)
        imported.append(Imported(lease.where, bound, subnet.name))
    return ImportPlan(tuple(imported), tuple(skipped))


def _skip(lease: ForeignLease, reason: SkipReason, detail: str) -> Skipped:
    return Skipped(lease.where, str(lease.address), lease.mac.hex(":"), reason, detail)


def _judge(
    lease: ForeignLease, config: ServerConfig, existing: ILeaseStore, now: float
) -> tuple[SkipReason | None, str, SubnetConfig | None]:
    if not lease.active:
        return SkipReason.NOT_ACTIVE, f"state {lease.state}", None
    if lease.expires is not None and lease.expires <= now:
        return SkipReason.EXPIRED, f"ended {int(now - lease.expires)} s ago", None
    key = client_key(lease)
    if not key:
        return SkipReason.NO_CLIENT_IDENTITY, "neither a hardware address nor a client id", None
    subnet = _subnet_of(config, lease.address)
    if subnet is None:
        return SkipReason.OUTSIDE_SUBNETS, "", None
    reserved = next((r for r in subnet.reservations if r.address == lease.address), None)
    mine = _reservation_of(subnet, lease)
    if reserved is not None and reserved is not mine:
        return SkipReason.RESERVED_FOR_ANOTHER, _reservation_name(reserved), subnet
    if mine is not None and mine.address is not None and mine.address != lease.address:
        return SkipReason.CLIENT_RESERVED_ELSEWHERE, f"reserved {mine.address}", subnet
    if mine is None and not any(lease.address in pool for pool in subnet.pools):
        return SkipReason.OUTSIDE_POOLS, f"subnet {subnet.name}", subnet
    held = existing.get(lease.address)
    if held is not None and held.holds(now):
        if held.client_key != key:
            return SkipReason.BOUND_TO_ANOTHER, f"held by {held.mac.hex(':')} until {int(held.expires)}", subnet
        if held.state is LeaseState.BOUND and (lease.expires is None or held.expires >= lease.expires):
            return SkipReason.ALREADY_IN_STORE, "", subnet
    # The client already has an address from us in this subnet: keep it, one binding per client.
    other = next(
        (l for l in existing.find_by_client(key) if l.address != lease.address and l.address in subnet.network and l.holds(now)), None
    )
    if other is not None:
        return SkipReason.CLIENT_BOUND_ELSEWHERE, f"holds {other.address}", subnet
    return None, "", subnet


def _reservation_name(r) -> str:
    if r.mac is not None:
        return f"reserved for {r.mac.hex(':')}"
    return f"reserved for client id {r.client_id.hex(':')}"


def describe(entries: Iterable[Skipped]) -> list[str]:
    return [f"{s.where}: {s.address} {s.mac}: skipped, {s.reason.value}" + (f" ({s.detail})" if s.detail else "") for s in entries]
