# -*- test-case-name: tests.unit.test_ingest_handlers -*-
"""
The v4 and v6 lease handlers (the roles of RDK-B's C{DhcpMgr_ProcessV4Lease}
and C{DhcpMgr_ProcessV6Lease}): decide whether a decoded message updates,
renews or deletes the interface's lease, record that in the lease registry
and, optionally, apply it through an L{IInterfaceConfigurator}.

Differences from RDK-B, on purpose:
  - change detection is per message (RDK-B's C{leaseChanged} is not reset
    between the leases of one batch);
  - an expired lease is cleared from the registry (RDK-B leaves the TR-181
    Info showing Bound until the client is stopped).
"""

from __future__ import annotations

import ipaddress

import attrs
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.ingest.checks import check_v4, check_v6
from dhcpsuite.ingest.pluginmsg import INFINITE_LIFETIME, Lease4, Lease6
from dhcpsuite.interfaces import IPluginMessageHandler
from dhcpsuite.leases.registry import CAUSE_EXPIRED, CAUSE_RENEWED, CAUSE_UPDATED, FAMILY_V4, FAMILY_V6

OUTCOME_UPDATED = "updated"
OUTCOME_RENEWED = "renewed"
OUTCOME_DELETED = "deleted"
OUTCOME_IGNORED = "ignored"   # nothing to do (e.g. an expiry with no current lease)
OUTCOME_STALE = "stale"       # a delete for a prefix that is no longer current

DEFAULT_MTU = 1500  # what RDK-B applies when the lease carries no MTU
DEFAULT_ROUTE_V4 = ipaddress.IPv4Network("0.0.0.0/0")

log = Logger()


def _lifetime(seconds: int) -> int | None:
    """
    RDK-B gives C{ip -6 addr add} C{forever} for 0 and for UINT32_MAX.
    """
    return None if seconds in (0, INFINITE_LIFETIME) else seconds


def _report(d, what: str, ifname: str) -> None:
    def failed(failure):
        log.failure("Applying the ingested lease to {ifname} failed: {what}", failure, ifname=ifname, what=what)

    if d is not None:
        d.addErrback(failed)


class _Handler:
    family: int
    record_type: type

    def __init__(self, registry, configurator=None, managed=None, max_unmanaged: int | None = None) -> None:
        """
        @param registry: the L{dhcpsuite.leases.registry.LeaseRegistry}.
        @param configurator: an L{IInterfaceConfigurator} to apply leases
            with, or L{None} to only record them. A lease to be applied is
            checked first (L{dhcpsuite.ingest.checks}); a refused one raises
            L{LeaseRefused} and is neither recorded nor applied.
        @param managed: the managed interfaces (L{None}: every interface is).
        @param max_unmanaged: how many interfaces outside C{managed} the
            registry may hold (a new one beyond raises L{RegistryFull}).
        """
        self.registry = registry
        self.configurator = configurator
        self._managed = None if managed is None else frozenset(managed)
        self._max_unmanaged = max_unmanaged

    def set_managed(self, managed=None, max_unmanaged: int | None = None) -> None:
        """
        A reload: as the constructor's C{managed} and C{max_unmanaged}.
        """
        self._managed = None if managed is None else frozenset(managed)
        self._max_unmanaged = max_unmanaged

    def _set(self, ifname: str, record, cause: str) -> None:
        managed = self._managed
        limit = None if managed is None or ifname in managed else self._max_unmanaged
        self.registry.set_lease(ifname, self.family, record, cause, limit=limit)

    def _current(self, ifname: str):
        # Another writer (our own DHCP client) may hold a different record
        # type for the interface; then there is no ingested lease to compare.
        record = self.registry.lease(ifname, self.family)
        return record if isinstance(record, self.record_type) else None


@implementer(IPluginMessageHandler)
class V4LeaseHandler(_Handler):
    """
    new or changed valid lease -> update; unchanged valid -> renew;
    expired -> delete. "Changed" compares what RDK-B compares (assigned,
    expired, address, netmask, routers, DNS).
    """

    family = FAMILY_V4
    record_type = Lease4

    def handle_message(self, lease: Lease4) -> str:
        ifname = lease.ifname
        current = self._current(ifname)
        if lease.expired:
            if current is None:
                # Nothing ingested to delete (another writer's record is not ours to clear).
                return OUTCOME_IGNORED
            self.registry.clear_lease(ifname, FAMILY_V4, CAUSE_EXPIRED)
            self._unapply(current)
            return OUTCOME_DELETED
        if not lease.address_assigned or lease.address is None:
            return OUTCOME_IGNORED
        if self.configurator is not None:
            check_v4(lease)
        # The very record already current (a repeated message: see
        # RepeatDecoder) is unchanged without building the keys.
        if current is not None and (current is lease or current.lease_key() == lease.lease_key()):
            self._set(ifname, lease, CAUSE_RENEWED)
            return OUTCOME_RENEWED
        self._set(ifname, lease, CAUSE_UPDATED)
        self._apply(current, lease)
        return OUTCOME_UPDATED

    def _apply(self, old: Lease4 | None, new: Lease4) -> None:
        configurator = self.configurator
        if configurator is None:
            return
        ifname = new.ifname
        if old is not None and (old.interface != new.interface or old.routers != new.routers):
            self._unapply(old, keep_address=old.interface == new.interface)
        interface = new.interface
        if interface is not None:
            _report(configurator.add_address(ifname, interface, broadcast=new.broadcast), "add_address", ifname)
        _report(configurator.set_mtu(ifname, new.mtu or DEFAULT_MTU), "set_mtu", ifname)
        for metric, router in enumerate(new.routers):
            _report(configurator.add_route(DEFAULT_ROUTE_V4, gateway=router, ifname=ifname, metric=metric),
                    "add_route", ifname)

    def _unapply(self, old: Lease4, keep_address: bool = False) -> None:
        configurator = self.configurator
        if configurator is None:
            return
        ifname = old.ifname
        for metric, router in enumerate(old.routers):
            _report(configurator.remove_route(DEFAULT_ROUTE_V4, gateway=router, ifname=ifname, metric=metric),
                    "remove_route", ifname)
        if not keep_address and old.interface is not None:
            _report(configurator.remove_address(ifname, old.interface), "remove_address", ifname)


@implementer(IPluginMessageHandler)
class V6LeaseHandler(_Handler):
    """
    As RDK-B: an expired message after a valid lease deletes it, unless both
    carry a prefix and the prefixes differ (a stale delete, ignored); a
    valid message lacking IA_NA keeps the current IA_NA, one lacking IA_PD
    keeps the current IA_PD with its MAP-T/MAP-E; then "changed" compares
    everything but lifetimes and T1/T2.
    """

    family = FAMILY_V6
    record_type = Lease6

    def handle_message(self, lease: Lease6) -> str:
        ifname = lease.ifname
        current = self._current(ifname)
        if lease.expired:
            if current is None:
                # Nothing ingested to delete (another writer's record is not ours to clear).
                return OUTCOME_IGNORED
            if current.ia_pd is not None and lease.ia_pd is not None and current.ia_pd.prefix != lease.ia_pd.prefix:
                return OUTCOME_STALE
            self.registry.clear_lease(ifname, FAMILY_V6, CAUSE_EXPIRED)
            self._unapply(current)
            return OUTCOME_DELETED
        merged = merge_v6(current, lease)
        if self.configurator is not None:
            check_v6(merged)
        if current is not None and (current is merged or current.lease_key() == merged.lease_key()):
            if merged.ia_na is None and merged.ia_pd is None:
                return OUTCOME_IGNORED
            self._set(ifname, merged, CAUSE_RENEWED)
            return OUTCOME_RENEWED
        self._set(ifname, merged, CAUSE_UPDATED)
        self._apply(current, merged)
        return OUTCOME_UPDATED

    def _apply(self, old: Lease6 | None, new: Lease6) -> None:
        configurator = self.configurator
        if configurator is None or new.ia_na is None:
            return
        ifname = new.ifname
        if old is not None and old.ia_na is not None and old.ia_na.address != new.ia_na.address:
            self._unapply(old)
        na = new.ia_na
        _report(configurator.add_address(
            ifname, ipaddress.IPv6Interface((na.address, 128)),
            valid_lifetime=_lifetime(na.valid_lifetime), preferred_lifetime=_lifetime(na.preferred_lifetime),
        ), "add_address", ifname)

    def _unapply(self, old: Lease6) -> None:
        if self.configurator is None or old.ia_na is None:
            return
        _report(self.configurator.remove_address(old.ifname, ipaddress.IPv6Interface((old.ia_na.address, 128))),
                "remove_address", old.ifname)


def merge_v6(current: Lease6 | None, new: Lease6) -> Lease6:
    """
    RDK-B's v6 merge: a valid update lacking IA_NA keeps the current IA_NA;
    one lacking IA_PD keeps the current IA_PD and its MAP-T/MAP-E.
    """
    if current is None:
        return new
    changes = {}
    if new.ia_na is None and current.ia_na is not None:
        changes["ia_na"] = current.ia_na
    if new.ia_pd is None and current.ia_pd is not None:
        changes.update(ia_pd=current.ia_pd, mapt=current.mapt, mape=current.mape)
    return attrs.evolve(new, **changes) if changes else new
